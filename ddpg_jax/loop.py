"""The jitted training loop: `make_train(cfg, env)` composes the core with batched envs.

One iteration (one vectorised env step of one seed): act with exploration noise (uniform
random during warm-up), step all envs, add the transitions, then `updates_per_step` calls of
`agent.update`. A chunk is a `lax.scan` over iterations; seeds are a leading `vmap` axis on
every leaf of the carry, and the whole chunk is one jitted call with the carry donated. The
host loop between chunks (see `train.py`) logs, evaluates and checkpoints.

Hyperparameter sweeps (`sweep.py`) use the same functions: `init(key, hp)` stores traced
hyperparameters (`ddpg_jax.hyperparams.Hyperparams`) in the train state, and every later step
reads them from there, so variants stack on the vmapped axis together with seeds.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from ddpg_jax import agent, noise, replay
from ddpg_jax import hyperparams as hps
from ddpg_jax import normalizer as norm
from ddpg_jax.config import Config
from ddpg_jax.hyperparams import Hyperparams

Metrics = dict[str, jax.Array]


@struct.dataclass
class TrainCarry:
    """Everything one seed's training needs to continue (checkpointed as a whole)."""

    train_state: agent.TrainState  # networks, targets, optimizer states, obs normalizer
    buffer: replay.ReplayState
    env_state: Any  # envs.State of the batch of training envs, [num_envs, ...]
    noise: noise.NoiseState
    key: jax.Array  # typed PRNG key
    iteration: jax.Array  # [] int32, vectorised env steps done by this seed


@dataclasses.dataclass(frozen=True)
class Trainer:
    """The pure functions of a run; the `*_seeds` ones take a leading seed axis and are jitted.

    Attributes:
      init: `(key, hp=None) -> TrainCarry` for one seed; `hp` traces hyperparameters (a
        sweep), None traces none.
      train_chunk: `carry -> (carry, metrics)`, `chunk_iterations` iterations of one seed.
      evaluate: `(train_state, key) -> metrics` noise-free returns of `eval_envs` episodes.
      init_seeds, train_chunk_seeds, evaluate_seeds: jit(vmap(...)) of the three above.
    """

    cfg: Config
    chunk_iterations: int
    init: Callable[..., TrainCarry]
    train_chunk: Callable[[TrainCarry], tuple[TrainCarry, Metrics]]
    evaluate: Callable[[agent.TrainState, jax.Array], Metrics]
    init_seeds: Callable[..., TrainCarry]
    train_chunk_seeds: Callable[[TrainCarry], tuple[TrainCarry, Metrics]]
    evaluate_seeds: Callable[[agent.TrainState, jax.Array], Metrics]

    @property
    def env_steps_per_chunk(self) -> int:
        return self.chunk_iterations * self.cfg.num_envs


def iterations_for(cfg: Config, env_steps: int) -> int:
    """Vectorised iterations needed for `env_steps` env steps of one seed (rounded up)."""
    return max(1, math.ceil(env_steps / cfg.num_envs))


