"""Observation and reward shared by Hopper-v5 and Walker2d-v5 (Gymnasium writes them twice,
identically): qpos without x and clipped qvel; forward velocity + healthy bonus - ctrl cost."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from mujoco import mjx

from .base import Env


class PlanarWalker(Env):
    """Base of the planar walkers; a subclass defines `is_healthy(data)` and sets the weights
    (`forward_reward_weight`, `ctrl_cost_weight`, `healthy_reward`, `terminate_when_unhealthy`,
    `exclude_current_positions_from_observation`) in its constructor."""

    def is_healthy(self, data: mjx.Data) -> jax.Array:
        raise NotImplementedError

    def _get_obs(self, data: mjx.Data) -> jax.Array:
        position = data.qpos
        if self.exclude_current_positions_from_observation:
            position = position[1:]
        return jnp.concatenate([position, jnp.clip(data.qvel, -10.0, 10.0)])

    def _reward_done(self, data_before, data, action):
        x_before, x_after = data_before.qpos[0], data.qpos[0]
        x_velocity = (x_after - x_before) / self.dt
        healthy = self.is_healthy(data)
        forward_reward = self.forward_reward_weight * x_velocity
        healthy_reward = healthy * self.healthy_reward
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(action))
        reward = forward_reward + healthy_reward - ctrl_cost
        done = jnp.logical_and(~healthy, self.terminate_when_unhealthy)
        metrics = {
            "x_position": x_after,
            "z_distance_from_origin": data.qpos[1] - float(self.init_qpos[1]),
            "x_velocity": x_velocity,
            "reward_forward": forward_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_survive": healthy_reward.astype(x_velocity.dtype),
        }
        return reward, done.astype(reward.dtype), metrics
