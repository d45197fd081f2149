"""InvertedDoublePendulum-v5 on MJX: mirrors gymnasium/envs/mujoco/inverted_double_pendulum_v5.py.

`site_xpos[0]` (the pole tip) and `qfrc_constraint` are read from the step output: after RK4
they come from the last RK4 stage, in C MuJoCo and in MJX alike.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from mujoco import mjx

from .base import Env
from .physics import PhysicsFn, mjx_step


class InvertedDoublePendulum(Env):
    """InvertedDoublePendulum-v5: terminates when the tip's height `site_xpos[0, 2] <= 1`."""

    gym_id = "InvertedDoublePendulum-v5"
    qvel_noise = "normal"
    physics_fields = ("site_xpos", "qfrc_constraint")

    def __init__(
        self,
        xml_file: str = "inverted_double_pendulum.xml",
        frame_skip: int = 5,
        healthy_reward: float = 10.0,
        reset_noise_scale: float = 0.1,
        *,
        impl: str = "jax",
        physics: PhysicsFn = mjx_step,
        backend: str = "mjx",
    ):
        super().__init__(
            xml_file, frame_skip, reset_noise_scale, impl=impl, physics=physics, backend=backend
        )
        self.healthy_reward = healthy_reward

    def _get_obs(self, data: mjx.Data) -> jax.Array:
        return jnp.concatenate(
            [
                data.qpos[:1],
                jnp.sin(data.qpos[1:]),
                jnp.cos(data.qpos[1:]),
                jnp.clip(data.qvel, -10.0, 10.0),
                jnp.clip(data.qfrc_constraint, -10.0, 10.0)[:1],
            ]
        )

    def _reward_done(self, data_before, data, action):
        x, y = data.site_xpos[0, 0], data.site_xpos[0, 2]
        terminated = y <= 1.0
        v1, v2 = data.qvel[1], data.qvel[2]
        dist_penalty = 0.01 * x**2 + (y - 2.0) ** 2
        vel_penalty = 1e-3 * v1**2 + 5e-3 * v2**2
        alive_bonus = self.healthy_reward * (~terminated).astype(x.dtype)
        reward = alive_bonus - dist_penalty - vel_penalty
        metrics = {
            "reward_survive": alive_bonus,
            "distance_penalty": -dist_penalty,
            "velocity_penalty": -vel_penalty,
        }
        return reward, terminated.astype(x.dtype), metrics
