"""InvertedPendulum-v5 on MJX: mirrors gymnasium/envs/mujoco/inverted_pendulum_v5.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from mujoco import mjx

from .base import Env
from .physics import PhysicsFn, mjx_step


class InvertedPendulum(Env):
    """InvertedPendulum-v5: reward 1 while `|qpos[1]| <= 0.2` and the obs is finite."""

    gym_id = "InvertedPendulum-v5"
    qvel_noise = "uniform"

    def __init__(
        self,
        xml_file: str = "inverted_pendulum.xml",
        frame_skip: int = 2,
        reset_noise_scale: float = 0.01,
        *,
        impl: str = "jax",
        physics: PhysicsFn = mjx_step,
        backend: str = "mjx",
    ):
        super().__init__(
            xml_file, frame_skip, reset_noise_scale, impl=impl, physics=physics, backend=backend
        )

    def _get_obs(self, data: mjx.Data) -> jax.Array:
        return jnp.concatenate([data.qpos, data.qvel])

    def _reward_done(self, data_before, data, action):
        obs = self._get_obs(data)
        terminated = ~jnp.all(jnp.isfinite(obs)) | (jnp.abs(obs[1]) > 0.2)
        reward = (~terminated).astype(obs.dtype)
        return reward, terminated.astype(obs.dtype), {"reward_survive": reward}