def make_train(
    cfg: Config,
    env: Any,
    chunk_iterations: int,
    episode_length: int = 1000,
    eval_envs: int = 10,
) -> Trainer:
    """Builds the pure training functions for `env` (an `envs.MjxEnv`, unwrapped).

    Args:
      cfg: hyperparameters (static).
      env: one unbatched env; it is wrapped here for training (auto-reset, time limit) and
        separately for evaluation (time limit, no auto-reset).
      chunk_iterations: vectorised env steps per `train_chunk` call.
      episode_length: time limit, as Gymnasium's `max_episode_steps`.
      eval_envs: noise-free evaluation episodes per seed, run in parallel.
    """
    import envs  # the loop is the one place that composes core and envs

    train_env = envs.wrap_for_training(env, episode_length=episode_length)
    eval_env = envs.VmapWrapper(envs.EpisodeWrapper(env, episode_length=episode_length))
    obs_size, action_size = env.observation_size, env.action_size
    low = jnp.asarray(env.action_low, jnp.float32)
    high = jnp.asarray(env.action_high, jnp.float32)
    warmup_iterations = math.ceil(cfg.warmup_steps / cfg.num_envs)

    def init(key: jax.Array, hp: Hyperparams | None = None) -> TrainCarry:
        agent_key, env_key, key = jax.random.split(key, 3)
        train_state = agent.init(cfg, obs_size, action_size, agent_key, low, high, hp)
        env_state = train_env.reset(jax.random.split(env_key, cfg.num_envs))
        return TrainCarry(
            train_state=train_state,
            buffer=replay.init(cfg.buffer_size, obs_size, action_size),
            env_state=env_state,
            noise=noise.init(cfg, cfg.num_envs, action_size, hp),
            key=key,
            iteration=jnp.zeros((), jnp.int32),
        )

    def explore(carry: TrainCarry, key: jax.Array) -> tuple[noise.NoiseState, jax.Array]:
        """Actions of all envs: mu(s) + noise, clipped; uniform random during warm-up."""
        noise_key, random_key = jax.random.split(key)
        obs = carry.env_state.obs.astype(jnp.float32)
        greedy = agent.act(cfg, carry.train_state, obs)
        noise_state, eps = noise.sample(cfg, carry.noise, noise_key, carry.train_state.hp)
        noisy = jnp.clip(greedy + eps * carry.train_state.action_scale, low, high)
        uniform = jax.random.uniform(random_key, noisy.shape, minval=low, maxval=high)
        return noise_state, jnp.where(carry.iteration < warmup_iterations, uniform, noisy)

    def learn(train_state: agent.TrainState, buffer: replay.ReplayState, key: jax.Array):
        def one_update(ts, k):
            return agent.update(cfg, ts, replay.sample(buffer, k, cfg.batch_size))

        keys = jax.random.split(key, cfg.updates_per_step)
        train_state, metrics = jax.lax.scan(one_update, train_state, keys)
        return train_state, jax.tree.map(jnp.mean, metrics)

    def skip_learning(train_state, buffer, key):
        del buffer, key
        zero = jnp.zeros((), jnp.float32)
        return train_state, {k: zero for k in _UPDATE_METRICS}

    def iteration(carry: TrainCarry, _) -> tuple[TrainCarry, Metrics]:
        key, act_key, learn_key = jax.random.split(carry.key, 3)
        train_state = carry.train_state
        normalize_obs = hps.value(cfg, train_state.hp, "normalize_obs")
        if normalize_obs is not False:  # True, or traced: update where it is on
            obs = carry.env_state.obs.astype(jnp.float32)
            normalizer = hps.where(
                normalize_obs,
                lambda: norm.update(train_state.normalizer, obs),
                lambda: train_state.normalizer,
            )
            train_state = train_state.replace(normalizer=normalizer)
            carry = carry.replace(train_state=train_state)
        noise_state, action = explore(carry, act_key)
        env_state = train_env.step(carry.env_state, action)
        info = env_state.info
        buffer = replay.add(
            carry.buffer,
            replay.Transition(
                obs=carry.env_state.obs,
                action=action,
                reward=env_state.reward,
                next_obs=info["final_obs"],  # the true last obs, also at a time limit
                terminated=env_state.done,  # time limits are not terminations
            ),
        )
        episode_over = info["episode_done"] > 0
        # Warm-up actions are uniform, not noisy: the noise schedule starts with the actor.
        exploring = carry.iteration >= warmup_iterations
        noise_state = agent.tree_where(
            exploring, noise.end_step(cfg, noise_state, episode_over, train_state.hp), noise_state
        )
        learning = (carry.iteration + 1 >= warmup_iterations) & replay.can_sample(
            buffer, cfg.batch_size
        )
        train_state, update_metrics = jax.lax.cond(
            learning, learn, skip_learning, train_state, buffer, learn_key
        )
        over = episode_over.astype(jnp.float32)
        step_metrics = {
            **update_metrics,
            "learning": learning.astype(jnp.float32),
            "episodes": jnp.sum(over),
            "return_sum": jnp.sum(over * info["episode_return"]),
            "length_sum": jnp.sum(over * info["episode_length"]),
            "noise_scale": jnp.mean(noise_state.scale),
        }
        carry = TrainCarry(
            train_state=train_state,
            buffer=buffer,
            env_state=env_state,
            noise=noise_state,
            key=key,
            iteration=carry.iteration + 1,
        )
        return carry, step_metrics

    def train_chunk(carry: TrainCarry) -> tuple[TrainCarry, Metrics]:
        carry, per_step = jax.lax.scan(iteration, carry, None, length=chunk_iterations)
        return carry, _summarise_chunk(per_step)

    def evaluate(train_state: agent.TrainState, key: jax.Array) -> Metrics:
        """Noise-free returns of `eval_envs` fresh episodes (each capped at the time limit)."""
        state = eval_env.reset(jax.random.split(key, eval_envs))

        def step(carry):
            state, alive, total, length, t = carry
            action = agent.act(cfg, train_state, state.obs.astype(jnp.float32))
            state = eval_env.step(state, action)
            total = total + alive * state.reward
            length = length + alive
            ended = (state.done > 0) | (state.info["truncation"] > 0)
            return state, alive * (1.0 - ended), total, length, t + 1

        def running(carry):  # stop once every episode has ended, not at the time limit
            _, alive, _, _, t = carry
            return jnp.any(alive > 0) & (t < episode_length)

        zeros = jnp.zeros((eval_envs,), jnp.float32)
        init_carry = (state, jnp.ones((eval_envs,), jnp.float32), zeros, zeros, 0)
        _, _, returns, lengths, _ = jax.lax.while_loop(running, step, init_carry)
        return {"eval_returns": returns, "eval_lengths": lengths}

    return Trainer(
        cfg=cfg,
        chunk_iterations=chunk_iterations,
        init=init,
        train_chunk=train_chunk,
        evaluate=evaluate,
        init_seeds=jax.jit(jax.vmap(init)),
        train_chunk_seeds=jax.jit(
            jax.vmap(_count_traces("train_chunk", train_chunk)), donate_argnums=0
        ),
        evaluate_seeds=jax.jit(jax.vmap(evaluate)),
    )


