"""HalfCheetah-v5 on MJX: mirrors gymnasium/envs/mujoco/half_cheetah_v5.py (never terminates)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from mujoco import mjx

from .base import Env
from .physics import PhysicsFn, mjx_step


class HalfCheetah(Env):
    """HalfCheetah-v5. Keyword arguments and defaults are Gymnasium's; qvel reset noise is
    Gaussian (`reset_noise_scale * N(0, 1)`), qpos noise uniform."""

    gym_id = "HalfCheetah-v5"
    qvel_noise = "normal"

    def __init__(
        self,
        xml_file: str = "half_cheetah.xml",
        frame_skip: int = 5,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.1,
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        *,
        impl: str = "jax",
        physics: PhysicsFn = mjx_step,
        backend: str = "mjx",
    ):
        super().__init__(
            xml_file, frame_skip, reset_noise_scale, impl=impl, physics=physics, backend=backend
        )
        self.forward_reward_weight = forward_reward_weight
        self.ctrl_cost_weight = ctrl_cost_weight
        self.exclude_current_positions_from_observation = exclude_current_positions_from_observation

    def _get_obs(self, data: mjx.Data) -> jax.Array:
        position = data.qpos
        if self.exclude_current_positions_from_observation:
            position = position[1:]
        return jnp.concatenate([position, data.qvel])

    def _reward_done(self, data_before, data, action):
        x_before, x_after = data_before.qpos[0], data.qpos[0]
        x_velocity = (x_after - x_before) / self.dt
        forward_reward = self.forward_reward_weight * x_velocity
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(action))
        reward = forward_reward - ctrl_cost
        metrics = {
            "x_position": x_after,
            "x_velocity": x_velocity,
            "reward_forward": forward_reward,
            "reward_ctrl": -ctrl_cost,
        }
        return reward, jnp.zeros_like(reward), metrics
