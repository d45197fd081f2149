"""A rough device-memory estimate of a run, checked before anything is allocated or written."""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from ddpg_jax import agent, replay
from ddpg_jax.cli import UsageError
from ddpg_jax.config import Config


def estimate_bytes(cfg: Config, env: Any, eval_episodes: int) -> dict[str, int]:
    """Buffers, env states and networks of all seeds (`cfg.num_seeds`), by part."""
    obs, act = env.observation_size, env.action_size
    buffer = _bytes(jax.eval_shape(lambda: replay.init(cfg.buffer_size, obs, act, cfg.n_step > 1)))
    env_bytes = _bytes(jax.eval_shape(env.reset, jax.random.key(0)))
    # The training scan holds a few copies of the env state (before/after step, auto-reset).
    envs_total = env_bytes * (cfg.num_envs * 4 + eval_episodes * 2)
    ts = jax.eval_shape(lambda k: agent.init(cfg, obs, act, k), jax.random.key(0))
    params = _bytes((ts.actor_params, ts.critic_params))
    # params, targets, two Adam moments, gradients; activations of a batch.
    width = max(cfg.actor_width, cfg.critic_width)
    outputs = cfg.num_atoms if cfg.distributional else 1
    batch = cfg.batch_size * (4 * width + obs + act + outputs) * 4 * 3
    networks = params * 5 + batch
    per_seed = {"replay buffer": buffer, "envs": envs_total, "networks": networks}
    return {k: v * cfg.num_seeds for k, v in per_seed.items()}


def _bytes(tree: Any) -> int:
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(tree))


def device_bytes() -> int | None:
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
