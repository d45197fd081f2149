"""Return against wall-clock for the peers and ddpg-jax, one panel per task, and the table the
plot is built from. Reads only recorded data: the peers' scored CSVs and our exported run
records; a task or library with no records is said to have none, never filled in.

    python benchmarks/peers/compare.py [--scores DIR] [--ours RUN_OR_FOLDER ...]
        [--budget 27] [--plot FILE.png]

Run with the project's venv. `--scores`: the per-run CSVs of score.py (default
benchmarks/peers/scores). `--ours`: run dirs or folders of them (default: run_all.sh's exports
under benchmarks/peers/ours/, else every results/runs/preset-<task>, the `cpu:` preset's
exported runs); a second run of the same task and seed is skipped. Each contributes
its `metrics.csv`: the training loop's noise-free eval returns (10 episodes at its
`eval_every`) at its wall-clock, which starts before init and compile like the peers' clock.

Per task and peer (seeds pooled by env step: mean return, slowest seed's clock):
- peer @budget: mean ± std over seeds of each seed's last snapshot within the budget;
- ours: when our mean eval return first reached it (an eval point, so an upper bound, at the
  resolution of `eval_every`), its env steps, and the ratio ours / peer's time (goal <= 1/3);
- ours @budget: mean and lowest seed of our last eval within the budget (goal: mean above the
  best peer's, no seed below it);
- env steps/s while learning: from the first snapshot (50k, after every peer's warm-up) or our
  first log after the warm-up, to the last one within the budget; mean over seeds.
The "per env step" column compares env steps: ours needing more env steps than the peer took in
its budget points at learning per env step; fewer, at the cost per env step.
"""

from __future__ import annotations

import argparse
import csv
import math
import pathlib
import sys
from collections import defaultdict

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import common  # noqa: E402

OURS = "ddpg-jax"
BUDGET_SLACK = 1.02
"""A peer's last snapshot is taken at the first env step past the budget: within 2% counts."""


class Curve:
    """One seed's (minutes, env steps, return) points and its learning env steps/s."""

    def __init__(self, points: list[tuple[float, int, float]], learn_rate: float):
        self.points = sorted(points, key=lambda p: p[1])
        self.learn_rate = learn_rate

    def within(self, minutes: float) -> list[tuple[float, int, float]]:
        return [p for p in self.points if p[0] <= minutes]


def _rate(points: list[tuple[float, int]]) -> float:
    """Env steps/s between the first and last (minutes, env steps) point."""
    if len(points) < 2 or points[-1][0] <= points[0][0]:
        return math.nan
    return (points[-1][1] - points[0][1]) / (60 * (points[-1][0] - points[0][0]))


def read_peers(scores: pathlib.Path, budget: float) -> dict[tuple[str, str], list[Curve]]:
    """(library, task) -> one Curve per seed, from score.py's CSVs."""
    runs: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for path in sorted(scores.glob("*/*.csv")):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                runs[row["library"], row["task"], row["seed"]].append(row)
    curves: dict[tuple[str, str], list[Curve]] = defaultdict(list)
    for (library, task, _), rows in sorted(runs.items()):
        points = [(float(r["minutes"]), int(r["env_steps"]), float(r["return_mean"])) for r in rows]
        timed = sorted((m, s) for m, s, _ in points if m <= budget * BUDGET_SLACK)
        curves[library, task].append(Curve(points, _rate(timed)))
    return curves


def our_run_dirs(paths: list[str]) -> list[pathlib.Path]:
    found = []
    for path in map(pathlib.Path, paths):
        if (path / "config.yaml").is_file():
            found.append(path)
        elif path.is_dir():
            found.extend(sorted(p.parent for p in path.glob("*/config.yaml")))
    return found


