"""Command line: learning curves of one or more runs (eval return, critic loss, mean Q).

    python -m ddpg_jax.plot RUN_DIR [RUN_DIR ...] --out curves.png [--labels a,b] [--x time]

Reads each run's `metrics.csv` (see `ddpg_jax.metrics_log`) and draws three panels against env
steps per seed (or, with `--x time`, the training process's wall-clock time): the line is the
mean over the run's seeds, the band mean ± std. One line per run, labelled by its config.yaml
`variant` if it has one, else by the run dir's name. The figure is drawn on its own Agg canvas
(no display needed), so the caller's matplotlib backend, e.g. a notebook's inline one, is left
alone. Bad input prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from typing import Any

import numpy as np

from ddpg_jax.cli import Parser, UsageError
from ddpg_jax.cli import run as run_cli

PANELS = (
    ("eval_return", "eval return (noise-free)"),
    ("critic_loss", "critic loss"),
    ("q_mean", "mean Q"),
)
FORMATS = (".png", ".pdf", ".svg")
X_AXES = ("steps", "time")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m ddpg_jax.plot",
        description="Plot eval return, critic loss and mean Q against env steps (mean ± std "
        "over seeds), one line per run.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories")
    parser.add_argument(
        "--out", required=True, metavar="FILE.png", help="output image (.png, .pdf or .svg)"
    )
    parser.add_argument("--labels", help="comma-separated legend labels, one per run dir")
    parser.add_argument("--title", help="figure title (default: the runs' env names)")
    parser.add_argument("--log-loss", action="store_true", help="log scale for the critic loss")
    parser.add_argument(
        "--x",
        choices=X_AXES,
        default="steps",
        help="x axis: env steps per seed, or wall-clock time of training (default: steps)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    out = pathlib.Path(args.out)
    if out.suffix.lower() not in FORMATS:
        raise UsageError(f"--out={args.out}: the file name must end in {', '.join(FORMATS)}")
    if not out.parent.is_dir():
        raise UsageError(f"--out={args.out}: folder {out.parent} does not exist")
    labels = None
    if args.labels is not None:
        labels = [s.strip() for s in args.labels.split(",")]
        if len(labels) != len(args.run_dirs):
            raise UsageError(
                f"--labels has {len(labels)} label(s) for {len(args.run_dirs)} run dir(s)"
            )
    runs = [load_run(d) for d in args.run_dirs]
    if labels:
        runs = [{**r, "label": lab} for r, lab in zip(runs, labels, strict=True)]
    plot_runs(runs, out, title=args.title, log_loss=args.log_loss, x=args.x)
    print(f"wrote {out}", file=sys.stderr)
    return 0


def load_run(path: str) -> dict[str, Any]:
    """`{"label", "env", "curves": {metric: (steps, mean, std, num_seeds)}, "clock": (steps,
    wall seconds)}` of one run dir (the clock maps env steps to training wall time)."""
    from ddpg_jax import run_dir
    from ddpg_jax.metrics_log import read_metrics

    rd, _, extra = run_dir.read_for_cli(path)
    metrics = read_metrics(rd)
    if not metrics or metrics["env_step"].size == 0:
        raise UsageError(
            f"{rd.root} has no metrics yet ({rd.metrics_path.name} is missing or "
            "empty); train writes a row after its first chunk"
        )
    curves = {name: seed_curve(metrics, name) for name, _ in PANELS if name in metrics}
    steps = np.unique(metrics["env_step"])
    wall = metrics.get("wall_time", np.full(metrics["env_step"].shape, np.nan))
    clock = np.array([np.nanmax(wall[metrics["env_step"] == s], initial=np.nan) for s in steps])
    return {
        "label": run_dir.label(rd, extra),
        "env": extra.get("env"),
        "curves": curves,
        "clock": (steps, clock),
    }


def wall_clock(run: dict[str, Any], steps: np.ndarray) -> np.ndarray:
    """Training wall time (s) at each of `steps`, from the run's metrics.csv rows."""
    known_steps, seconds = run["clock"]
    return np.interp(steps, known_steps, seconds)


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds > 3 * 3600:
        return 3600.0, "h"
    return (60.0, "min") if seconds > 180 else (1.0, "s")


def seed_curve(metrics: dict[str, np.ndarray], name: str):
    """(steps, mean, std, seeds) of `name` over the rows where it is finite, per env step."""
    values, steps = metrics[name], metrics["env_step"]
    finite = np.isfinite(values)
    values, steps = values[finite], steps[finite]
    unique = np.unique(steps)
    means = np.array([values[steps == s].mean() for s in unique])
    stds = np.array([values[steps == s].std() for s in unique])
    counts = np.array([np.sum(steps == s) for s in unique])
    return unique, means, stds, counts


