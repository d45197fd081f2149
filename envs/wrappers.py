"""Env wrappers, one job each: time limit (`EpisodeWrapper`), auto-reset with fresh noise and
the true final observation (`AutoResetWrapper`), batching (`VmapWrapper`).

`wrap_for_training(env)` composes them as `Vmap(AutoReset(Episode(env)))`.
Info keys after a step of the composed env (each `[num_envs]`):
  steps          control steps of the current episode (0 right after an auto-reset)
  truncation     1.0 when this step hit the time limit and the env did not terminate
  final_obs      observation reached by this step, before any auto-reset (== obs otherwise)
  episode_return return of the most recently finished episode (0 before the first one)
  episode_length length of the most recently finished episode
  episode_done   1.0 when an episode finished (terminated or truncated) at this step
  return         running return of the current episode
  reset_key      per-env typed PRNG key that draws the next reset's noise
`state.done` and `state.reward` stay those of the transition (termination only).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from .base import State


class Wrapper:
    """Forwards everything it does not override to the wrapped env."""

    def __init__(self, env: Any):
        self.env = env

    def reset(self, key: jax.Array) -> State:
        return self.env.reset(key)

    def step(self, state: State, action: jax.Array) -> State:
        return self.env.step(state, action)

    def step_and_reset(
        self, state: State, action: jax.Array, key: jax.Array
    ) -> tuple[State, State]:
        """`(self.step(state, action), self.reset(key))`; a wrapper whose own `step` and
        `reset` can pass through one combined call of the env overrides it (so can a wrapper
        that does nothing on step and reset)."""
        return self.step(state, action), self.reset(key)

    @property
    def unwrapped(self) -> Any:
        return getattr(self.env, "unwrapped", self.env)

    def __getattr__(self, name: str) -> Any:
        if name == "env":  # not set yet (e.g. during unpickling)
            raise AttributeError(name)
        return getattr(self.env, name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.env!r})"


class EpisodeWrapper(Wrapper):
    """Counts steps, flags truncation at `episode_length`, keeps the running return."""

    def __init__(self, env: Any, episode_length: int = 1000):
        super().__init__(env)
        self.episode_length = int(episode_length)

    def reset(self, key: jax.Array) -> State:
        return self._start(self.env.reset(key))

    def step(self, state: State, action: jax.Array) -> State:
        return self._count(self.env.step(state, action))

    def step_and_reset(
        self, state: State, action: jax.Array, key: jax.Array
    ) -> tuple[State, State]:
        stepped, fresh = step_and_reset(self.env, state, action, key)
        return self._count(stepped), self._start(fresh)

    def _start(self, state: State) -> State:
        zero = jnp.zeros_like(state.reward)
        info = {**state.info, "steps": zero, "truncation": zero, "return": zero}
        return state.replace(info=info)

    def _count(self, state: State) -> State:
        steps = state.info["steps"] + 1
        truncation = jnp.where((steps >= self.episode_length) & (state.done == 0), 1.0, 0.0).astype(
            steps.dtype
        )
        info = {
            **state.info,
            "steps": steps,
            "truncation": truncation,
            "return": state.info["return"] + state.reward,
        }
        return state.replace(info=info)


class AutoResetWrapper(Wrapper):
    """Resets an env whose episode ended (done or truncation) inside `step`.

    Each reset draws fresh noise from a per-env key carried in `info["reset_key"]` (split
    every step), never a cached start state. The observation reached by the step is kept in
    `info["final_obs"]`; `obs`/`data` become the new episode's. Needs `EpisodeWrapper`
    inside it (for `steps`, `truncation` and `return`).
    """

    def reset(self, key: jax.Array) -> State:
        key_reset, key_next = jax.random.split(key)
        state = self.env.reset(key_reset)
        zero = jnp.zeros_like(state.reward)
        info = {
            **state.info,
            "reset_key": key_next,
            "final_obs": state.obs,
            "episode_return": zero,
            "episode_length": zero,
            "episode_done": zero,
        }
        return state.replace(info=info)

    def step(self, state: State, action: jax.Array) -> State:
        key_next, key_reset = jax.random.split(state.info["reset_key"])
        # The fresh start is computed for every env and selected where the episode ended:
        # under vmap a branch would run both sides anyway.
        state, fresh = step_and_reset(self.env, state, action, key_reset)
        info = state.info
        ended = (state.done > 0) | (info["truncation"] > 0)

        def select(new, old):
            cond = jnp.reshape(ended, ended.shape + (1,) * (jnp.ndim(old) - ended.ndim))
            return jnp.where(cond, new, old)

        data = jax.tree.map(select, fresh.data, state.data)
        obs = select(fresh.obs, state.obs)
        # counters restart; the transition's own flags (truncation) are kept for the learner
        restarted = {k: select(v, info[k]) for k, v in fresh.info.items() if k != "truncation"}
        ended_f = ended.astype(state.reward.dtype)
        info = {
            **info,
            **restarted,
            "reset_key": key_next,
            "final_obs": state.obs,
            "episode_return": select(info["return"], info["episode_return"]),
            "episode_length": select(info["steps"], info["episode_length"]),
            "episode_done": ended_f,
        }
        return state.replace(data=data, obs=obs, info=info)


def step_and_reset(
    env: Any, state: State, action: jax.Array, key: jax.Array
) -> tuple[State, State]:
    """`(env.step(state, action), env.reset(key))`, through `env.step_and_reset` where the env
    has one (`envs.Env`: one physics callback for both on the "mujoco" backend)."""
    combined = getattr(env, "step_and_reset", None)
    if combined is None:
        return env.step(state, action), env.reset(key)
    return combined(state, action, key)


class VmapWrapper(Wrapper):
    """Batches reset and step with `jax.vmap`.

    `reset` takes a batch of typed keys `[num_envs]`, or one key when `num_envs` is given.
    """

    def __init__(self, env: Any, num_envs: int | None = None):
        super().__init__(env)
        self.num_envs = num_envs

    def reset(self, key: jax.Array) -> State:
        if key.ndim == 0:
            if self.num_envs is None:
                raise ValueError("VmapWrapper.reset needs keys[num_envs] or num_envs set")
            key = jax.random.split(key, self.num_envs)
        return jax.vmap(self.env.reset)(key)

    def step(self, state: State, action: jax.Array) -> State:
        return jax.vmap(self.env.step)(state, action)


def wrap_for_training(
    env: Any, episode_length: int = 1000, num_envs: int | None = None
) -> VmapWrapper:
    """`VmapWrapper(AutoResetWrapper(EpisodeWrapper(env, episode_length)), num_envs)`."""
    return VmapWrapper(AutoResetWrapper(EpisodeWrapper(env, episode_length)), num_envs)
