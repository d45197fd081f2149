"""Where a run's arrays live: a two-axis device mesh `(seeds, envs)` and the sharding of every
leaf of the training carry on it.

`--mesh=SEEDSxENVS` puts the vmapped seeds along `seeds` and splits each seed's envs, replay
buffer, n-step window and noise state along `envs`; `auto` puts as many devices as divide the
seed count on `seeds` and the rest on `envs`. A mesh of one device is no mesh at all: the run is
the single-device program, unchanged. A mesh with one device along `envs` shards only the
seeds, through jit's sharding propagation; more than one runs each seed's iteration under
`shard_map` (`ddpg_jax.env_shards`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ddpg_jax.cli import UsageError
from ddpg_jax.config import Config

SEEDS, ENVS = "seeds", "envs"
AUTO = "auto"


@dataclasses.dataclass(frozen=True)
class Layout:
    """A run's mesh: `seeds` x `envs` devices, and `shards` replay shards per seed."""

    seeds: int
    envs: int
    shards: int
    """Replay shards per seed, a multiple of `envs` (each device holds `shards // envs`). It is
    `envs` for a run; tests ask for more to compare meshes that draw the same batches."""
    devices: tuple[Any, ...]

    @property
    def size(self) -> int:
        return self.seeds * self.envs

    @property
    def splits_envs(self) -> bool:
        """Whether each seed's envs and buffer are split into shards (the `shard_map` path)."""
        return self.shards > 1

    def mesh(self) -> Mesh:
        return Mesh(np.array(self.devices).reshape(self.seeds, self.envs), (SEEDS, ENVS))

    def describe(self) -> str:
        return f"{self.seeds}x{self.envs}"


def parse(text: str) -> tuple[int, int] | None:
    """`SEEDSxENVS` as two counts; None for `auto`. A `UsageError` for anything else."""
    if text == AUTO:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(text))
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise UsageError(f"--mesh={text!r} is invalid: must be SEEDSxENVS (e.g. 1x8, 4x2) or auto")
    return int(match[1]), int(match[2])


def choose(
    text: str, num_seeds: int, cfg: Config, devices: list[Any] | None = None, shards: int = 0
) -> Layout:
    """The layout `--mesh=text` asks for over `devices` (default: all of them) for
    `num_seeds` vmapped seeds; `shards` replay shards per seed (0: one per device on `envs`).

    An explicit mesh must use every device, its seeds count divide the seeds and its envs count
    divide num_envs, batch_size and buffer_size (each device steps, stores and samples its
    equal part); else a `UsageError`. `auto` uses as many devices as such a mesh allows."""
    devices = list(jax.devices() if devices is None else devices)
    asked = parse(text)
    if asked is None:
        seeds = math.gcd(num_seeds, len(devices))
        envs = math.gcd(len(devices) // seeds, _split_sizes(cfg))
        return _layout(seeds, envs, shards, devices[: seeds * envs], cfg)
    seeds, envs = asked
    if seeds * envs != len(devices):
        raise UsageError(
            f"--mesh={text} is invalid: {seeds}x{envs} = {seeds * envs} devices, but there "
            f"{'is' if len(devices) == 1 else 'are'} {len(devices)}"
        )
    if num_seeds % seeds:
        raise UsageError(f"--mesh={text} is invalid: {num_seeds} seed(s) do not divide by {seeds}")
    for name in ("num_envs", "batch_size", "buffer_size"):
        if getattr(cfg, name) % envs:
            raise UsageError(
                f"--mesh={text} is invalid: {name}={getattr(cfg, name)} does not divide by {envs}"
            )
    return _layout(seeds, envs, shards, devices, cfg)


def _split_sizes(cfg: Config) -> int:
    return math.gcd(cfg.num_envs, cfg.batch_size, cfg.buffer_size)


def _layout(seeds: int, envs: int, shards: int, devices: list[Any], cfg: Config) -> Layout:
    shards = shards or envs
    if shards % envs or _split_sizes(cfg) % shards:
        raise ValueError(f"{shards} replay shards do not split {envs} devices and the batch")
    return Layout(seeds=seeds, envs=envs, shards=shards, devices=tuple(devices))


def carry_specs(carry: Any) -> Any:
    """A `PartitionSpec` per leaf of a `loop.TrainCarry` with a leading seeds axis: the train
    state, key and counters along `seeds` only; envs, noise and buffer (whose axis after the
    seeds is the shard or env axis) along `envs` too; the n-step window's env axis is its
    third."""
    seeds, on_envs = PartitionSpec(SEEDS), PartitionSpec(SEEDS, ENVS)

    def every(tree: Any, spec: PartitionSpec) -> Any:
        return jax.tree.map(lambda _: spec, tree)

    window = carry.window
    if window is not None:
        window = every(window, PartitionSpec(SEEDS, None, ENVS)).replace(count=seeds)
    return carry.replace(
        train_state=every(carry.train_state, seeds),
        buffer=every(carry.buffer, on_envs),
        env_state=every(carry.env_state, on_envs),
        noise=every(carry.noise, on_envs),
        key=seeds,
        iteration=seeds,
        window=window,
    )


def shardings(layout: Layout, specs: Any) -> Any:
    """`NamedSharding`s on the layout's mesh for a tree of `PartitionSpec`s."""
    mesh = layout.mesh()
    return jax.tree.map(
        lambda spec: NamedSharding(mesh, spec),
        specs,
        is_leaf=lambda x: isinstance(x, PartitionSpec),
    )


def place(layout: Layout, carry: Any) -> Any:
    """The carry moved onto the layout's devices (as it is, for a mesh of one device)."""
    if layout.size == 1:
        return carry
    if not layout.splits_envs:
        return jax.device_put(carry, NamedSharding(layout.mesh(), PartitionSpec(SEEDS)))
    return jax.device_put(carry, shardings(layout, carry_specs(carry)))


def on_mesh(layout: Layout, whole: Callable, init_seeds: Callable, *chunks: Callable):
    """`init_seeds` `(keys, hp=None) -> carry` and each chunk `(carry, *bounds) -> (carry,
    sums)`, run per device under `shard_map`: the carry split as `carry_specs` says, the
    keys, hyperparameters and per-seed sums (equal on every device along `envs`) along
    `seeds`, the bounds everywhere. `whole` is the unsplit `init_seeds`, traced only for the
    carry's tree structure."""
    grid = layout.mesh()
    seeds = jax.sharding.PartitionSpec(SEEDS)

    def placed(*args):
        specs = carry_specs(jax.eval_shape(whole, *args))
        return jax.shard_map(
            init_seeds, mesh=grid, in_specs=tuple(seeds for _ in args), out_specs=specs
        )(*args)

    def sharded(chunk_fn: Callable) -> Callable:
        def run(carry: Any, *bounds):
            specs = carry_specs(carry)
            bound = jax.sharding.PartitionSpec()
            return jax.shard_map(
                chunk_fn,
                mesh=grid,
                in_specs=(specs, *(bound for _ in bounds)),
                out_specs=(specs, seeds),
                # The chunk's `lax.cond` branches (an iteration, or zeros for a skipped one)
                # would need every device-varying leaf marked as such to type-check; nothing
                # here is differentiated through a collective, so the check adds nothing.
                check_vma=False,
            )(carry, *bounds)

        return functools.wraps(chunk_fn)(run)

    return (placed, *(sharded(c) for c in chunks))
