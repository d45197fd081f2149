"""Scores every snapshot of peer run dirs the way `python -m ddpg_jax.evaluate` scores ours, and
writes one CSV per run.

    $PEER_VENVS/<venv>/bin/python benchmarks/peers/score.py RUN_DIR [...] [--csv FILE]
        [--scores DIR] [--episodes 10] [--episode-seed 0]

Run it with the python of the venv that trained the run (it loads the peer's own files).
The protocol is ddpg_jax/episodes.py's `run_gym_episodes`: `gymnasium.make("<Task>-v5",
max_episode_steps=1000)`, episode k reset with `seed=episode_seed + k` (seeds 0-9 by default),
the policy's deterministic action on the raw observation, the reward summed as floats until
terminated or truncated; return mean and (population) std over the episodes.

Output: `--csv FILE`, or `DIR/<library>/<task>-seed<seed>.csv` under `--scores` (default
benchmarks/peers/scores). One row per snapshot: library, task, seed, minutes, env_steps,
return_mean, return_std, then the episode protocol, the training run's machine facts (CPU model,
avx512f, cores, load average at its start and end, library versions, date, command) and the
scoring's own date, command and load. Snapshots already in the CSV (same env steps, episodes
and episode seeds) are kept, not scored again, so an interrupted scoring resumes.
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import pathlib
import sys
from collections.abc import Callable
from typing import Any

import common
import numpy as np

COLUMNS = (
    "library",
    "task",
    "seed",
    "minutes",
    "env_steps",
    "return_mean",
    "return_std",
    "episodes",
    "episode_seeds",
    "max_episode_steps",
    "length_mean",
    "wall_s",
    "final",
    "stopped_by",
    "cpu_model",
    "avx512f",
    "cores",
    "load_start",
    "load_end",
    "versions",
    "started",
    "train_command",
    "scored",
    "score_command",
    "score_load",
)

DRIVERS = {
    "sbx-td3": "sbx_td3",
    "sbx-sac": "sbx_sac",
    "sb3-td3": "sb3_td3",
    "cleanrl-td3": "cleanrl_td3",
}
"""Library -> the driver module whose `load_policy(path)` reads its snapshots."""

DEFAULT_SCORES = pathlib.Path(__file__).resolve().parent / "scores"


def episode_returns(
    act: Callable[[np.ndarray], Any],
    gym_id: str,
    episode_seeds: list[int],
    max_episode_steps: int = common.MAX_EPISODE_STEPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of one noise-free episode per seed (ddpg_jax.episodes' protocol)."""
    import gymnasium

    env = gymnasium.make(gym_id, max_episode_steps=max_episode_steps)
    returns, lengths = [], []
    try:
        for seed in episode_seeds:
            obs, _ = env.reset(seed=int(seed))
            total, length, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(act(obs))
                total += float(reward)
                length += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(length)
    finally:
        env.close()
    return np.asarray(returns), np.asarray(lengths)


def csv_path(run: dict, scores: pathlib.Path) -> pathlib.Path:
    return scores / run["library"] / f"{run['task']}-seed{run['seed']}.csv"


def read_rows(path: pathlib.Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def score_run(
    root: pathlib.Path,
    out: pathlib.Path,
    episode_seeds: list[int],
    say: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Scores the run dir's snapshots not yet in `out` and rewrites `out` with all of them."""
    run, snaps = common.read_run(root)
    if not snaps:
        raise SystemExit(f"{root} has no snapshots")
    load_policy = importlib.import_module(DRIVERS[run["library"]]).load_policy
    seeds_text = " ".join(map(str, episode_seeds))
    kept = {
        int(r["env_steps"]): r
        for r in read_rows(out)
        if r["episode_seeds"] == seeds_text and r["library"] == run["library"]
    }
    machine, versions = run["machine"], run["machine"]["versions"]
    base = {
        "library": run["library"],
        "task": run["task"],
        "seed": run["seed"],
        "episodes": len(episode_seeds),
        "episode_seeds": seeds_text,
        "max_episode_steps": common.MAX_EPISODE_STEPS,
        "stopped_by": run.get("stopped_by", "running" if not run["finished"] else ""),
        "cpu_model": machine["cpu_model"],
        "avx512f": machine["avx512f"],
        "cores": machine["cores"],
        "load_start": " ".join(map(str, run["load_start"])),
        "load_end": " ".join(map(str, run.get("load_end", []))),
        "versions": " ".join(f"{k}={v}" for k, v in versions.items()),
        "started": run["started"],
        "train_command": run["command"],
    }
    rows = []
    for snap in snaps:
        if snap["env_steps"] in kept:
            rows.append(kept[snap["env_steps"]])
            continue
        load = common.load_average()
        act = load_policy(str(root / "snapshots" / snap["policy"]))
        returns, lengths = episode_returns(act, run["gym_id"], episode_seeds)
        rows.append(
            {
                **base,
                "minutes": f"{snap['minutes']:.3f}",
                "env_steps": snap["env_steps"],
                "return_mean": f"{returns.mean():.2f}",
                "return_std": f"{returns.std():.2f}",
                "length_mean": f"{lengths.mean():.1f}",
                "wall_s": snap["wall_s"],
                "final": bool(snap.get("final", False)),
                "scored": common.now(),
                "score_command": common.command(),
                "score_load": " ".join(map(str, load))
                + " / "
                + " ".join(map(str, common.load_average())),
            }
        )
        say(
            f"{run['library']} {run['task']} seed {run['seed']}: {snap['env_steps']} steps, "
            f"{snap['minutes']:.1f} min: {returns.mean():.1f} ± {returns.std():.1f}"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(out)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR")
    p.add_argument("--csv", help="the CSV to write (one run dir only)")
    p.add_argument("--scores", default=str(DEFAULT_SCORES), help="folder of per-run CSVs")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--episode-seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.csv and len(args.run_dirs) != 1:
        p.error("--csv takes one run dir")
    seeds = [args.episode_seed + k for k in range(args.episodes)]
    for root in map(pathlib.Path, args.run_dirs):
        run = json.loads((root / "run.json").read_text())
        out = pathlib.Path(args.csv) if args.csv else csv_path(run, pathlib.Path(args.scores))
        score_run(root, out, seeds, say=lambda s: print(s, file=sys.stderr))
        print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
