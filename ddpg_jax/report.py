"""Command line: results tables from run dirs, and the tables of RESULTS.md and README.md.

    python -m ddpg_jax.report RUN_OR_FOLDER [...] [--study] [--pool] [--target R] [--export DIR]
    python -m ddpg_jax.report --results-md [--check]
    python -m ddpg_jax.report --figure results/presets_time.png

Each argument is a run dir or a folder holding run dirs (a sweep's `--out`). A run contributes
its `config.yaml` (task, seeds, device, physics), its `metrics.csv` (env steps, wall-clock,
the training loop's noise-free evals) and its saved Gymnasium scores (`evaluations/`, written
by every `python -m ddpg_jax.evaluate`). Without `--study` it prints one row per run in the
format of the reference study's results table, beside its numbers and the best published DDPG
return; with
`--study` one row per variant of a sweep (without it, rows of different variants get a
variant column). `--target R` adds the wall-clock and env steps at which the training loop's
eval return, averaged over seeds, first reached R. `--pool` makes one row of the runs that
differ only in their seed (a preset run once per seed). Markdown on stdout; bad input exits 2.

`--export DIR` also copies each run's records (config.yaml, metrics.csv, evaluations/; not the
checkpoints) to `DIR/<run name>` (`DIR/<sweep>/<variant>` for a sweep's variants): small enough
to commit, and all this module and `ddpg_jax.plot` need. `results/runs/` holds the records
behind RESULTS.md.

`--results-md` rebuilds every table that `results/tables.yaml` defines from the records in
`results/runs/` and writes each between its markers (`<!-- report:NAME -->` and
`<!-- /report:NAME -->`) in RESULTS.md and README.md; with `--check` it writes nothing and exits
1 if a committed table differs from the rebuilt one. `--figure FILE` draws the README's
learning curves (return against wall-clock, one panel per task) from the records of the
`headline` table.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
from typing import Any

import numpy as np

from ddpg_jax.cli import Parser, UsageError, say
from ddpg_jax.cli import run as run_cli

REFERENCE_STUDY = {
    "halfcheetah": (3328, 4053),
    "inverted_double_pendulum": (5295, 9329),
    "hopper": (1220, 1642),
    "inverted_pendulum": (631, 1000),
    "walker2d": (907, 1046),
    "ant": (727, 850),
}
"""The reference study's (mean test reward, final test reward), 5 seeds, Gymnasium v5
(docs/reference_study.md)."""

BEST_PUBLISHED_DDPG_1M = {
    "halfcheetah": 11719,
    "hopper": 2197,
    "walker2d": 3098,
    "ant": 990,
    "inverted_pendulum": 1000,
    "inverted_double_pendulum": 8370,
}
"""The best DDPG return at 1M env steps among the public sources in docs/reference_study.md."""

TASK_ORDER = tuple(REFERENCE_STUDY)


def find_run_dirs(paths: list[str]) -> list[pathlib.Path]:
    """The run dirs named by `paths`: each a run dir or a folder whose subfolders are."""
    from ddpg_jax.run_dir import CONFIG_FILE

    found = []
    for path in map(pathlib.Path, paths):
        if (path / CONFIG_FILE).is_file():
            found.append(path)
            continue
        if not path.is_dir():
            raise UsageError(f"{path} does not exist; pass a run dir or a folder of run dirs")
        inner = sorted(p.parent for p in path.glob(f"*/{CONFIG_FILE}"))
        if not inner:
            raise UsageError(f"{path} holds no run dirs (no */{CONFIG_FILE}); pass a run dir")
        found.extend(inner)
    return found


def summarize(path: str | pathlib.Path, target: float | None = None) -> dict[str, Any]:
    """One run dir as a flat dict: what it ran, how long, and how well it scored; with
    `target`, also when the seeds' mean eval return first reached it (`time_to_target`)."""
    from ddpg_jax import run_dir
    from ddpg_jax.metrics_log import read_metrics

    try:
        rd = run_dir.open_existing(path)
        cfg, extra = run_dir.load_config(rd)
    except run_dir.RunDirError as e:
        raise UsageError(str(e)) from None
    metrics = read_metrics(rd)
    steps = metrics.get("env_step", np.zeros(0))
    if steps.size:
        metrics["wall_time"] = _run_wall_time(metrics["wall_time"])
    summary: dict[str, Any] = {
        "path": str(rd.root),
        "label": run_dir.label(rd, extra),
        "variant": extra.get("variant"),
        "env": extra.get("env"),
        "num_seeds": cfg.num_seeds,
        "num_envs": cfg.num_envs,
        "updates_per_step": cfg.updates_per_step,
        "env_steps": int(steps.max()) if steps.size else 0,
        "wall_s": float(np.nanmax(metrics["wall_time"])) if steps.size else float("nan"),
        "where": _where(extra),
        "started": extra.get("started"),
        "setting": _setting(cfg, extra),
        "seed": (extra.get("run") or {}).get("seed"),
    }
    summary.update(_training_evals(metrics))
    if target is not None:
        summary["time_to_target"] = _time_to_target(metrics, target)
    summary["evaluation"] = _best_evaluation(run_dir.load_evaluations(rd), cfg.num_seeds)
    return summary


