"""Exploration noise as a pytree: Gaussian or Ornstein-Uhlenbeck, one state per env.

Noise is in units of the action half-range; the caller scales it to the bounds, adds it to
mu(s) and clips. The noise scale starts at `expl_noise` and decays by `noise_decay` per env step
or per finished episode of that env, never below `min_expl_noise`. For OU noise the process
output is multiplied by `scale / expl_noise`, so decay shrinks it the same way.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ddpg_jax.config import Config


@struct.dataclass
class NoiseState:
    ou: jax.Array  # [num_envs, action_size]; OU process value, mean 0
    scale: jax.Array  # [num_envs]; current noise scale of each env


def init(cfg: Config, num_envs: int, action_size: int) -> NoiseState:
    return NoiseState(
        ou=jnp.zeros((num_envs, action_size), jnp.float32),
        scale=jnp.full((num_envs,), cfg.expl_noise, jnp.float32),
    )


def ou_step(cfg: Config, x: jax.Array, key: jax.Array) -> jax.Array:
    """Discrete OU: x + theta * (0 - x) * dt + sigma * sqrt(dt) * N(0, 1)."""
    eps = jax.random.normal(key, x.shape, x.dtype)
    return x - cfg.ou_theta * x * cfg.ou_dt + cfg.ou_sigma * jnp.sqrt(cfg.ou_dt) * eps


def sample(cfg: Config, state: NoiseState, key: jax.Array) -> tuple[NoiseState, jax.Array]:
    """Advance the noise one step; returns the new state and noise `[num_envs, action_size]`."""
    if cfg.noise_type == "gaussian":
        eps = jax.random.normal(key, state.ou.shape, state.ou.dtype)
        return state, eps * state.scale[:, None]
    ou = ou_step(cfg, state.ou, key)
    relative = state.scale / cfg.expl_noise if cfg.expl_noise > 0 else jnp.zeros_like(state.scale)
    return state.replace(ou=ou), ou * relative[:, None]


def end_step(cfg: Config, state: NoiseState, episode_over: jax.Array) -> NoiseState:
    """After an env step: reset the OU state of envs whose episode ended and decay the scale.

    `episode_over` `[num_envs]` is true for terminated or truncated envs.
    """
    over = episode_over.astype(bool)
    ou = jnp.where(over[:, None], 0.0, state.ou)
    if cfg.noise_decay_mode == "step":
        decays = jnp.ones_like(state.scale, dtype=bool)
    elif cfg.noise_decay_mode == "episode":
        decays = over
    else:
        decays = jnp.zeros_like(state.scale, dtype=bool)
    decayed = jnp.maximum(state.scale * cfg.noise_decay, cfg.min_expl_noise)
    return NoiseState(ou=ou, scale=jnp.where(decays, decayed, state.scale))
