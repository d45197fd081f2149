"""The jitted training loop: `make_train(cfg, env)` composes the core with batched envs.

A run has two phases, each its own `lax.scan` over iterations (one vectorised env step of one
seed each):
- warm-up (`cfg.warmup_steps`, at least one batch): uniform random actions fill the replay
  buffer; nothing else is computed;
- learning: act with the actor and exploration noise, step all envs, add the transitions,
  then `updates_per_step` calls of `agent.update`. With `policy_delay > 1` the actor and
  target half of an update runs under a `lax.cond` on the loop's own update count, which is
  the same for every seed (not vmapped), so the skipped half is skipped, not computed and
  thrown away.
Seeds are a leading axis on every leaf of the carry, vmapped (or, for one seed, indexed away:
`per_seed`); each phase's chunk is one jitted call with the carry donated. The host loop
between chunks (`ddpg_jax.host_loop`) logs, evaluates and checkpoints. Noise-free evaluation is
built apart, by `rollout.make_evaluate`.

`make_train` reads as its builders, each a plain function of a `Setup` that can be read and
traced on its own: `init`, then per iteration `observe`, `step_and_store` and `learn`
(`warmup_iteration`, `learn_iteration`), and `chunk`, which scans either iteration.

On a device mesh (`ddpg_jax.mesh`) whose `envs` axis splits each seed, `init` and the chunks
run per device under `shard_map`, each device with its envs, noise, n-step window and replay
shards (`Setup.split`, `ddpg_jax.env_shards`); without one they are exactly the one-device
program.

Hyperparameter sweeps (`sweep.py`) use the same functions: `init(key, hp)` stores traced
hyperparameters (`ddpg_jax.hyperparams.Hyperparams`) in the train state, and every later step
reads them from there, so variants stack on the vmapped axis together with seeds.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ddpg_jax import agent, chunk_metrics, env_shards, envs, mesh, noise, nstep, replay, rollout
from ddpg_jax import hyperparams as hps
from ddpg_jax import normalizer as norm
from ddpg_jax.config import Config
from ddpg_jax.env_shards import EnvShards
from ddpg_jax.hyperparams import Hyperparams
from ddpg_jax.schedule import warmup_iterations
from ddpg_jax.tracing import count_traces

Metrics = dict[str, Any]


@struct.dataclass
class TrainCarry:
    """Everything one seed's training needs to continue (checkpointed as a whole)."""

    train_state: agent.TrainState  # networks, targets, optimizer states, obs normalizer
    buffer: replay.ReplayState
    env_state: Any  # envs.State of the batch of training envs, [num_envs, ...]
    noise: noise.NoiseState
    key: jax.Array  # typed PRNG key
    iteration: jax.Array  # [] int32, vectorised env steps done by this seed
    window: Any = None  # nstep.NStepState of the last n steps with n-step returns, else None


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The pure functions of a run.

    Attributes:
      init: `(key, hp=None) -> TrainCarry` for one seed; `hp` traces hyperparameters (a
        sweep), None traces none.
      init_seeds: jit(vmap(init)).
      warmup_seeds: `(carry, first, stop) -> (carry, sums)`, the warm-up iterations in
        `[first, stop)` of all seeds, in one chunk of `chunk_iterations` starting at `first`.
      learn_seeds: `(carry, first, start, stop) -> (carry, sums)`, the learning iterations in
        `[start, stop)` of the chunk starting at `first`. The bounds are int32 scalars, the
        same for every seed.
      evaluate_seeds: `(train_state, keys) -> returns` of `rollout.make_evaluate`.
      warmup_iterations: length of the warm-up phase in vectorised steps.
    """

    cfg: Config
    chunk_iterations: int
    warmup_iterations: int
    init: Callable[..., TrainCarry]
    init_seeds: Callable[..., TrainCarry]
    warmup_seeds: Callable[..., tuple[TrainCarry, Metrics]]
    learn_seeds: Callable[..., tuple[TrainCarry, Metrics]]
    evaluate_seeds: Callable[[agent.TrainState, jax.Array], Metrics]

    def train_chunk_seeds(
        self,
        carry: TrainCarry,
        first_iteration: int | None = None,
        length: int | None = None,
        warmup_end: int | None = None,
    ) -> tuple[TrainCarry, Metrics]:
        """Iterations `[first_iteration, first_iteration + length)` of every seed, each phase
        by its own program; returns the carry and the chunk's per-seed metrics
        (`chunk_metrics.summarise`, on the host), waiting for both.

        `first_iteration` defaults to the carry's own counter (read from the device);
        `length` to `chunk_iterations`; `warmup_end`, the iteration where learning starts, to
        `warmup_iterations` (a resume without its replay buffer warms up again)."""
        if first_iteration is None:
            first_iteration = int(np.asarray(carry.iteration).reshape(-1)[0])
        length = self.chunk_iterations if length is None else length
        warmup_end = self.warmup_iterations if warmup_end is None else warmup_end
        if not 0 < length <= self.chunk_iterations:
            raise ValueError(f"a chunk has 1 to {self.chunk_iterations} iterations, not {length}")
        end = first_iteration + length
        first = jnp.int32(first_iteration)
        runs = phases(first_iteration, length, warmup_end)
        parts = []
        if "warm-up" in runs:
            carry, sums = self.warmup_seeds(carry, first, jnp.int32(min(end, warmup_end)))
            parts.append(sums)
        if "learning" in runs:
            start = max(first_iteration, warmup_end)
            carry, sums = self.learn_seeds(carry, first, jnp.int32(start), jnp.int32(end))
            parts.append(sums)
        return carry, chunk_metrics.summarise(parts)


def phases(first_iteration: int, length: int, warmup_end: int) -> set[str]:
    """The programs a chunk of `length` iterations from `first_iteration` runs: "warm-up"
    (iterations before `warmup_end`), "learning" (iterations from it on), or both."""
    runs = set()
    if first_iteration < warmup_end:
        runs.add("warm-up")
    if first_iteration + length > warmup_end:
        runs.add("learning")
    return runs


def per_seed(fn: Callable, carry: Any) -> Any:
    """`jax.vmap(fn)(carry)` over the leading seed axis; with a single seed, `fn` on that seed
    unvmapped, so that its matmuls stay plain ones, which XLA's CPU backend runs faster than
    batched ones (BENCHMARKS.md, "Unvmapped"). The axis size is static, so this is a trace-time
    choice."""
    if jax.tree.leaves(carry)[0].shape[0] == 1:
        out = fn(jax.tree.map(lambda leaf: leaf[0], carry))
        return jax.tree.map(lambda leaf: leaf[None], out)
    return jax.vmap(fn)(carry)


@dataclasses.dataclass(frozen=True)
class Setup:
    """What every builder reads: the static config, the batched training env, its sizes and
    action bounds."""

    cfg: Config
    env: Any  # envs.wrap_for_training(...): batched reset(keys) and step(state, actions)
    obs_size: int
    action_size: int
    low: jax.Array  # [action_size] float32
    high: jax.Array  # [action_size] float32
    split: EnvShards | None = None
    """How each seed's envs and buffer are split over the mesh's `envs` axis (the iteration
    then runs under `shard_map`); None: one device holds a seed whole."""

    def rows(self, x: jax.Array) -> jax.Array:
        """This device's envs' rows of a draw `[num_envs, ...]` over all envs."""
        return x if self.split is None else self.split.rows(x)

    @property
    def axis_name(self) -> str | None:
        """The mesh axis gradients and metrics are averaged over, if a seed is split."""
        return None if self.split is None else env_shards.AXIS


def make_train(
    cfg: Config,
    env: Any,
    chunk_iterations: int,
    episode_length: int = 1000,
    eval_envs: int = 10,
    layout: mesh.Layout | None = None,
) -> Trainer:
    """Builds the pure training functions for `env` (an `envs.Env`, unwrapped).

    Args:
      cfg: hyperparameters (static).
      env: one unbatched env; it is wrapped here for training (auto-reset, time limit) and
        by `rollout.make_evaluate` for evaluation.
      chunk_iterations: vectorised env steps per chunk of the host loop.
      episode_length: time limit, as Gymnasium's `max_episode_steps`.
      eval_envs: noise-free evaluation episodes per seed, run in parallel.
      layout: the device mesh (`ddpg_jax.mesh`); None or one without replay shards: the
        single-device program (seeds sharded by jit, if the mesh has several devices).
    """
    split = None
    if layout is not None and layout.splits_envs:
        split = EnvShards(cfg.num_envs, layout.shards, layout.envs)
    setup = Setup(
        cfg=cfg,
        env=envs.wrap_for_training(env, episode_length=episode_length),
        obs_size=env.observation_size,
        action_size=env.action_size,
        low=jnp.asarray(env.action_low, jnp.float32),
        high=jnp.asarray(env.action_high, jnp.float32),
        split=split,
    )
    seed_init = functools.partial(init, setup)
    warmup_chunk = functools.partial(chunk, setup, warmup_iteration, chunk_iterations)
    learn_chunk = functools.partial(chunk, setup, learn_iteration, chunk_iterations)

    def warmup_seeds(carry: TrainCarry, first, stop):
        return per_seed(lambda c: warmup_chunk(c, first, first, stop), carry)

    def learn_seeds(carry: TrainCarry, first, start, stop):
        return per_seed(lambda c: learn_chunk(c, first, start, stop), carry)

    init_seeds = jax.vmap(seed_init)
    if split is not None:
        whole = jax.vmap(functools.partial(init, dataclasses.replace(setup, split=None)))
        init_seeds, warmup_seeds, learn_seeds = mesh.on_mesh(
            layout, whole, init_seeds, warmup_seeds, learn_seeds
        )
    return Trainer(
        cfg=cfg,
        chunk_iterations=chunk_iterations,
        warmup_iterations=warmup_iterations(cfg),
        init=seed_init,
        init_seeds=jax.jit(init_seeds),
        warmup_seeds=jax.jit(count_traces("warmup_chunk", warmup_seeds), donate_argnums=0),
        learn_seeds=jax.jit(count_traces("train_chunk", learn_seeds), donate_argnums=0),
        evaluate_seeds=rollout.make_evaluate(cfg, env, episode_length, eval_envs),
    )


def init(setup: Setup, key: jax.Array, hp: Hyperparams | None = None) -> TrainCarry:
    """One seed's fresh carry: networks, empty buffer, reset envs, noise; `hp` traces
    hyperparameters (a sweep's variant), None traces none."""
    cfg, obs_size, action_size = setup.cfg, setup.obs_size, setup.action_size
    n_step = cfg.n_step > 1
    agent_key, env_key, key = jax.random.split(key, 3)
    noise_key = None
    if cfg.per_env_noise:  # split only then, so the default random streams stay as they were
        key, noise_key = jax.random.split(key)
    train_state = agent.init(cfg, obs_size, action_size, agent_key, setup.low, setup.high, hp)
    split, local_envs = setup.split, cfg.num_envs
    if split is None:
        buffer = replay.init(cfg.buffer_size, obs_size, action_size, with_discount=n_step)
    else:  # this device's envs, and its shards: [shards per device, ...], each its own index
        local_envs //= split.devices
        capacity = cfg.buffer_size // split.devices
        buffer = env_shards.init_buffer(split.per_device, capacity, obs_size, action_size, n_step)
    exploration = noise.init(cfg, cfg.num_envs, action_size, hp, key=noise_key)
    return TrainCarry(
        train_state=train_state,
        buffer=buffer,
        env_state=setup.env.reset(setup.rows(jax.random.split(env_key, cfg.num_envs))),
        noise=jax.tree.map(setup.rows, exploration),
        key=key,
        iteration=jnp.zeros((), jnp.int32),
        window=nstep.init(local_envs, obs_size, action_size, cfg.n_step) if n_step else None,
    )


def observe(setup: Setup, carry: TrainCarry) -> TrainCarry:
    """The observation normaliser sees every observation the agent acts on."""
    train_state = carry.train_state
    normalize_obs = hps.value(setup.cfg, train_state.hp, "normalize_obs")
    if normalize_obs is False:
        return carry
    obs = carry.env_state.obs.astype(jnp.float32)
    if setup.split is not None:  # the statistics of all envs, the same on every device
        obs = setup.split.gather(obs)
    normalizer = hps.where(
        normalize_obs,
        lambda: norm.update(train_state.normalizer, obs),
        lambda: train_state.normalizer,
    )
    return carry.replace(train_state=train_state.replace(normalizer=normalizer))


def step_and_store(
    setup: Setup, carry: TrainCarry, action: jax.Array, key: jax.Array
) -> tuple[TrainCarry, Any]:
    """Steps every env with `action`, adds the transitions to the replay buffer and moves the
    carry on by one iteration (its key becomes `key`); returns the carry and the env state.

    With n-step returns the step enters a window of the last n steps per env, and the step
    leaving it (once the window is full) is stored with its return and discount."""
    env_state = setup.env.step(carry.env_state, action)
    transition = replay.Transition(
        obs=carry.env_state.obs,
        action=action,
        reward=env_state.reward,
        next_obs=env_state.info["final_obs"],  # the true last obs, also at a time limit
        terminated=env_state.done,  # time limits are not terminations
    )
    window = carry.window
    if setup.cfg.n_step > 1:
        gamma = hps.value(setup.cfg, carry.train_state.hp, "gamma")
        over = env_state.info["episode_done"] > 0
        window, transition, valid = nstep.push(window, transition, over, gamma)
    else:
        valid = None
    if setup.split is None:
        buffer = replay.add(carry.buffer, transition, valid)
    else:
        buffer = env_shards.add(setup.split, carry.buffer, transition, valid)
    carry = carry.replace(
        buffer=buffer, env_state=env_state, key=key, iteration=carry.iteration + 1, window=window
    )
    return carry, env_state


def warmup_iteration(setup: Setup, carry: TrainCarry, _) -> tuple[TrainCarry, Metrics]:
    """One warm-up iteration: uniform random actions, stored; nothing learns."""
    key, act_key, _ = jax.random.split(carry.key, 3)
    carry = observe(setup, carry)
    # Drawn from a split of `act_key`, not from `act_key` itself: the random actions, and so
    # the runs on record, stay reproducible with this code.
    _, random_key = jax.random.split(act_key)
    shape = (setup.cfg.num_envs, setup.action_size)
    action = setup.rows(jax.random.uniform(random_key, shape, minval=setup.low, maxval=setup.high))
    carry, env_state = step_and_store(setup, carry, action, key)
    return carry, _episode_sums(env_state.info)


def learn_iteration(
    setup: Setup, carry: TrainCarry, iteration: jax.Array
) -> tuple[TrainCarry, Metrics]:
    """One learning iteration: act with exploration noise, step and store, then
    `updates_per_step` updates."""
    cfg = setup.cfg
    key, act_key, learn_key = jax.random.split(carry.key, 3)
    carry = observe(setup, carry)
    noise_key, redraw_key = jax.random.split(act_key)
    ts = carry.train_state
    greedy = agent.act(cfg, ts, carry.env_state.obs.astype(jnp.float32))
    draw = jax.random.normal(noise_key, (cfg.num_envs, setup.action_size), jnp.float32)
    noise_state, eps = noise.sample(cfg, carry.noise, noise_key, ts.hp, draw=setup.rows(draw))
    action = jnp.clip(greedy + eps * ts.action_scale, setup.low, setup.high)
    carry, env_state = step_and_store(setup, carry, action, key)
    episode_over = env_state.info["episode_done"] > 0
    noise_state = noise.end_step(cfg, noise_state, episode_over, ts.hp)
    fresh = None
    if cfg.per_env_noise:
        fresh = setup.rows(noise.draw_scales(cfg, redraw_key, cfg.num_envs))
    noise_state = noise.redraw(cfg, noise_state, episode_over, redraw_key, fresh=fresh)
    first_update = iteration * cfg.updates_per_step  # the same for every seed
    ts, update_sums = learn(cfg, ts, carry.buffer, learn_key, first_update, setup.split)
    carry = carry.replace(train_state=ts, noise=noise_state)
    return carry, {**_episode_sums(env_state.info), **update_sums}


def learn(
    cfg: Config,
    ts: agent.TrainState,
    buffer: replay.ReplayState,
    key: jax.Array,
    first: Any,
    split: EnvShards | None = None,
) -> tuple[agent.TrainState, Metrics]:
    """`updates_per_step` calls of `agent.update` on fresh batches, numbered from `first`;
    sums of their metrics. With `split`, this device's part of each batch from its own shards,
    and the gradients averaged over the devices that hold the others."""

    def one_update(ts, xs):
        k, index = xs
        if split is None:
            return agent.update(cfg, ts, replay.sample(buffer, k, cfg.batch_size), index)
        batch = env_shards.sample(split, buffer, k, cfg.batch_size)
        return agent.update(cfg, ts, batch, index, axis_name=env_shards.AXIS)

    keys = jax.random.split(key, cfg.updates_per_step)
    indices = first + jnp.arange(cfg.updates_per_step, dtype=jnp.int32)
    ts, per_update = jax.lax.scan(one_update, ts, (keys, indices))
    sums = {name: jnp.sum(per_update[name]) for name in chunk_metrics.CRITIC_METRICS}
    actor_loss, actor_updates = per_update["actor_loss"], per_update["actor_updates"]
    if cfg.policy_delay > 1:  # a skipped actor half reports NaN: the mean is over those done
        actor_loss = jnp.where(actor_updates > 0, actor_loss, 0.0)
    sums["actor_loss"] = jnp.sum(actor_loss)
    sums["actor_updates"] = jnp.sum(actor_updates)
    sums["updates"] = jnp.float32(cfg.updates_per_step)
    return ts, sums


def chunk(
    setup: Setup, iteration_fn: Callable, length: int, carry: TrainCarry, first, start, stop
) -> tuple[TrainCarry, Metrics]:
    """`length` iterations of `iteration_fn` from `first`; those outside `[start, stop)` do
    nothing. The bounds are the same for every seed (not vmapped), so the skip is a real
    branch: one compiled chunk serves a phase that starts or ends inside a chunk and the
    shorter last chunk of a run."""
    iterate = functools.partial(iteration_fn, setup)
    sums_shape = jax.eval_shape(iterate, carry, first)[1]

    def skip(carry, _):
        return carry, jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), sums_shape)

    def step(carry, iteration):
        active = (iteration >= start) & (iteration < stop)
        return jax.lax.cond(active, iterate, skip, carry, iteration)

    iterations = first + jnp.arange(length, dtype=jnp.int32)
    carry, per_step = jax.lax.scan(step, carry, iterations)
    sums = _sum_steps(per_step)
    sums["noise_scale"] = jnp.mean(carry.noise.scale)
    if setup.split is not None:  # episodes of all envs; update metrics are averaged already
        for name in ("episodes", "return_sum", "length_sum"):
            sums[name] = setup.split.total(sums[name])
        sums["noise_scale"] = setup.split.mean(sums["noise_scale"])
    return carry, sums