def read_ours(paths: list[pathlib.Path], budget: float) -> dict[tuple[str, str], list[Curve]]:
    """(OURS, task) -> one Curve per run dir (its seeds' mean eval return per eval point)."""
    import yaml

    curves: dict[tuple[str, str], list[Curve]] = defaultdict(list)
    seen: dict[tuple[str, object], pathlib.Path] = {}
    for path in paths:
        cfg = yaml.safe_load((path / "config.yaml").read_text())
        key = (cfg["env"], (cfg.get("run") or {}).get("seed"))
        if key in seen:  # a rerun of a seed (e.g. under load) is not another seed
            print(f"skipped {path}: {key[0]} seed {key[1]} is already {seen[key]}")
            continue
        seen[key] = path
        print(f"ddpg-jax: {path}")
        with open(path / "metrics.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        wall, by_step, logged = 0.0, defaultdict(list), {}
        offset, previous = 0.0, -math.inf
        for r in rows:  # a clock that restarted at a resume continues from the row before it
            w = float(r["wall_time"])
            if w < previous:
                offset += previous
            previous, wall = w, w + offset
            step = int(r["env_step"])
            logged[step] = max(logged.get(step, 0.0), wall)
            if r.get("eval_return"):
                by_step[step].append(float(r["eval_return"]))
        points = [(logged[s] / 60, s, float(np.mean(v))) for s, v in sorted(by_step.items())]
        warmup = int(cfg.get("config", {}).get("warmup_steps", 0))
        learning = sorted((w / 60, s) for s, w in logged.items() if s > warmup and w / 60 <= budget)
        curves[OURS, cfg["env"]].append(Curve(points, _rate(learning)))
    return curves


def pooled(curves: list[Curve], budget: float | None = None) -> list[tuple[float, int, float]]:
    """(slowest seed's minutes, env steps, mean return) at the env steps every seed has."""
    limit = math.inf if budget is None else budget * BUDGET_SLACK
    common_steps = set.intersection(*({p[1] for p in c.points if p[0] <= limit} for c in curves))
    out = []
    for step in sorted(common_steps):
        at = [next(p for p in c.points if p[1] == step) for c in curves]
        out.append((max(p[0] for p in at), step, float(np.mean([p[2] for p in at]))))
    return out


def at_budget(curves: list[Curve], budget: float) -> list[tuple[float, int, float]]:
    """Each seed's last point within the budget (None-free: seeds without one are left out)."""
    lasts = [c.within(budget * BUDGET_SLACK) for c in curves]
    return [pts[-1] for pts in lasts if pts]


def _mean(values: list[float]) -> float:
    """Mean of the finite values; NaN when there are none."""
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def _steps(n: float) -> str:
    """Env steps as 1.35M, 350k or 300."""
    if not math.isfinite(n):
        return "n/a"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e4 else f"{n:.0f}"


def _fmt(x: float, spec: str = ".0f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def table(data: dict[tuple[str, str], list[Curve]], budget: float) -> str:
    tasks = [t for t in common.GYM_IDS if any(k[1] == t for k in data)]
    header = (
        f"| task | peer (seeds) | peer @{budget:g} min | ours reaches it at | ratio | "
        f"per env step | ours @{budget:g} min (lowest seed) | goal | env steps/s learning "
        f"(peer / ours) |"
    )
    lines = [header, "|" + "---|" * (header.count("|") - 1)]
    for task in tasks:
        ours = data.get((OURS, task), [])
        ours_curve = pooled(ours, budget) if ours else []
        ours_end = at_budget(ours, budget) if ours else []
        ours_rate = _mean([c.learn_rate for c in ours])
        peers = [k[0] for k in data if k[1] == task and k[0] != OURS]
        if not peers:
            lines.append(f"| {task} | no peer data | | | | | | | |")
            continue
        best_lib = _best(data, task, budget)
        for lib in sorted(peers):
            seeds = data[lib, task]
            ends = at_budget(seeds, budget)
            returns = [p[2] for p in ends]
            target = float(np.mean(returns)) if returns else math.nan
            peer_min = float(np.mean([p[0] for p in ends])) if ends else math.nan
            peer_steps = float(np.mean([p[1] for p in ends])) if ends else math.nan
            peer_rate = _mean([c.learn_rate for c in seeds])
            reached = next((p for p in ours_curve if p[2] >= target), None)
            if not ours:
                when, ratio, per_step, ours_cell, goal = "no ddpg-jax data", "", "", "", ""
            else:
                ours_cell = (
                    f"{np.mean([p[2] for p in ours_end]):.0f} "
                    f"({min(p[2] for p in ours_end):.0f}), {len(ours_end)} seeds"
                    if ours_end
                    else "n/a"
                )
                if reached is None:
                    top = max((p[2] for p in ours_curve), default=math.nan)
                    when, ratio = f"not within {budget:g} min (best {_fmt(top)})", "n/a"
                    per_step = "n/a"
                else:
                    when = f"{reached[0]:.1f} min, {_steps(reached[1])} steps"
                    ratio = f"{reached[0] / peer_min:.2f}"
                    per_step = (
                        "ours needs more env steps"
                        if reached[1] > peer_steps
                        else "ours needs fewer env steps"
                    )
                if lib != best_lib:
                    goal = "(not the best peer)"
                else:
                    fast = reached is not None and reached[0] <= peer_min / 3
                    ours_min = min((p[2] for p in ours_end), default=-math.inf)
                    above = bool(ours_end) and np.mean([p[2] for p in ours_end]) > target
                    goal = "met" if fast and above and ours_min >= target else "not met"
            lines.append(
                f"| {task} | {lib} ({len(seeds)}) | {_fmt(target)} ± "
                f"{_fmt(float(np.std(returns)) if returns else math.nan)} at "
                f"{_fmt(peer_min, '.1f')} min, {_steps(peer_steps)} steps | {when} | "
                f"{ratio} | {per_step} | {ours_cell} | {goal} | "
                f"{_fmt(peer_rate)} / {_fmt(ours_rate)} |"
            )
    return "\n".join(lines)


def _best(data: dict, task: str, budget: float) -> str | None:
    """The peer with the highest mean return at the budget on `task`."""
    scores = {
        lib: np.mean([p[2] for p in at_budget(c, budget)] or [-math.inf])
        for (lib, t), c in data.items()
        if t == task and lib != OURS
    }
    return max(scores, key=scores.get) if scores else None


def plot(data: dict[tuple[str, str], list[Curve]], budget: float, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in common.GYM_IDS if any(k[1] == t for k in data)]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.5 * len(tasks), 3.6), squeeze=False)
    libraries = [OURS, *common.LIBRARIES]
    colors = dict(zip(libraries, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
    for ax, task in zip(axes[0], tasks, strict=True):
        for lib in libraries:
            seeds = data.get((lib, task))
            if not seeds:
                continue
            for c in seeds:
                m, _, r = zip(*c.points, strict=True)
                ax.plot(m, r, color=colors[lib], alpha=0.25, lw=0.8)
            mean = pooled(seeds)
            if mean:
                m, _, r = zip(*mean, strict=True)
                ax.plot(m, r, color=colors[lib], lw=2, label=f"{lib} ({len(seeds)})")
        ax.axvline(budget, color="grey", ls=":", lw=1)
        ax.set_title(common.GYM_IDS[task])
        ax.set_xlabel("wall-clock (minutes)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("return (noise-free)")
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scores", default=str(HERE / "scores"))
    p.add_argument("--ours", nargs="*", default=None, help="run dirs or folders of run dirs")
    p.add_argument("--budget", type=float, default=common.DEFAULT_MINUTES, help="minutes")
    p.add_argument("--plot", default=str(HERE / "scores" / "return_vs_wallclock.png"))
    args = p.parse_args(argv)
    ours_paths = args.ours
    if ours_paths is None:  # run_all.sh's own runs of ours if there are any, else the presets'
        mine = sorted(str(q) for q in (HERE / "ours").glob("preset-*") if q.is_dir())
        presets = [ROOT / "results" / "runs" / f"preset-{t}" for t in common.GYM_IDS]
        ours_paths = mine or [str(q) for q in presets if q.is_dir()]
    data = read_peers(pathlib.Path(args.scores), args.budget)
    if not data:
        print(f"no peer data: no scored runs under {args.scores} (benchmarks/peers/run_all.sh)")
    dirs = our_run_dirs(ours_paths)
    data.update(read_ours(dirs, args.budget))
    if not dirs:
        print("no ddpg-jax data: no run dirs among --ours")
    if not data:
        return 1
    print(table(data, args.budget))
    plot(data, args.budget, pathlib.Path(args.plot))
    print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
