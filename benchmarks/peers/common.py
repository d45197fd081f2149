"""What every peer driver and the scorer share: tasks, the run-dir layout, the wall-clock budget,
the snapshot records and the machine facts. Standard library only, so it imports in every
peer's venv (none of which has ddpg-jax).

A peer run dir (`--out`):

    run.json                    library, task, seed, settings and their source, command, machine
                                facts, load average at start; at the end also the load average,
                                env steps, wall-clock and why it stopped ("finished": true)
    snapshots/<steps>.json      env_steps, wall_s (since the clock started), minutes, policy file
    snapshots/<steps>.<ext>     the policy, in the peer's own format

The clock starts after the peer's imports, before its model and env are built, like
`ddpg_jax.train`'s `wall_time` (which starts before init and compile).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import shlex
import sys
import time
from importlib import metadata
from typing import Any

GYM_IDS = {
    "hopper": "Hopper-v5",
    "halfcheetah": "HalfCheetah-v5",
    "walker2d": "Walker2d-v5",
    "ant": "Ant-v5",
}
"""The tasks of the comparison, by our name (as `envs.TASKS` spells them)."""

LIBRARIES = ("sbx-td3", "sbx-sac", "sb3-td3", "cleanrl-td3")
"""Library labels as they appear in run dirs, CSVs and plots."""

DEFAULT_MINUTES = 27.0
SNAPSHOT_EVERY = 50_000
MAX_EPISODE_STEPS = 1000
"""Gymnasium's own time limit for the four tasks, and ddpg-jax's `episode_length`."""

VERSIONED = (
    "sbx-rl",
    "stable-baselines3",
    "cleanrl",
    "torch",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "gymnasium",
    "mujoco",
    "numpy",
)


def gym_id(task: str) -> str:
    """`hopper` or `Hopper-v5` -> `Hopper-v5`; anything else raises ValueError."""
    if task in GYM_IDS:
        return GYM_IDS[task]
    if task in GYM_IDS.values():
        return task
    raise ValueError(f"unknown task {task!r}: one of {', '.join(GYM_IDS)}")


def task_name(task: str) -> str:
    """`Hopper-v5` or `hopper` -> `hopper`."""
    return next(name for name, gid in GYM_IDS.items() if gym_id(task) == gid)


def machine_facts() -> dict[str, Any]:
    """CPU model, whether it has AVX-512 (`avx512f`), cores this process may use, the load
    average, Python and the versions of the libraries installed here, and the date."""
    cpu, flags = platform.processor() or platform.machine(), None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:  # the first processor's lines describe them all
                key, _, value = (part.strip() for part in line.partition(":"))
                if key == "model name":
                    cpu = value
                elif key == "flags":
                    flags = value.split()
                    break
    except OSError:
        pass
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return {
        "cpu_model": cpu,
        "avx512f": None if flags is None else "avx512f" in flags,
        "cores": len(os.sched_getaffinity(0)),
        "load_average": load_average(),
        "python": platform.python_version(),
        "versions": versions,
        "date": now(),
    }


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def command() -> str:
    return shlex.join([sys.executable, *sys.argv])


def parser(description: str) -> argparse.ArgumentParser:
    """The arguments every driver takes."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--task", required=True, help=f"one of {', '.join(GYM_IDS)} (or its v5 id)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="the run dir (created; must not hold a run)")
    p.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        help=f"wall-clock budget (default {DEFAULT_MINUTES:g}); 0 = none",
    )
    p.add_argument(
        "--steps", type=int, default=None, help="env-step limit (default: the published total)"
    )
    p.add_argument("--snapshot-every", type=int, default=SNAPSHOT_EVERY, help="env steps")
    p.add_argument(
        "--learning-starts",
        type=int,
        default=None,
        help="override the published warm-up, for smoke tests only",
    )
    return p


class Run:
    """A run dir being written: the clock, the budget, snapshots and the final record."""

    def __init__(self, args: argparse.Namespace, library: str, settings: dict, source: str):
        self.out = pathlib.Path(args.out)
        if (self.out / "run.json").exists():
            raise SystemExit(f"{self.out} already holds a run (run.json); use a new --out")
        (self.out / "snapshots").mkdir(parents=True, exist_ok=True)
        self.budget_s = args.minutes * 60 if args.minutes and args.minutes > 0 else None
        self.every = args.snapshot_every
        self.last_snapshot = 0
        self.stopped_by = None
        self.record = {
            "library": library,
            "task": task_name(args.task),
            "gym_id": gym_id(args.task),
            "seed": args.seed,
            "settings": settings,
            "settings_source": source,
            "budget_minutes": args.minutes,
            "snapshot_every": self.every,
            "command": command(),
            "machine": machine_facts(),
            "load_start": load_average(),
            "started": now(),
            "finished": False,
        }
        self._write("run.json", self.record)
        self.t0 = time.time()

    def note(self, **fields: Any) -> None:
        """Adds fields to run.json now (settings known only once the peer has parsed them)."""
        self.record.update(fields)
        self._write("run.json", self.record)

    def elapsed(self) -> float:
        return time.time() - self.t0

    def over_budget(self) -> bool:
        """True once the wall-clock budget is spent (then `stopped_by` is "budget")."""
        if self.budget_s is not None and self.elapsed() >= self.budget_s:
            self.stopped_by = "budget"
            return True
        return False

    def due(self, env_steps: int) -> bool:
        """True when `env_steps` has reached the next multiple of the snapshot interval."""
        return env_steps >= self.last_snapshot + self.every

    def snapshot(self, env_steps: int, save, ext: str, **extra: Any) -> None:
        """Saves the policy through `save(path)` and its record. The clock keeps running
        through the save (it is part of what the peer costs to run this way)."""
        wall = self.elapsed()
        name = f"{env_steps:08d}"
        save(self.out / "snapshots" / f"{name}.{ext}")
        doc = {
            "env_steps": env_steps,
            "wall_s": round(wall, 3),
            "minutes": round(wall / 60, 4),
            "policy": f"{name}.{ext}",
            "load_average": load_average(),
            **extra,
        }
        self._write(f"snapshots/{name}.json", doc)
        self.last_snapshot = env_steps
        print(f"snapshot at {env_steps} env steps, {wall / 60:.2f} min", file=sys.stderr)

    def finish(self, env_steps: int, stopped_by: str | None = None) -> None:
        self.record.update(
            finished=True,
            env_steps=env_steps,
            wall_s=round(self.elapsed(), 3),
            stopped_by=stopped_by or self.stopped_by or "steps",
            load_end=load_average(),
            ended=now(),
        )
        self._write("run.json", self.record)

    def _write(self, name: str, doc: dict) -> None:
        path = self.out / name
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(path)


def read_run(path: str | os.PathLike) -> tuple[dict, list[dict]]:
    """A run dir's run.json and its snapshot records, in env-step order."""
    root = pathlib.Path(path)
    run = json.loads((root / "run.json").read_text())
    snaps = [json.loads(p.read_text()) for p in sorted((root / "snapshots").glob("*.json"))]
    return run, sorted(snaps, key=lambda s: s["env_steps"])
