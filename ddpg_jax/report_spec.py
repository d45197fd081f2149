"""The tables `results/tables.yaml` defines, rebuilt from the records in `results/runs/`: the
headline (pooled per task, beside published returns), one row per seed, pooled settings, and
sweep studies."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import numpy as np
import yaml

from ddpg_jax.cli import UsageError
from ddpg_jax.formatting import env_steps, mean_std, wall_clock
from ddpg_jax.report_runs import run_dirs_named, summarize
from ddpg_jax.report_tables import gym_id, study_table

ROOT = pathlib.Path(__file__).resolve().parent.parent
TABLES_SPEC = ROOT / "results" / "tables.yaml"
RECORDS = ROOT / "results" / "runs"


def load_spec(path: pathlib.Path = TABLES_SPEC) -> list[dict[str, Any]]:
    """The tables `results/tables.yaml` defines, each a dict with `name` and `kind`."""
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
        "steps": env_steps(
            min(s["env_steps"] for s in summaries), max(s["env_steps"] for s in summaries)
        ),
        "wall": wall_clock(
            min(s["wall_s"] for s in summaries), max(s["wall_s"] for s in summaries)
        ),
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
            f"| {gym_id(row['env'])} | **{mean_std(g['mean'], g['std'])}** | {g['seeds']} "
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
                    f"| {gym_id(s['env'])} | {name} | {seed['gym_mean']:.0f} "
                    f"| {env_steps(s['env_steps'])} | {wall_clock(s['wall_s'])} "
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
            f"| {gym_id(summaries[0]['env'])} | {row['label']} | {g['seeds']} "
            f"| {mean_std(g['mean'], g['std'])} | {g['steps']} | {g['hardware']} "
            f"| `{row['command']}` | {records_cell(row['records'])} |"
        )
    return "\n".join(lines)


def _study_table(spec: dict[str, Any], records: pathlib.Path) -> str:
    summaries = []
    for path in spec["records"]:
        for run in run_dirs_named([str(records / path)]):
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
