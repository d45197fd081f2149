"""Noise-free episodes of a loaded policy: in Gymnasium (C MuJoCo, the reference) and in MJX
from the same initial states (for the gap between the two). Used by `ddpg_jax.evaluate`."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np


def make_gym_env(gym_id: str, max_episode_steps: int, render: bool = False) -> Any:
    """`gymnasium.make(gym_id)` with the time limit, rendering to arrays if `render`."""
    import gymnasium

    kwargs = {"render_mode": "rgb_array"} if render else {}
    return gymnasium.make(gym_id, max_episode_steps=max_episode_steps, **kwargs)


def run_gym_episodes(pi: Any, episode_seeds: list[int], max_episode_steps: int) -> dict:
    """Returns, lengths and the reset qpos/qvel of each episode; for tasks whose `info` has
    `x_position` (the locomotion ones) also the forward distance, end x minus reset x."""
    env = make_gym_env(pi.gym_id, max_episode_steps)
    out: dict[str, list] = {"returns": [], "lengths": [], "qpos": [], "qvel": [], "distances": []}
    try:
        for seed in episode_seeds:
            obs, _ = env.reset(seed=int(seed))
            data = env.unwrapped.data
            out["qpos"].append(data.qpos.copy())
            out["qvel"].append(data.qvel.copy())
            start_x = float(data.qpos[0])
            total, length, done, info = 0.0, 0, False, {}
            while not done:
                obs, reward, terminated, truncated, info = env.step(pi.act(obs))
                total += float(reward)
                length += 1
                done = terminated or truncated
            out["returns"].append(total)
            out["lengths"].append(length)
            if "x_position" in info:
                out["distances"].append(float(info["x_position"]) - start_x)
    finally:
        env.close()
    if len(out["distances"]) != len(out["returns"]):
        del out["distances"]
    return {k: np.asarray(v) for k, v in out.items()}


@functools.cache
def _mjx_rollout(env_name: str, cfg: Any) -> Any:
    """`(params, qpos [n, nq], qvel [n, nv], max_steps) -> (returns [n], lengths [n])`: jitted
    noise-free MJX episodes from the given initial states, vmapped over episodes. A
    `lax.while_loop`, so it stops once every episode has terminated or hit `max_steps`."""
    import jax

    from ddpg_jax import envs, rollout

    # MJX on purpose, also on a CPU: the point is its gap to Gymnasium's C MuJoCo.
    env = envs.make(env_name, backend="mjx")

    def episodes(params, qpos, qvel, max_steps):
        # Gymnasium's reset, then its state set to the given one
        state = jax.vmap(lambda q, v: env.set_state(env.blank_state(), q, v))(qpos, qvel)
        return rollout.greedy_episodes(cfg, jax.vmap(env.step), params, state, max_steps)

    return jax.jit(episodes)


def run_mjx_episodes(
    pi: Any, qpos: np.ndarray, qvel: np.ndarray, max_episode_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the same policy in MJX from the given initial states."""
    episodes = _mjx_rollout(pi.env, pi.config)
    returns, lengths = episodes(pi.params, qpos, qvel, np.int32(max_episode_steps))
    return np.asarray(returns, np.float64), np.asarray(lengths).astype(np.int64)
