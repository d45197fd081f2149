"""Running observation normalisation (seed 000's RunningStatNorm) as a pure pytree.

Statistics are merged batch by batch with the parallel Welford formula, starting from a count
of 1e-4 (as SB3's VecNormalize), so the result equals the mean/variance of the whole stream up
to that tiny prior.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

INITIAL_COUNT = 1e-4
EPS = 1e-5
CLIP = 5.0


@struct.dataclass
class NormalizerState:
    mean: jax.Array  # [obs_size]
    var: jax.Array  # [obs_size]
    count: jax.Array  # []


def init(obs_size: int) -> NormalizerState:
    return NormalizerState(
        mean=jnp.zeros((obs_size,), jnp.float32),
        var=jnp.ones((obs_size,), jnp.float32),
        count=jnp.asarray(INITIAL_COUNT, jnp.float32),
    )


def update(state: NormalizerState, batch: jax.Array) -> NormalizerState:
    """Merge a batch `[n, obs_size]` into the running statistics."""
    batch = batch.reshape(-1, state.mean.shape[-1]).astype(state.mean.dtype)
    batch_count = jnp.asarray(batch.shape[0], state.count.dtype)
    batch_mean = jnp.mean(batch, axis=0)
    batch_var = jnp.var(batch, axis=0)
    total = state.count + batch_count
    delta = batch_mean - state.mean
    mean = state.mean + delta * batch_count / total
    m2 = state.var * state.count + batch_var * batch_count
    m2 = m2 + jnp.square(delta) * state.count * batch_count / total
    return NormalizerState(mean=mean, var=m2 / total, count=total)


def normalize(state: NormalizerState, obs: jax.Array) -> jax.Array:
    """`(obs - mean) / sqrt(var + 1e-5)`, clipped to [-5, 5]."""
    return jnp.clip((obs - state.mean) / jnp.sqrt(state.var + EPS), -CLIP, CLIP)
