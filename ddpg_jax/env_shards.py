"""One seed's envs and replay buffer split into shards along the mesh's `envs` axis, as seen
from inside `shard_map` by the device that holds some of them.

Each device steps its own `num_envs / devices` envs and stores their transitions in its own
replay shards (`shards / devices` of them, each `buffer_size / shards` rows, with their own
write index); each shard samples `batch_size / shards` rows of every batch, so a device
samples its own part of the batch and the gradients are averaged over `envs` in the update
(`agent.update(..., axis_name=AXIS)`).

Every random draw over all envs (warm-up actions, exploration noise, per-env noise scales,
target smoothing) is drawn whole and sliced, so a global quantity does not depend on how many
devices share it. What does depend on the shard count is the batch: shard k draws its rows with
`fold_in(key, k)` from its own rows, where one buffer draws `batch_size` rows from all of them.
So a run split into shards follows another random stream than one device, while runs with the
same shard count on different meshes draw the same batches and agree to float32 rounding.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from ddpg_jax import replay
from ddpg_jax.mesh import ENVS

AXIS = ENVS


@dataclasses.dataclass(frozen=True)
class EnvShards:
    """How one seed is split: `num_envs` envs in `shards` replay shards over `devices`."""

    num_envs: int
    shards: int
    devices: int

    @property
    def per_device(self) -> int:
        return self.shards // self.devices

    def rows(self, x: jax.Array) -> jax.Array:
        """This device's block of rows of `x` `[rows, ...]`, drawn for all devices."""
        size = x.shape[0] // self.devices
        return jax.lax.dynamic_slice_in_dim(x, jax.lax.axis_index(AXIS) * size, size)

    def gather(self, x: jax.Array) -> jax.Array:
        """`x` `[local, ...]` of every device, in device order: `[local * devices, ...]`."""
        return jax.lax.all_gather(x, AXIS, tiled=True)

    def total(self, x: jax.Array) -> jax.Array:
        return jax.lax.psum(x, AXIS)

    def mean(self, x: jax.Array) -> jax.Array:
        return jax.lax.pmean(x, AXIS)


def init_buffer(
    shards: int, capacity: int, obs_size: int, action_size: int, with_discount: bool
) -> replay.ReplayState:
    """`shards` empty buffers of `capacity / shards` rows, stacked: every leaf `[shards, ...]`."""
    one = replay.init(capacity // shards, obs_size, action_size, with_discount)
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (shards, *x.shape)), one)


def add(
    split: EnvShards,
    buffer: replay.ReplayState,
    batch: replay.Transition,
    valid: jax.Array | None = None,
) -> replay.ReplayState:
    """This device's envs' transitions `[local_envs, ...]`, each shard's block into it."""
    groups = split.per_device

    def grouped(x: jax.Array) -> jax.Array:
        return x.reshape(groups, x.shape[0] // groups, *x.shape[1:])

    batch = jax.tree.map(grouped, batch)
    if valid is None:
        return jax.vmap(replay.add)(buffer, batch)
    return jax.vmap(replay.add)(buffer, batch, grouped(valid))


def sample(
    split: EnvShards, buffer: replay.ReplayState, key: jax.Array, batch_size: int
) -> replay.Transition:
    """This device's part of a batch of `batch_size`: `batch_size / shards` rows from each of
    its shards, shard k drawing with `fold_in(key, k)` (k counted over all devices)."""
    first = jax.lax.axis_index(AXIS) * split.per_device
    keys = jax.vmap(lambda k: jax.random.fold_in(key, first + k))(jnp.arange(split.per_device))
    rows = batch_size // split.shards
    parts = jax.vmap(lambda b, k: replay.sample(b, k, rows))(buffer, keys)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), parts)
