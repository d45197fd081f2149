"""Run dirs as summaries for the results tables: what each ran, how long, how well it scored,
and the runs of one setting that differ only in their seed pooled into one."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Any

import numpy as np

from ddpg_jax import run_dir
from ddpg_jax.cli import UsageError
from ddpg_jax.metrics_log import read_metrics


def run_dirs_named(paths: list[str]) -> list[pathlib.Path]:
    """The run dirs of `paths` (see `run_dir.run_dirs_under`); a path that names none is a
    `UsageError` that says why."""
    found = []
    for path in map(pathlib.Path, paths):
        runs = run_dir.run_dirs_under(path)
        if not runs and not path.is_dir():
            raise UsageError(f"{path} does not exist; pass a run dir or a folder of run dirs")
        if not runs:
            raise UsageError(
                f"{path} holds no run dirs (no */{run_dir.CONFIG_FILE}); pass a run dir"
            )
        found.extend(runs)
    return found


def summarize(path: str | pathlib.Path, target: float | None = None) -> dict[str, Any]:
    """One run dir as a flat dict: what it ran, how long, and how well it scored; with
    `target`, also when the seeds' mean eval return first reached it (`time_to_target`)."""
    rd, cfg, extra = run_dir.read_for_cli(path)
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