def _setting(cfg: Any, extra: dict[str, Any]) -> str:
    """What a run ran, but for its seed and start time: runs with equal settings are seeds
    of one experiment (`pool_seeds`)."""
    import dataclasses

    run = {k: v for k, v in (extra.get("run") or {}).items() if k != "seed"}
    rest = {k: v for k, v in extra.items() if k not in ("run", "started")}
    return repr(
        (sorted(dataclasses.asdict(cfg).items()), sorted(run.items()), sorted(rest.items()))
    )


_POOLED_AS_IS = ("path", "variant", "env", "num_envs", "updates_per_step", "where", "setting")


def pool_seeds(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One summary per setting: runs that differ only in their seed (one seed each, or more)
    become one row whose Gymnasium score is the mean ± std over all their seeds, each seed's
    score its mean over episodes. Env steps and wall-clock become the range over the runs.
    A setting whose runs were not all evaluated, or not on the same episodes, stays one row
    per run, and so do reruns of one seed. The order is that of each setting's first run."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for s in summaries:
        groups.setdefault(s["setting"], []).append(s)
    pooled = []
    for runs in groups.values():
        evaluations = [r["evaluation"] for r in runs]
        same_episodes = len({repr(e and e["episode_seeds"]) for e in evaluations}) == 1
        repeated_seed = len({r["seed"] for r in runs}) < len(runs)  # reruns, not more seeds
        if len(runs) == 1 or None in evaluations or not same_episodes or repeated_seed:
            pooled.extend(runs)
            continue
        means = [seed["gym_mean"] for e in evaluations for seed in e["seeds"]]
        steps = sorted({e["checkpoint_step"] for e in evaluations})
        pooled.append(
            {
                **{k: v for k, v in runs[0].items() if k in _POOLED_AS_IS},
                "label": ", ".join(r["label"] for r in runs),
                "num_seeds": sum(r["num_seeds"] for r in runs),
                "env_steps": min(r["env_steps"] for r in runs),
                "env_steps_max": max(r["env_steps"] for r in runs),
                "wall_s": min(r["wall_s"] for r in runs),
                "wall_s_max": max(r["wall_s"] for r in runs),
                "runs": len(runs),
                "evaluation": {
                    **evaluations[0],
                    "seeds": [seed for e in evaluations for seed in e["seeds"]],
                    "gym_mean": float(np.mean(means)),
                    "gym_std": float(np.std(means)),
                    "checkpoint_step": steps[0],
                    "checkpoint_step_max": steps[-1],
                },
            }
        )
    return pooled


def _where(extra: dict[str, Any]) -> str:
    """Text like '2-core CPU, C MuJoCo physics' from what train recorded."""
    physics = {"mujoco": "C MuJoCo physics", "mjx": "MJX physics"}.get(
        extra.get("backend"), f"{extra.get('backend')} physics"
    )
    device = extra.get("device")
    if device is None:
        return physics
    platform, _, kind = device.partition(": ")
    if platform == "cpu":
        cores = extra.get("cpu_count")
        return f"{cores}-core CPU, {physics}" if cores else f"CPU, {physics}"
    return f"{kind}, {physics}"


def _run_wall_time(wall: np.ndarray) -> np.ndarray:
    """Wall time since the run started, in file order. Runs resumed before `metrics.csv`
    carried the clock across a resume restart at zero; each restart continues from the last
    row before it (the time between that checkpoint and the crash is not known)."""
    out = wall.copy()
    offset, previous = 0.0, -np.inf
    for i, w in enumerate(wall):
        if not np.isfinite(w):
            continue
        if w < previous:
            offset += previous
        previous = w
        out[i] = w + offset
    return out


def _eval_curve(metrics: dict[str, np.ndarray]) -> list[tuple[int, float, float]]:
    """(env step, mean eval return over seeds, wall time) of every eval point, in step order."""
    if "eval_return" not in metrics:
        return []
    steps, values, wall = metrics["env_step"], metrics["eval_return"], metrics["wall_time"]
    evaluated = np.isfinite(values)
    return [
        (int(s), float(values[evaluated & (steps == s)].mean()), float(np.nanmax(wall[steps == s])))
        for s in np.unique(steps[evaluated])
    ]


def _time_to_target(metrics: dict[str, np.ndarray], target: float) -> dict[str, Any]:
    """When the mean eval return over seeds first reached `target`: `{"env_step", "wall_s"}`,
    or `{"best": ...}` (the highest mean reached; None without evals) if it never did."""
    curve = _eval_curve(metrics)
    for step, mean, wall in curve:
        if mean >= target:
            return {"env_step": step, "wall_s": wall}
    return {"best": max((mean for _, mean, _ in curve), default=None)}


def _training_evals(metrics: dict[str, np.ndarray]) -> dict[str, Any]:
    """The training loop's noise-free eval returns: at the end, best, and mean over the run."""
    if "eval_return" not in metrics:
        return {}
    steps, seeds, values = metrics["env_step"], metrics["seed"], metrics["eval_return"]
    evaluated = np.isfinite(values)
    if not evaluated.any():
        return {}
    steps, seeds, values = steps[evaluated], seeds[evaluated], values[evaluated]
    last = values[steps == steps.max()]
    per_seed_best = np.array([values[seeds == s].max() for s in np.unique(seeds)])
    # mean over the eval points of the seed mean: rewards learning early as well as ending high
    curve = np.array([values[steps == s].mean() for s in np.unique(steps)])
    return {
        "eval_final_step": int(steps.max()),
        "eval_final_mean": float(last.mean()),
        "eval_final_std": float(last.std()),
        "eval_best_mean": float(per_seed_best.mean()),
        "eval_curve_mean": float(curve.mean()),
    }


def _best_evaluation(docs: list[dict[str, Any]], num_seeds: int) -> dict[str, Any] | None:
    """The saved Gymnasium evaluation to report: of every seed if there is one, latest
    checkpoint, most episodes."""

    def rank(doc):
        return (len(doc["seeds"]) == num_seeds, doc["checkpoint_step"], len(doc["episode_seeds"]))

    return max(docs, key=rank) if docs else None


def _pm(mean: float, std: float) -> str:
    return f"{mean:.0f} ± {std:.0f}"


def _steps(n: int, most: int | None = None) -> str:
    """`n` env steps as 520k or 1M; with a different `most`, the range (400k-540k)."""
    if most is not None and most != n:
        return f"{_steps(n)}-{_steps(most)}"
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def _wall(seconds: float, most: float | None = None) -> str:
    """Seconds as 42 s, 2.5 min or 28 min; with a different `most`, the range."""
    if most is not None and _wall(most) != _wall(seconds):
        return f"{_wall(seconds)} to {_wall(most)}"
    if not np.isfinite(seconds):
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"


def _gym_cell(evaluation: dict[str, Any] | None) -> str:
    if evaluation is None:
        return "not evaluated (run `python -m ddpg_jax.evaluate RUN --seed-index all`)"
    return (
        f"**{_pm(evaluation['gym_mean'], evaluation['gym_std'])}** "
        f"({len(evaluation['seeds'])} seed(s) x {len(evaluation['episode_seeds'])} episodes, "
        f"step {_steps(evaluation['checkpoint_step'], evaluation.get('checkpoint_step_max'))})"
    )


def _target_cell(s: dict[str, Any]) -> str:
    reached = s.get("time_to_target")
    if reached is None:
        return "—"
    if "env_step" in reached:
        return f"{_wall(reached['wall_s'])}, {_steps(reached['env_step'])} steps"
    best = reached["best"]
    return "not reached" + ("" if best is None else f" (best {best:.0f})")


def _target_header(target: float | None) -> tuple[str, str]:
    """The `--target` column's header and separator (empty without a target)."""
    if target is None:
        return "", ""
    return f" time to eval return {target:g} (mean over seeds) |", "---|"


def results_table(summaries: list[dict[str, Any]], target: float | None = None) -> str:
    """The reference study's table format: one row per run, ordered by task. Rows of different sweep
    variants get a variant column, or they would read as identical runs."""
    rows = sorted(
        summaries,
        key=lambda s: (TASK_ORDER.index(s["env"]) if s["env"] in TASK_ORDER else 99, s["label"]),
    )
    variants = len({s.get("variant") for s in rows}) > 1
    extra_head, extra_rule = _target_header(target)
    lines = [
        f"| task |{' variant |' if variants else ''} Gymnasium return, mean ± std over seeds "
        "| seeds | env steps per seed | wall-clock (device) | reference study (mean test / final) "
        f"| best published DDPG at 1M |{extra_head}",
        f"|---|{'---|' if variants else ''}---|---|---|---|---|---|{extra_rule}",
    ]
    for s in rows:
        test, final = REFERENCE_STUDY.get(s["env"], ("?", "?"))
        variant = f" {s.get('variant') or '—'} |" if variants else ""
        lines.append(
            f"| {_gym_id(s['env'])} |{variant} {_gym_cell(s['evaluation'])} | {s['num_seeds']} "
            f"| {_steps(s['env_steps'], s.get('env_steps_max'))} "
            f"| {_wall(s['wall_s'], s.get('wall_s_max'))} ({s['where']}) "
            f"| {test} / {final} | {BEST_PUBLISHED_DDPG_1M.get(s['env'], '?')} |"
            + (f" {_target_cell(s)} |" if target is not None else "")
        )
    return "\n".join(lines)


def study_table(summaries: list[dict[str, Any]], target: float | None = None) -> str:
    """One row per variant: Gymnasium score and the training loop's eval curve. The last
    training eval names its env step when the run went on after it."""
    extra_head, extra_rule = _target_header(target)
    lines = [
        "| variant | Gymnasium return, mean ± std over seeds | training eval at the end "
        "| best training eval (mean of per-seed best) | mean training eval over the run "
        f"| seeds | env steps per seed | wall-clock |{extra_head}",
        f"|---|---|---|---|---|---|---|---|{extra_rule}",
    ]
    for s in summaries:
        evaluation = s["evaluation"]
        gym = "—" if evaluation is None else _pm(evaluation["gym_mean"], evaluation["gym_std"])
        final = _pm(s["eval_final_mean"], s["eval_final_std"]) if "eval_final_mean" in s else "—"
        if s.get("eval_final_step", s["env_steps"]) != s["env_steps"]:
            final += f" (at {_steps(s['eval_final_step'])})"
        best = f"{s['eval_best_mean']:.0f}" if "eval_best_mean" in s else "—"
        curve = f"{s['eval_curve_mean']:.0f}" if "eval_curve_mean" in s else "—"
        lines.append(
            f"| {s['label']} | {gym} | {final} | {best} | {curve} | {s['num_seeds']} "
            f"| {_steps(s['env_steps'])} | {_wall(s['wall_s'])} |"
            + (f" {_target_cell(s)} |" if target is not None else "")
        )
    return "\n".join(lines)


def _gym_id(env: str | None) -> str:
    from ddpg_jax.envs.registry import GYM_IDS

    return GYM_IDS.get(env, str(env))


def export_records(run_dirs: list[pathlib.Path], dest: pathlib.Path) -> list[pathlib.Path]:
    """Copy the records of each run (not its checkpoints) under `dest`; returns the copies."""
    from ddpg_jax import run_dir

    copies = []
    for root in run_dirs:
        rd = run_dir.open_existing(root)
        _, extra = run_dir.load_config(rd)
        name = pathlib.Path(root.parent.name, root.name) if extra.get("variant") else root.name
        target = run_dir.RunDir(dest / name)
        if target.root.exists():
            raise UsageError(f"{target.root} already exists; export into an empty folder")
        target.root.mkdir(parents=True)
        shutil.copy2(rd.config_path, target.config_path)
        if rd.metrics_path.is_file():
            shutil.copy2(rd.metrics_path, target.metrics_path)
        if rd.evaluations_dir.is_dir():
            shutil.copytree(rd.evaluations_dir, target.evaluations_dir)
        copies.append(target.root)
    return copies


# --- the tables of RESULTS.md and README.md ---------------------------------------------------

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLES_SPEC = ROOT / "results" / "tables.yaml"
RECORDS = ROOT / "results" / "runs"
MARKDOWN_FILES = (ROOT / "RESULTS.md", ROOT / "README.md")
_BLOCK = re.compile(r"(<!-- report:([a-z0-9-]+) -->\n)(.*?)(<!-- /report:\2 -->)", re.DOTALL)


def load_spec(path: pathlib.Path = TABLES_SPEC) -> list[dict[str, Any]]:
    """The tables `results/tables.yaml` defines, each a dict with `name` and `kind`."""
    import yaml

    tables = yaml.safe_load(path.read_text())["tables"]
    names = [t["name"] for t in tables]
    if len(set(names)) != len(names):
        raise UsageError(f"{path}: a table name is used twice")
    return tables


def group_score(summaries: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean ± std over every seed of `summaries` (each seed's score its mean over episodes),
    the seed count, and the ranges of env steps and wall-clock; the runs must all have been
    scored in Gymnasium on the same episodes."""
    evaluations = [s["evaluation"] for s in summaries]
    missing = [s["path"] for s, e in zip(summaries, evaluations, strict=True) if e is None]
    if missing:
        raise UsageError(f"not evaluated in Gymnasium: {', '.join(missing)}")
    if len({repr(e["episode_seeds"]) for e in evaluations}) != 1:
        raise UsageError("runs scored on different episodes cannot be pooled")
    means = [seed["gym_mean"] for e in evaluations for seed in e["seeds"]]
    return {
        "seeds": len(means),
        "mean": float(np.mean(means)),
        "std": float(np.std(means)),
        "episodes": len(evaluations[0]["episode_seeds"]),
        "steps": _steps(
            min(s["env_steps"] for s in summaries), max(s["env_steps"] for s in summaries)
        ),
        "wall": _wall(min(s["wall_s"] for s in summaries), max(s["wall_s"] for s in summaries)),
        "where": ", ".join(sorted({s["where"] for s in summaries})),
        "hardware": ", ".join(sorted({s["where"].split(", ")[0] for s in summaries})),
    }


def records_cell(paths: list[str], prefix: str = "results/runs") -> str:
    """Record dirs as links to their folders: `[study-hopper](...): n3_s{0,1,2}, preset_s3`."""
    by_parent: dict[str, list[str]] = {}
    for path in paths:
        parent, _, name = path.rpartition("/")
        by_parent.setdefault(parent, []).append(name)
    parts = []
    for parent, names in by_parent.items():
        stems: dict[str, list[str]] = {}
        for name in names:
            m = re.fullmatch(r"(.*_s)(\d+)", name)
            stem, number = (m.group(1), m.group(2)) if m else (name, "")
            stems.setdefault(stem, []).append(number)
        short = ", ".join(
            stem + (f"{{{','.join(n)}}}" if len(n) > 1 else n[0]) for stem, n in stems.items()
        )
        if parent:
            parts.append(f"[{parent}]({prefix}/{parent}): {short}")
        else:
            parts.append(", ".join(f"[{n}]({prefix}/{n})" for n in names))
    return "; ".join(parts)


def _summaries(paths: list[str], records: pathlib.Path) -> list[dict[str, Any]]:
    return [summarize(records / p) for p in paths]


def _headline_table(spec: dict[str, Any], records: pathlib.Path) -> str:
    published = spec["published"]
    heads = " | ".join(p["header"] for p in published)
    lines = [
        "| task | return, mean ± std over seeds | seeds | env steps per seed "
        f"| wall-clock per run | hardware | {heads} |",
        "|---|---|---|---|---|---|" + "---|" * len(published),
    ]
    for row in spec["rows"]:
        g = group_score(_summaries(row["records"], records))
        peers = " | ".join(str(p["returns"].get(row["env"], "—")) for p in published)
        note = f" ({row['wall_note']})" if row.get("wall_note") else ""
        lines.append(
            f"| {_gym_id(row['env'])} | **{_pm(g['mean'], g['std'])}** | {g['seeds']} "
            f"| {g['steps']} | {g['wall']}{note} | {g['hardware']} | {peers} |"
        )
    return "\n".join(lines)


def _seeds_table(spec: dict[str, Any], records: pathlib.Path) -> str:
    lines = [
        "| task | seed | return (mean of 10 episodes) | env steps | wall-clock | hardware "
        "| command | record |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in spec["rows"]:
        for path in row["records"]:
            s = summarize(records / path)
            evaluation = s["evaluation"]
            if evaluation is None:
                raise UsageError(f"not evaluated in Gymnasium: {s['path']}")
            for seed in evaluation["seeds"]:
                # a run of several seeds splits its --seed's key: name them by index
                number = s["seed"] or 0
                name = str(number) if s["num_seeds"] == 1 else f"index {seed['seed_index']}"
                command = row["command"].format(seed=number)
                lines.append(
                    f"| {_gym_id(s['env'])} | {name} | {seed['gym_mean']:.0f} "
                    f"| {_steps(s['env_steps'])} | {_wall(s['wall_s'])} "
                    f"| {s['where'].split(', ')[0]} | `{command}` | {records_cell([path])} |"
                )
    return "\n".join(lines)


def _pooled_table(spec: dict[str, Any], records: pathlib.Path) -> str:
    lines = [
        "| task | setting | seeds | return, mean ± std over seeds | env steps per seed "
        "| hardware | command | records |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in spec["rows"]:
        summaries = _summaries(row["records"], records)
        g = group_score(summaries)
        lines.append(
            f"| {_gym_id(summaries[0]['env'])} | {row['label']} | {g['seeds']} "
            f"| {_pm(g['mean'], g['std'])} | {g['steps']} | {g['hardware']} "
            f"| `{row['command']}` | {records_cell(row['records'])} |"
        )
    return "\n".join(lines)


def _study_table(spec: dict[str, Any], records: pathlib.Path) -> str:
    summaries = []
    for path in spec["records"]:
        for run in find_run_dirs([str(records / path)]):
            s = summarize(run)
            summaries.append({**s, "label": spec.get("labels", {}).get(s["label"], s["label"])})
    return f"`{spec['command']}` · records: {records_cell(spec['records'])}\n\n" + study_table(
        summaries
    )


def _placeholder(spec: dict[str, Any], records: pathlib.Path) -> str:
    return spec["text"].strip()


_KINDS = {
    "headline": _headline_table,
    "seeds": _seeds_table,
    "pooled": _pooled_table,
    "study": _study_table,
    "placeholder": _placeholder,
}


def render_tables(
    spec: list[dict[str, Any]] | None = None, records: pathlib.Path = RECORDS
) -> dict[str, str]:
    """`{name: markdown}` of every table in the spec, rebuilt from the records."""
    tables = {}
    for table in load_spec() if spec is None else spec:
        if table["kind"] not in _KINDS:
            raise UsageError(f"table {table['name']}: unknown kind {table['kind']!r}")
        tables[table["name"]] = _KINDS[table["kind"]](table, records)
    return tables


def fill_blocks(text: str, tables: dict[str, str]) -> str:
    """`text` with each marked block's body replaced by the table of its name."""

    def body(m: re.Match) -> str:
        name = m.group(2)
        if name not in tables:
            raise UsageError(f"<!-- report:{name} --> names no table of {TABLES_SPEC.name}")
        return f"{m.group(1)}{tables[name]}\n{m.group(4)}"

    return _BLOCK.sub(body, text)


def refresh_markdown(
    files: tuple[pathlib.Path, ...] = MARKDOWN_FILES, check: bool = False
) -> list[pathlib.Path]:
    """Rebuild the marked tables of `files`; returns the files whose tables changed (and, unless
    `check`, rewrites them). Every table of the spec must be placed in one of the files."""
    tables = render_tables()
    texts = {path: path.read_text() for path in files}
    placed = {m.group(2) for text in texts.values() for m in _BLOCK.finditer(text)}
    unplaced = sorted(set(tables) - placed)
    if unplaced:
        raise UsageError(f"tables with no <!-- report:NAME --> block: {', '.join(unplaced)}")
    changed = []
    for path, text in texts.items():
        new = fill_blocks(text, tables)
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new)
    return changed


def headline_figure(out: pathlib.Path, records: pathlib.Path = RECORDS) -> None:
    """The README's figure: each task's eval return against wall-clock, one line per seed."""
    from ddpg_jax import plot

    (headline,) = [t for t in load_spec() if t["kind"] == "headline"]
    panels = [
        (
            _gym_id(row["env"]).removesuffix("-v5"),
            [plot.load_run(str(records / p)) for p in row["records"]],
        )
        for row in headline["rows"]
    ]
    plot.plot_task_panels(panels, out)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m ddpg_jax.report",
        description="Markdown results tables from run dirs: Gymnasium scores saved by "
        "ddpg_jax.evaluate, env steps, wall-clock and device.",
    )
    parser.add_argument(
        "paths", nargs="*", metavar="RUN_OR_FOLDER", help="run dirs or folders of run dirs"
    )
    parser.add_argument(
        "--results-md",
        action="store_true",
        help="rebuild the tables of RESULTS.md and README.md (between their <!-- report:NAME --> "
        "markers) from results/runs/, as results/tables.yaml defines them",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="with --results-md: write nothing; exit 1 if a committed table differs",
    )
    parser.add_argument(
        "--figure",
        metavar="FILE.png",
        help="draw the README's learning curves (return against wall-clock, one panel per task)",
    )
    parser.add_argument(
        "--study", action="store_true", help="one row per sweep variant instead of per task"
    )
    parser.add_argument(
        "--target",
        type=float,
        metavar="R",
        help="add a column: wall-clock and env steps at which the training eval return, "
        "averaged over seeds, first reached R",
    )
    parser.add_argument(
        "--pool",
        action="store_true",
        help="one row per setting: runs that differ only in their seed are pooled (mean ± std "
        "over all their seeds)",
    )
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="also copy each run's config.yaml, metrics.csv and evaluations/ under DIR",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.results_md or args.figure:
        return _markdown_and_figure(args)
    if args.check:
        raise UsageError("--check goes with --results-md")
    if not args.paths:
        raise UsageError("pass run dirs (or --results-md, or --figure FILE)")
    if args.pool and (args.study or args.target is not None):
        raise UsageError(
            "--pool makes the per-task table; it does not combine with --study or --target"
        )
    run_dirs = find_run_dirs(args.paths)
    if args.target is not None and not np.isfinite(args.target):
        raise UsageError(f"--target must be a finite number, got {args.target}")
    summaries = [summarize(p, args.target) for p in run_dirs]
    if args.export:
        for copy in export_records(run_dirs, pathlib.Path(args.export)):
            say(f"exported {copy}")
    if args.pool:
        summaries = pool_seeds(summaries)
    table = study_table if args.study else results_table
    print(table(summaries, args.target))
    return 0


def _markdown_and_figure(args: argparse.Namespace) -> int:
    if args.paths:
        raise UsageError("--results-md and --figure read results/runs/; they take no run dirs")
    if args.figure:
        headline_figure(pathlib.Path(args.figure))
        say(f"wrote {args.figure}")
    if args.results_md:
        changed = refresh_markdown(check=args.check)
        for path in changed:
            say(f"{'differs' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
        if args.check and changed:
            say("run `python -m ddpg_jax.report --results-md` to rebuild them")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