_UPDATE_METRICS = ("critic_loss", "actor_loss", "q_mean", "target_q_mean")
TRACE_COUNTS: dict[str, int] = {}


def _count_traces(name: str, fn: Callable) -> Callable:
    """Counts traces of `fn`, so tests can assert that a chunk compiles once."""

    @functools.wraps(fn)
    def wrapped(*args):
        TRACE_COUNTS[name] = TRACE_COUNTS.get(name, 0) + 1
        return fn(*args)

    return wrapped


def _summarise_chunk(per_step: Metrics) -> Metrics:
    """Per-chunk means: losses over iterations that learned, episode stats over episodes."""
    learned = jnp.sum(per_step["learning"])
    summary = {
        name: jnp.where(learned > 0, jnp.sum(per_step[name]) / jnp.maximum(learned, 1), jnp.nan)
        for name in _UPDATE_METRICS
    }
    episodes = jnp.sum(per_step["episodes"])
    has_episodes = episodes > 0
    summary["train_episode_return"] = jnp.where(
        has_episodes, jnp.sum(per_step["return_sum"]) / jnp.maximum(episodes, 1), jnp.nan
    )
    summary["train_episode_length"] = jnp.where(
        has_episodes, jnp.sum(per_step["length_sum"]) / jnp.maximum(episodes, 1), jnp.nan
    )
    summary["train_episodes"] = episodes
    summary["noise_scale"] = per_step["noise_scale"][-1]
    return summary


def policy_params(carry: TrainCarry) -> dict[str, Any]:
    """What a policy needs at evaluation time (leading seed axis kept)."""
    ts = carry.train_state
    return {
        "actor_params": ts.actor_params,
        "normalizer": ts.normalizer,
        "action_scale": ts.action_scale,
        "action_bias": ts.action_bias,
    }


def checkpoint_item(carry: TrainCarry) -> TrainCarry:
    """The carry as checkpointed: its train state as a mapping of every field but `hp`.

    Traced hyperparameters are not saved (the run's config.yaml holds their values), so a
    sweep variant's checkpoint is that of a plain run of its config, and checkpoints written
    before `TrainState.hp` existed restore unchanged. `from_checkpoint_item` inverts it.
    """
    ts = carry.train_state
    fields = {f.name: getattr(ts, f.name) for f in dataclasses.fields(ts) if f.name != "hp"}
    return carry.replace(train_state=fields)


def from_checkpoint_item(item: TrainCarry, like: TrainCarry) -> TrainCarry:
    """A restored `checkpoint_item` back as a carry, with the `hp` of `like`."""
    train_state = agent.TrainState(**item.train_state, hp=like.train_state.hp)
    return item.replace(train_state=train_state)


def non_finite_seeds(carry: TrainCarry, metrics: Metrics) -> list[int]:
    """Seed indices whose losses or network parameters are no longer finite."""
    ts = carry.train_state
    leaves = jax.tree.leaves((ts.actor_params, ts.critic_params))
    finite = jnp.stack([jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1) for x in leaves])
    finite = jnp.all(finite, axis=0)
    for name in _UPDATE_METRICS:  # NaN here also marks "no update yet", so test +-inf and params
        finite &= ~jnp.isinf(metrics[name])
    return [int(i) for i in np.flatnonzero(~np.asarray(finite))]
