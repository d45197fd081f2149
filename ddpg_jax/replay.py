"""Uniform replay buffer as pure functions over a pytree with a circular write index.

`add` writes a whole batch of transitions (one row per env) with one scatter; `sample` draws
`batch_size` indices uniformly over the filled part, so both cost O(batch), never O(capacity).
Donate the buffer to the jitted caller so XLA updates it in place. A leading seed axis is just
`jax.vmap` over all three functions.

With n-step returns (`ddpg_jax.nstep`) each row also carries its own bootstrap `discount`
(`gamma^m * (1 - terminated)`, m <= n the steps the return summed); `init(...,
with_discount=True)` makes room for it. Without it the field is `None`, which is no pytree leaf,
so the default buffer has exactly the leaves and shapes it always had.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class Transition:
    obs: jax.Array  # [..., obs_size]
    action: jax.Array  # [..., action_size]
    reward: jax.Array  # [...]
    next_obs: jax.Array  # [..., obs_size]; the true final obs at a time limit
    terminated: jax.Array  # [...]; 1.0 only for real terminations, never for truncation
    discount: jax.Array | None = None  # [...]; per-row bootstrap factor (n-step), else None


@struct.dataclass
class ReplayState:
    data: Transition  # every leaf has a leading [capacity] axis
    insert_pos: jax.Array  # [] int32, next row to write
    size: jax.Array  # [] int32, rows filled so far (<= capacity)

    @property
    def capacity(self) -> int:
        return self.data.reward.shape[0]


def init(
    capacity: int, obs_size: int, action_size: int, with_discount: bool = False
) -> ReplayState:
    """An empty buffer of `capacity` rows; `with_discount` stores a per-row `discount` too."""
    if capacity < 1:
        raise ValueError(f"replay capacity must be >= 1, got {capacity}")
    f32 = jnp.float32
    data = Transition(
        obs=jnp.zeros((capacity, obs_size), f32),
        action=jnp.zeros((capacity, action_size), f32),
        reward=jnp.zeros((capacity,), f32),
        next_obs=jnp.zeros((capacity, obs_size), f32),
        terminated=jnp.zeros((capacity,), f32),
        discount=jnp.zeros((capacity,), f32) if with_discount else None,
    )
    zero = jnp.zeros((), jnp.int32)
    return ReplayState(data=data, insert_pos=zero, size=zero)


def add(state: ReplayState, batch: Transition, valid: jax.Array | None = None) -> ReplayState:
    """Append `n` transitions (leading axis n, n <= capacity), overwriting the oldest.

    `valid` `[n]` (optional) marks the rows to keep: the others are neither written nor
    counted, and the kept ones are packed in order (an n-step window that is not yet full has
    nothing to add). `batch` must carry a `discount` exactly when the buffer does.
    """
    n = batch.reward.shape[0]
    if n > state.capacity:
        raise ValueError(
            f"cannot add {n} transitions at once to a buffer of capacity "
            f"{state.capacity}; raise buffer_size or lower num_envs"
        )
    if (batch.discount is None) != (state.data.discount is None):
        raise ValueError(
            "transitions carry a discount exactly when the buffer does: "
            "use replay.init(..., with_discount=True) with n-step transitions"
        )
    offsets = jnp.arange(n, dtype=jnp.int32)
    if valid is None:
        added, rows, mode = n, (state.insert_pos + offsets) % state.capacity, None
    else:
        valid = valid.astype(bool)
        added = jnp.sum(valid, dtype=jnp.int32)
        # Kept rows get consecutive rows; dropped rows point past the end (each to its own index,
        # so the indices stay unique) and the scatter's mode="drop" discards them.
        packed = (state.insert_pos + jnp.cumsum(valid, dtype=jnp.int32) - 1) % state.capacity
        rows, mode = jnp.where(valid, packed, state.capacity + offsets), "drop"
    data = jax.tree.map(
        lambda store, new: store.at[rows].set(
            new.astype(store.dtype), unique_indices=True, mode=mode
        ),
        state.data,
        batch,
    )
    return ReplayState(
        data=data,
        insert_pos=(state.insert_pos + added) % state.capacity,
        size=jnp.minimum(state.size + added, state.capacity),
    )


def sample(state: ReplayState, key: jax.Array, batch_size: int) -> Transition:
    """`batch_size` transitions drawn uniformly, with replacement, from the filled rows.

    With an empty buffer it returns row 0 (zeros); the training loop samples only after its
    warm-up has filled at least one batch.
    """
    rows = jax.random.randint(key, (batch_size,), 0, jnp.maximum(state.size, 1))
    return jax.tree.map(lambda store: store[rows], state.data)