def _episode_sums(info: dict[str, jax.Array]) -> Metrics:
    over = (info["episode_done"] > 0).astype(jnp.float32)
    return {
        "episodes": jnp.sum(over),
        "return_sum": jnp.sum(over * info["episode_return"]),
        "length_sum": jnp.sum(over * info["episode_length"]),
    }


def _sum_steps(per_step: Metrics) -> Metrics:
    return {name: jnp.sum(values, axis=0) for name, values in per_step.items()}


def checkpoint_item(carry: TrainCarry) -> TrainCarry:
    """The carry as checkpointed: its train state as a mapping of every field but `hp`.

    Traced hyperparameters are not saved (the run's config.yaml holds their values), so a
    sweep variant's checkpoint is that of a plain run of its config, and resumes as one.
    `from_checkpoint_item` inverts it.
    """
    ts = carry.train_state
    fields = {f.name: getattr(ts, f.name) for f in dataclasses.fields(ts) if f.name != "hp"}
    return carry.replace(train_state=fields)


def from_checkpoint_item(item: TrainCarry, like: TrainCarry) -> TrainCarry:
    """A restored `checkpoint_item` back as a carry, with the `hp` of `like`."""
    train_state = agent.TrainState(**item.train_state, hp=like.train_state.hp)
    return item.replace(train_state=train_state)
