"""Exploration noise as a pytree: Gaussian or Ornstein-Uhlenbeck, one state per env.

Noise is in units of the action half-range; the caller scales it to the bounds, adds it to
mu(s) and clips. The noise scale starts at `expl_noise` and decays by `noise_decay` per env step
or per finished episode of that env, never below `min_expl_noise`. For OU noise the process
output is multiplied by `scale / expl_noise`, so decay shrinks it the same way.

Every function reads its hyperparameters from the static `cfg` unless `hp` (the train state's
`ddpg_jax.hyperparams.Hyperparams`) traces them; a traced `noise_type` or `noise_decay_mode`
computes every branch and selects, from the same random draw.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ddpg_jax import hyperparams as hps
from ddpg_jax.config import Config
from ddpg_jax.hyperparams import Hyperparams


@struct.dataclass
class NoiseState:
    ou: jax.Array  # [num_envs, action_size]; OU process value, mean 0
    scale: jax.Array  # [num_envs]; current noise scale of each env


def init(cfg: Config, num_envs: int, action_size: int, hp: Hyperparams | None = None) -> NoiseState:
    return NoiseState(
        ou=jnp.zeros((num_envs, action_size), jnp.float32),
        scale=jnp.full((num_envs,), hps.value(cfg, hp, "expl_noise"), jnp.float32),
    )


def ou_step(cfg: Config, x: jax.Array, key: jax.Array, hp: Hyperparams | None = None) -> jax.Array:
    """Discrete OU: x + theta * (0 - x) * dt + sigma * sqrt(dt) * N(0, 1)."""
    return _ou_step(cfg, hp, x, jax.random.normal(key, x.shape, x.dtype))


def _ou_step(cfg: Config, hp: Hyperparams | None, x: jax.Array, eps: jax.Array) -> jax.Array:
    theta, sigma = hps.value(cfg, hp, "ou_theta"), hps.value(cfg, hp, "ou_sigma")
    return x - theta * x * cfg.ou_dt + sigma * jnp.sqrt(cfg.ou_dt) * eps


def sample(
    cfg: Config, state: NoiseState, key: jax.Array, hp: Hyperparams | None = None
) -> tuple[NoiseState, jax.Array]:
    """Advance the noise one step; returns the new state and noise `[num_envs, action_size]`."""
    eps = jax.random.normal(key, state.ou.shape, state.ou.dtype)  # both types draw this

    def gaussian():
        return state, eps * state.scale[:, None]

    def ou():
        x = _ou_step(cfg, hp, state.ou, eps)
        expl = hps.value(cfg, hp, "expl_noise")
        if isinstance(expl, float | int):
            relative = state.scale / expl if expl > 0 else jnp.zeros_like(state.scale)
        else:
            relative = jnp.where(expl > 0, state.scale / jnp.where(expl > 0, expl, 1.0), 0.0)
        return state.replace(ou=x), x * relative[:, None]

    return hps.where(hps.is_choice(cfg, hp, "noise_type", "gaussian"), gaussian, ou)


def end_step(
    cfg: Config, state: NoiseState, episode_over: jax.Array, hp: Hyperparams | None = None
) -> NoiseState:
    """After an env step: reset the OU state of envs whose episode ended and decay the scale.

    `episode_over` `[num_envs]` is true for terminated or truncated envs.
    """
    over = episode_over.astype(bool)
    ou = jnp.where(over[:, None], 0.0, state.ou)
    every_step = hps.is_choice(cfg, hp, "noise_decay_mode", "step")
    per_episode = hps.is_choice(cfg, hp, "noise_decay_mode", "episode")
    if isinstance(every_step, bool):
        if every_step:
            decays = jnp.ones_like(state.scale, dtype=bool)
        elif per_episode:
            decays = over
        else:
            decays = jnp.zeros_like(state.scale, dtype=bool)
    else:
        decays = every_step | (per_episode & over)
    decay, floor = hps.value(cfg, hp, "noise_decay"), hps.value(cfg, hp, "min_expl_noise")
    decayed = jnp.maximum(state.scale * decay, floor)
    return NoiseState(ou=ou, scale=jnp.where(decays, decayed, state.scale))
