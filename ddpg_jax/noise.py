"""Exploration noise as a pytree: Gaussian or Ornstein-Uhlenbeck, one state per env.

Noise is in units of the action half-range; the caller scales it to the bounds, adds it to
mu(s) and clips. The noise scale starts at `expl_noise` and decays by `noise_decay` per env step
or per finished episode of that env, never below `min_expl_noise`. For OU noise the process
output is multiplied by `scale / expl_noise`, so decay shrinks it the same way.

With `cfg.per_env_noise` (FastTD3's exploration for many envs) each env instead starts from its
own scale drawn uniformly from `[noise_std_min, noise_std_max]` and draws a new one whenever its
episode ends (`redraw`, called after `end_step`), so at any time the envs explore at a spread of
scales; decay still applies between redraws.

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


def init(
    cfg: Config,
    num_envs: int,
    action_size: int,
    hp: Hyperparams | None = None,
    key: jax.Array | None = None,
) -> NoiseState:
    """Zero OU state; every env at scale `expl_noise`, or (with `cfg.per_env_noise`, which needs
    `key`) at its own scale drawn from `[noise_std_min, noise_std_max]`."""
    if cfg.per_env_noise:
        if key is None:
            raise ValueError("noise.init needs a key when cfg.per_env_noise is on")
        scale = draw_scales(cfg, key, num_envs)
    else:
        scale = jnp.full((num_envs,), hps.value(cfg, hp, "expl_noise"), jnp.float32)
    return NoiseState(ou=jnp.zeros((num_envs, action_size), jnp.float32), scale=scale)


def draw_scales(cfg: Config, key: jax.Array, num_envs: int) -> jax.Array:
    """`[num_envs]` scales uniform on `[noise_std_min, noise_std_max]`."""
    return jax.random.uniform(
        key, (num_envs,), jnp.float32, minval=cfg.noise_std_min, maxval=cfg.noise_std_max
    )


def redraw(
    cfg: Config,
    state: NoiseState,
    episode_over: jax.Array,
    key: jax.Array,
    fresh: jax.Array | None = None,
) -> NoiseState:
    """With `cfg.per_env_noise`: envs whose episode ended (`episode_over` `[num_envs]`) draw a
    new scale from `[noise_std_min, noise_std_max]`; the others keep theirs. Without it the
    state is returned unchanged (the loop need not call it). `fresh` `[num_envs]`: the scales
    `draw_scales` drew, when the caller draws them (a device's envs' part of a draw over all
    envs); default drawn from `key`."""
    if not cfg.per_env_noise:
        return state
    if fresh is None:
        fresh = draw_scales(cfg, key, state.scale.shape[0])
    return state.replace(scale=jnp.where(episode_over.astype(bool), fresh, state.scale))


def _ou_step(cfg: Config, hp: Hyperparams | None, x: jax.Array, eps: jax.Array) -> jax.Array:
    """Discrete OU: x + theta * (0 - x) * dt + sigma * sqrt(dt) * eps, eps ~ N(0, 1)."""
    theta, sigma = hps.value(cfg, hp, "ou_theta"), hps.value(cfg, hp, "ou_sigma")
    return x - theta * x * cfg.ou_dt + sigma * jnp.sqrt(cfg.ou_dt) * eps


def sample(
    cfg: Config,
    state: NoiseState,
    key: jax.Array,
    hp: Hyperparams | None = None,
    draw: jax.Array | None = None,
) -> tuple[NoiseState, jax.Array]:
    """Advance the noise one step; returns the new state and noise `[num_envs, action_size]`.

    `draw`: the standard normal draw `[num_envs, action_size]` when the caller makes it (a
    device's envs' part of a draw over all envs); default drawn from `key`."""
    eps = draw  # both noise types use this draw
    if eps is None:
        eps = jax.random.normal(key, state.ou.shape, state.ou.dtype)

    def gaussian():
        return state, eps * state.scale[:, None]

    def ou():
        x = _ou_step(cfg, hp, state.ou, eps)
        expl = hps.value(cfg, hp, "expl_noise")
        relative = hps.where(
            expl > 0,
            lambda: state.scale / jnp.where(expl > 0, expl, 1.0),  # no 0/0 in the unused branch
            lambda: jnp.zeros_like(state.scale),
        )
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
    decays = hps.where(
        every_step,
        lambda: jnp.ones_like(state.scale, dtype=bool),
        lambda: hps.where(per_episode, lambda: over, lambda: jnp.zeros_like(over)),
    )
    decay, floor = hps.value(cfg, hp, "noise_decay"), hps.value(cfg, hp, "min_expl_noise")
    decayed = jnp.maximum(state.scale * decay, floor)
    return NoiseState(ou=ou, scale=jnp.where(decays, decayed, state.scale))
