"""A rough device-memory estimate of a run, checked before anything is allocated or written."""

from __future__ import annotations

import os
from typing import Any

from ddpg_jax.cli import UsageError
from ddpg_jax.config import Config


def estimate_bytes(cfg: Config, env: Any, eval_episodes: int) -> dict[str, int]:
    """Buffers, env states and networks of all seeds (`cfg.num_seeds`), by part."""
    import jax
    import numpy as np

    obs, act = env.observation_size, env.action_size
    buffer = cfg.buffer_size * (2 * obs + act + 2 + (1 if cfg.n_step > 1 else 0)) * 4
    state = jax.eval_shape(env.reset, jax.random.key(0))
    env_bytes = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))
    # The training scan holds a few copies of the env state (before/after step, auto-reset).
    envs_total = env_bytes * (cfg.num_envs * 4 + eval_episodes * 2)
    ha, hc = cfg.actor_width, cfg.critic_width
    actor = obs * ha + (cfg.actor_layers - 1) * ha * ha + ha * act
    outputs = cfg.num_atoms if cfg.distributional else 1
    critic = (obs + act) * hc + (cfg.critic_layers - 1) * hc * hc + hc * outputs
    critic *= 2 if cfg.twin_critics else 1
    # params, targets, two Adam moments, gradients; activations of a batch.
    width = max(ha, hc)
    batch = cfg.batch_size * (4 * width + obs + act + outputs) * 4 * 3
    networks = (actor + critic) * 5 * 4 + batch
    per_seed = {"replay buffer": buffer, "envs": envs_total, "networks": networks}
    return {k: v * cfg.num_seeds for k, v in per_seed.items()}


def device_bytes() -> int | None:
    import jax

    device = jax.devices()[0]
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports memory
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check(cfg: Config, env: Any, eval_episodes: int) -> None:
    """A `UsageError` naming the parts when the run would not fit in 90% of the device."""
    estimate = estimate_bytes(cfg, env, eval_episodes)
    available = device_bytes()
    total = sum(estimate.values())
    if available is not None and total > 0.9 * available:
        parts = ", ".join(f"{k} {v / 2**30:.1f} GiB" for k, v in estimate.items())
        raise UsageError(
            f"this run needs about {total / 2**30:.1f} GiB ({parts}) but the device has "
            f"{available / 2**30:.1f} GiB; lower --buffer_size, --num_envs or --num_seeds"
        )
