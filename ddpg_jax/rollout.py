"""Noise-free episodes of a policy in the JAX envs: the training loop's evaluation, and the
MJX side of `ddpg_jax.evaluate`'s comparison with Gymnasium. One rollout serves both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from ddpg_jax import agent
from ddpg_jax.config import Config


def greedy_episodes(
    cfg: Config, step: Callable[[Any, jax.Array], Any], policy: Any, state: Any, max_steps: Any
) -> tuple[jax.Array, jax.Array]:
    """Returns and lengths `[n]` of the episodes that start from the batched env `state`, each
    acted on by `agent.act` of `policy` (a train state or an `agent.Policy`) and stepped by
    `step` (a batched env step) until it terminates or has run `max_steps` steps.

    A `lax.while_loop` that stops once every episode has ended; an ended episode adds nothing
    more, whatever its env goes on to compute."""

    def body(carry):
        state, alive, total, length, t = carry
        state = step(state, agent.act(cfg, policy, state.obs))
        total = jnp.where(alive > 0, total + state.reward, total)
        length = length + alive
        return state, alive * (state.done == 0), total, length, t + 1

    def running(carry):
        _, alive, _, _, t = carry
        return jnp.any(alive > 0) & (t < max_steps)

    zeros = jnp.zeros_like(state.reward)
    carry = (state, jnp.ones_like(zeros), zeros, zeros, 0)
    _, _, returns, lengths, _ = jax.lax.while_loop(running, body, carry)
    return returns, lengths


def make_evaluate(
    cfg: Config, env: Any, episode_length: int, eval_envs: int
) -> Callable[[agent.TrainState, jax.Array], dict[str, jax.Array]]:
    """jit(vmap) over seeds of `(train_state, key) -> {"eval_returns", "eval_lengths"}`: the
    noise-free returns and lengths `[eval_envs]` of fresh episodes of `env` (unbatched), each
    capped at `episode_length` steps."""
    reset, step = jax.vmap(env.reset), jax.vmap(env.step)

    def evaluate(train_state: agent.TrainState, key: jax.Array) -> dict[str, jax.Array]:
        state = reset(jax.random.split(key, eval_envs))
        returns, lengths = greedy_episodes(cfg, step, train_state, state, episode_length)
        return {"eval_returns": returns, "eval_lengths": lengths}

    return jax.jit(jax.vmap(evaluate))
