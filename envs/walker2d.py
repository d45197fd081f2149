"""Walker2d-v5 on MJX: mirrors gymnasium/envs/mujoco/walker2d_v5.py (obs, reward, termination)."""

from __future__ import annotations

import jax
from mujoco import mjx

from .physics import PhysicsFn, mjx_step
from .planar_walker import PlanarWalker


class Walker2d(PlanarWalker):
    """Walker2d-v5 (model `walker2d_v5.xml`). Keyword arguments and defaults are Gymnasium's."""

    gym_id = "Walker2d-v5"
    qvel_noise = "uniform"

    def __init__(
        self,
        xml_file: str = "walker2d_v5.xml",
        frame_skip: int = 4,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-3,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (0.8, 2.0),
        healthy_angle_range: tuple[float, float] = (-1.0, 1.0),
        reset_noise_scale: float = 5e-3,
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
        self.healthy_reward = healthy_reward
        self.terminate_when_unhealthy = terminate_when_unhealthy
        self.healthy_z_range = healthy_z_range
        self.healthy_angle_range = healthy_angle_range
        self.exclude_current_positions_from_observation = exclude_current_positions_from_observation

    def is_healthy(self, data: mjx.Data) -> jax.Array:
        """z and angle (qpos[1], qpos[2]) strictly inside their ranges."""
        z, angle = data.qpos[1], data.qpos[2]
        min_z, max_z = self.healthy_z_range
        min_angle, max_angle = self.healthy_angle_range
        return (min_z < z) & (z < max_z) & (min_angle < angle) & (angle < max_angle)
