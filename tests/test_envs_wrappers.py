"""Episode / auto-reset / vmap wrappers: truncation only at the limit, the true final obs kept,
fresh reset noise per env and per episode, counters restarting, episode stats for logging.

A tiny pure-JAX counter env tests the bookkeeping exactly (no physics compile); one
InvertedPendulum rollout with a short episode_length checks the same on a real task.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ddpg_jax.envs.base import State
from ddpg_jax.envs.wrappers import AutoResetWrapper, EpisodeWrapper, VmapWrapper, wrap_for_training

from ddpg_jax import envs


class CounterEnv:
    """obs = [start, t]; `start` ~ U(0, 1) drawn at reset; terminates when t == term_at[env]
    (the per-env threshold is read from obs-independent data so one env can vary)."""

    observation_size = 2
    action_size = 1

    def reset(self, key):
        start = jax.random.uniform(key, ())
        data = {"t": jnp.zeros(()), "start": start}
        return State(data=data, obs=jnp.stack([start, 0.0]), reward=0.0 * start, done=0.0 * start)

    def step(self, state, action):
        t = state.data["t"] + 1
        data = {**state.data, "t": t}
        done = (t == action[0]).astype(jnp.float32)  # the action says when to terminate
        return state.replace(data=data, obs=jnp.stack([data["start"], t]), reward=t, done=done)


def to_numpy(info: dict) -> dict:
    return {k: np.asarray(v) for k, v in info.items() if k != "reset_key"}


def rollout(env, state, actions):
    """Scans the batched env over actions `[T, num_envs, act]`; returns all states."""

    def body(s, a):
        s = env.step(s, a)
        return s, s

    return jax.lax.scan(body, state, actions)[1]


def test_counter_env_bookkeeping():
    limit, num_envs, horizon = 4, 3, 13
    env = wrap_for_training(CounterEnv(), episode_length=limit)
    # env 0 never terminates (truncates every 4 steps); env 1 terminates at t == 2;
    # env 2 terminates at t == 4 == limit: termination, not truncation.
    term_at = jnp.array([100.0, 2.0, 4.0])
    actions = jnp.broadcast_to(term_at[None, :, None], (horizon, num_envs, 1))
    with jax.debug_key_reuse(True):
        state0 = env.reset(jax.random.split(jax.random.key(0), num_envs))
        traj = jax.jit(rollout, static_argnums=0)(env, state0, actions)
    info = to_numpy(traj.info)
    done, reward, obs = map(np.asarray, (traj.done, traj.reward, traj.obs))
    final_t = info["final_obs"][..., 1]  # [T, num_envs]
    ended = (done > 0) | (info["truncation"] > 0)

    # the final obs is the one the step reached: t of the finished episode
    np.testing.assert_array_equal(final_t[:, 0], np.tile([1, 2, 3, 4], 4)[:horizon])
    np.testing.assert_array_equal(final_t[:, 1], np.tile([1, 2], 7)[:horizon])
    # truncation only for env 0, only at the limit; never together with termination
    np.testing.assert_array_equal(info["truncation"][:, 0], (final_t[:, 0] == limit))
    assert not info["truncation"][:, 1:].any()
    np.testing.assert_array_equal(done[:, 2], final_t[:, 2] == 4)
    assert not (done * info["truncation"]).any()
    # after an end: a fresh episode (t = 0) and counters restarted; otherwise obs == final_obs
    np.testing.assert_array_equal(obs[..., 1], np.where(ended, 0, final_t))
    np.testing.assert_array_equal(info["steps"], np.where(ended, 0, final_t))
    np.testing.assert_array_equal(info["final_obs"][~ended], obs[~ended])
    # fresh noise: every episode start differs, across envs and across episodes
    starts = np.concatenate([np.asarray(state0.obs[:, 0]), obs[..., 0][ended]])
    assert len(np.unique(starts)) == len(starts)
    # episode stats of the finished episode; kept until the next episode ends
    expected_return = final_t * (final_t + 1) / 2
    np.testing.assert_array_equal(info["episode_done"], ended)
    np.testing.assert_array_equal(info["episode_return"][ended], expected_return[ended])
    np.testing.assert_array_equal(info["episode_length"][ended], final_t[ended])
    assert info["episode_length"][1, 1] == 2 and info["episode_length"][2, 1] == 2
    assert info["episode_return"][2, 0] == 0  # env 0 has not finished an episode yet


def test_wrapper_composition_and_single_key_reset():
    env = wrap_for_training(CounterEnv(), episode_length=7, num_envs=5)
    assert isinstance(env, VmapWrapper)
    assert isinstance(env.env, AutoResetWrapper) and isinstance(env.env.env, EpisodeWrapper)
    assert env.env.env.episode_length == 7
    assert env.observation_size == 2  # attributes are forwarded
    state = env.reset(jax.random.key(1))
    assert state.obs.shape == (5, 2)
    assert jax.dtypes.issubdtype(state.info["reset_key"].dtype, jax.dtypes.prng_key)
    with pytest.raises(ValueError):
        VmapWrapper(CounterEnv()).reset(jax.random.key(0))


def test_inverted_pendulum_autoreset():
    """InvertedPendulum, 4 envs: pushed envs fall (terminate), others hit the short limit."""
    limit, num_envs, horizon = 8, 4, 20
    base = envs.make("inverted_pendulum", backend="mjx")
    env = wrap_for_training(base, episode_length=limit)
    push = jnp.array([3.0, -3.0, 0.0, 0.0])  # max force on envs 0, 1
    actions = jnp.broadcast_to(push[None, :, None], (horizon, num_envs, 1))
    state0 = env.reset(jax.random.split(jax.random.key(3), num_envs))
    traj = jax.jit(rollout, static_argnums=0)(env, state0, actions)
    info = to_numpy(traj.info)
    done, obs, reward = map(np.asarray, (traj.done, traj.obs, traj.reward))
    final_obs = info["final_obs"]
    ended = (done > 0) | (info["truncation"] > 0)

    assert np.isfinite(obs).all() and np.isfinite(final_obs).all()
    assert done[:, :2].any(), "pushed envs should fall"
    assert info["truncation"][:, 2:].any(), "unpushed envs should reach the limit"
    # terminated: the kept final obs is the fallen one (|angle| > 0.2), the new obs a reset
    np.testing.assert_array_equal(done > 0, np.abs(final_obs[..., 1]) > 0.2)
    assert np.all(np.abs(obs[ended]) <= base.reset_noise_scale)
    assert np.all(np.abs(final_obs[done > 0][:, 1]) > 0.2)
    np.testing.assert_array_equal(final_obs[~ended], obs[~ended])
    # truncation exactly at the limit, never on a terminating step
    steps_before = np.concatenate([np.zeros((1, num_envs)), info["steps"][:-1]]) + 1
    np.testing.assert_array_equal(info["truncation"] > 0, (steps_before == limit) & (done == 0))
    np.testing.assert_array_equal(info["steps"], np.where(ended, 0, steps_before))
    np.testing.assert_array_equal(info["episode_length"][ended], steps_before[ended])
    np.testing.assert_allclose(info["episode_return"][ended], steps_before[ended] - done[ended])
    np.testing.assert_array_equal(reward, 1.0 - done)
    # fresh reset noise: all episode starts differ (across envs and episodes)
    starts = np.concatenate([np.asarray(state0.obs), obs[ended]])
    assert len(np.unique(starts, axis=0)) == len(starts)
    assert obs.dtype == np.float32