def plot_runs(
    runs: list[dict[str, Any]],
    out: pathlib.Path,
    title: str | None = None,
    log_loss: bool = False,
    x: str = "steps",
) -> None:
    """Write the three panels of `runs` (from `load_run`) to `out`, against env steps per seed
    or (`x="time"`) wall-clock time. Touches no global matplotlib state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    if x not in X_AXES:
        raise ValueError(f"x must be one of {X_AXES}, got {x!r}")
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(PANELS))
    colors = matplotlib_colors()
    scale, unit = 1.0, ""
    if x == "time":
        longest = max((float(np.nanmax(r["clock"][1], initial=0.0)) for r in runs), default=0.0)
        scale, unit = _time_unit(longest)
    for ax, (name, ylabel) in zip(axes, PANELS, strict=True):
        drawn = False
        for i, run in enumerate(runs):
            curve = run["curves"].get(name)
            if curve is None or curve[0].size == 0:
                continue
            steps, mean, std, counts = curve
            xs = steps if x == "steps" else wall_clock(run, steps) / scale
            color = colors[i % len(colors)]
            seeds = int(counts.max())
            ax.plot(
                xs,
                mean,
                color=color,
                lw=1.6,
                marker="o" if steps.size < 3 else None,
                ms=3,
                label=f"{run['label']} ({seeds} seed{'s' if seeds > 1 else ''})",
            )
            ax.fill_between(xs, mean - std, mean + std, color=color, alpha=0.2, lw=0)
            drawn = True
        if not drawn:
            ax.text(
                0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="gray"
            )
        elif name == "critic_loss" and log_loss:
            ax.set_yscale("log")
        ax.set_title(ylabel, fontsize=10)
        if x == "steps":
            ax.set_xlabel("env steps per seed", fontsize=9)
            ax.xaxis.set_major_formatter(EngFormatter(sep=""))
        else:
            ax.set_xlabel(f"wall-clock time of training ({unit})", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, lw=0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    if not handles:
        for ax in axes[1:]:
            handles, labels = ax.get_legend_handles_labels()
            if handles:
                break
    if len(handles) == 1:
        axes[0].legend(handles, labels, fontsize=8, frameon=False, loc="best")
    elif handles:  # several variants' labels would hide the curves inside a panel
        fig.legend(handles, labels, fontsize=8, frameon=False, loc="outside lower center", ncols=2)
    envs_seen = sorted({str(r["env"]) for r in runs if r.get("env")})
    fig.suptitle(title or f"{', '.join(envs_seen)}: mean ± std over seeds", fontsize=11)
    try:
        fig.savefig(out, dpi=120)
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None


def plot_task_panels(
    panels: list[tuple[str, list[dict[str, Any]]]], out: pathlib.Path, columns: int = 3
) -> None:
    """One small panel per task: eval return against training wall-clock (minutes), one thin
    line per run (from `load_run`; a run of several seeds is drawn as its mean). Sized to stay
    readable when shown at about 800 pixels wide (a README)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = -(-len(panels) // columns)
    fig = Figure(figsize=(9, 2.6 * rows), layout="constrained")
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(rows, columns)).ravel()
    color = matplotlib_colors()[0]
    for ax, (title, runs) in zip(axes, panels, strict=False):
        for run in runs:
            steps, mean, _, _ = run["curves"]["eval_return"]
            minutes = wall_clock(run, steps) / 60.0
            ax.plot(minutes, mean, color=color, lw=1.2, alpha=0.75, marker=".", ms=3)
        seeds = sum(int(run["curves"]["eval_return"][3].max()) for run in runs)
        mean = "" if seeds == len(runs) else ", mean"  # one run of several seeds: its mean
        ax.set_title(f"{title} ({seeds} seeds{mean})", fontsize=9 if len(title) < 20 else 8)
        ax.set_xlabel("training wall-clock (min)", fontsize=9)
        ax.set_ylabel("eval return", fontsize=9)
        ax.set_xlim(left=0)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3, lw=0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    try:
        fig.savefig(out, dpi=110, metadata={"Software": None})
    except OSError as e:
        raise UsageError(f"cannot write {out}: {e.strerror or e}") from None


def matplotlib_colors() -> list[str]:
    """The default colour cycle (read, not changed)."""
    import matplotlib

    return matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]


if __name__ == "__main__":
    sys.exit(main())
