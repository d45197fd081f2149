"""What a run fixes before its host loop starts: the run dirs it feeds (`Variant`), its
intervals and schedule, its env, the metadata config.yaml records, and its root keys. Shared by
the train and sweep command lines and the host loop."""

from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any

import jax

from ddpg_jax import envs, machine
from ddpg_jax.config import Config
from ddpg_jax.schedule import Schedule, make_schedule, resolve_intervals
from ddpg_jax.settings import RunOptions


@dataclasses.dataclass(frozen=True)
class Variant:
    """A run dir fed by one block of `cfg.num_seeds` consecutive seeds of the vmapped axis.

    A plain run has one variant; a sweep (`ddpg_jax.sweep`) one per grid point, each with its
    traced hyperparameters. Every variant uses the same seed keys, so variants differ only by
    their hyperparameters.
    """

    directory: Any  # run_dir.RunDir
    cfg: Config
    """The variant's own config (as in its config.yaml; stored in checkpoint meta)."""
    label: str = ""
    """Names a sweep's variant in messages ("" for a plain run)."""
    hp: Any = None
    """`hyperparams.Hyperparams` of a sweep's variant; None for a plain run (nothing traced)."""


def fix_intervals(cfg: Config, run: RunOptions) -> RunOptions:
    """The run options with 0 intervals replaced by the values they resolve to for this total,
    so that config.yaml keeps the grid and a resume with another total stays on it."""
    log_every, eval_every, checkpoint_every = resolve_intervals(
        cfg.total_steps, run.log_every, run.eval_every, run.checkpoint_every
    )
    return dataclasses.replace(
        run, log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every
    )


def schedule_of(cfg: Config, run: RunOptions) -> Schedule:
    run = fix_intervals(cfg, run)
    return make_schedule(cfg, run.log_every, run.eval_every, run.checkpoint_every)


def make_env(run: RunOptions) -> Any:
    """The run's unbatched env on its resolved physics backend."""
    backend = envs.resolve_backend(run.backend)
    return envs.make(run.env, backend=backend, **({"impl": run.impl} if backend == "mjx" else {}))


def run_metadata(run: RunOptions) -> dict[str, Any]:
    """What config.yaml records beside the Config: the task, the resolved physics backend, the
    run options, and the device, start time and machine (CPU, load) that results tables report."""
    device = jax.devices()[0]
    return {
        "env": run.env,
        "backend": envs.resolve_backend(run.backend),
        "run": dataclasses.asdict(dataclasses.replace(run, max_minutes=0.0)),
        "device": f"{jax.default_backend()}: {len(jax.devices())} x {device.device_kind}",
        "cpu_count": os.cpu_count(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
    }


def run_keys(seed: int) -> tuple[Any, Any]:
    """The run's two root keys, one split of `key(seed)`: the seeds' initial keys come from
    the first, every evaluation's keys from the second, so the two never coincide."""
    init_root, eval_root = jax.random.split(jax.random.key(seed))
    return init_root, eval_root
