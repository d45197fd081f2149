"""Ant-v5 on MJX: mirrors gymnasium/envs/mujoco/ant_v5.py (obs, reward terms, termination, reset).

Raw MJX 3.17 does not reproduce C MuJoCo 4.0 on this model (plane-capsule contact frames and
the free-joint RK4 differ, up to ~1 in qvel after one step); by default the physics is
`envs.mjx_fixes.physics_step`, which agrees with Gymnasium to ~1e-13 in float64
(docs/ant_parity.md). `mjx_fixes=False` gives raw `mjx.step` for comparison.
`backend="mujoco"` runs C MuJoCo itself (the same engine as Gymnasium; the fixes do not apply).
"""

from __future__ import annotations

import contextlib

import jax
import jax.numpy as jnp
import mujoco
from mujoco import mjx

from . import mjx_fixes as fixes
from .base import Env, State, resolve_backend
from .c_backend import CData
from .physics import PhysicsFn, mjx_step


def cfrc_ext(data: mjx.Data | CData) -> jax.Array:
    """`cfrc_ext` [nbody, 6] (MJX 3.17 deprecates `data.cfrc_ext` in favour of `_impl`)."""
    if isinstance(data, mjx.Data):
        return data._impl.cfrc_ext
    return data.cfrc_ext


class Ant(Env):
    """Ant-v5. Keyword arguments and defaults are Gymnasium's, plus:

    Args:
      mjx_fixes: use `envs.mjx_fixes` physics (C plane-capsule frames, Lie-group RK4) so that
        steps match Gymnasium; False gives raw `mjx.step`. Only for impl="jax" and the
        "mjx" backend.
      impl: MJX implementation, "jax" or "warp" (see `envs.base.put_model`).
      physics: explicit MJX physics; overrides `mjx_fixes` when given.
      backend: "mjx", "mujoco" or "auto" (see `envs.base.Env`).
    """

    gym_id = "Ant-v5"
    qvel_noise = "normal"
    physics_fields = ("xpos", "cfrc_ext")  # xpos for x/y velocity; cfrc_ext: obs, contact cost

    def __init__(
        self,
        xml_file: str = "ant.xml",
        frame_skip: int = 5,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.5,
        contact_cost_weight: float = 5e-4,
        healthy_reward: float = 1.0,
        main_body: int | str = 1,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        contact_force_range: tuple[float, float] = (-1.0, 1.0),
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        *,
        mjx_fixes: bool = True,
        impl: str = "jax",
        physics: PhysicsFn | None = None,
        backend: str = "mjx",
    ):
        backend = resolve_backend(backend)
        if physics is None:
            if backend == "mujoco":  # C MuJoCo: nothing to fix
                physics = mjx_step
            elif mjx_fixes and impl != "jax":
                raise ValueError("mjx_fixes patches MJX's JAX implementation; use impl='jax'")
            else:
                physics = fixes.physics_step if mjx_fixes else mjx_step
        super().__init__(
            xml_file, frame_skip, reset_noise_scale, impl=impl, physics=physics, backend=backend
        )
        self.mjx_fixes = bool(mjx_fixes) and physics is fixes.physics_step
        self.forward_reward_weight = forward_reward_weight
        self.ctrl_cost_weight = ctrl_cost_weight
        self.contact_cost_weight = contact_cost_weight
        self.healthy_reward = healthy_reward
        self.terminate_when_unhealthy = terminate_when_unhealthy
        self.healthy_z_range = healthy_z_range
        self.contact_force_range = contact_force_range
        self.exclude_current_positions_from_observation = exclude_current_positions_from_observation
        self.include_cfrc_ext_in_observation = include_cfrc_ext_in_observation
        if isinstance(main_body, str):  # Gymnasium's `data.body(name)`
            body_id = mujoco.mj_name2id(self.mj_model, mujoco.mjtObj.mjOBJ_BODY, main_body)
            if body_id < 0:
                raise ValueError(f"main_body {main_body!r} is not a body of {self.xml_path}")
            main_body = body_id
        self.main_body = int(main_body)

    # ----------------------------------------------------------------------------------
    # reset / set_state: as Env's, plus two details of C MuJoCo that matter for Ant on MJX.
    # 1. Their forward pass uses the same colliders as `step`.
    # 2. C `mj_forward` normalises quaternions only in a local copy, so Gymnasium's reset
    #    observation shows the noisy, unnormalised torso quaternion; MJX's kinematics writes
    #    the normalised quaternion back into `qpos`. We put the given qpos back. (The next
    #    step is unaffected: C and MJX both normalise while integrating.) On the "mujoco"
    #    backend both hold already; putting qpos back changes nothing there.
    def reset(self, key: jax.Array) -> State:
        """New episode (see `Env.reset`): qpos + U(-scale, scale) (quaternion not
        renormalised), qvel + scale * N(0, 1), as in Gymnasium."""
        with self._colliders():
            state = super().reset(key)
        qpos, _ = self.sample_init_qpos_qvel(key)  # same key: the qpos reset() used
        return self._with_qpos(state, qpos)

    def set_state(self, state: State, qpos: jax.Array, qvel: jax.Array) -> State:
        """Gymnasium's `set_state` (see `Env.set_state`); qpos is kept as given."""
        with self._colliders():
            state = super().set_state(state, qpos, qvel)
        return self._with_qpos(state, qpos)

    def _with_qpos(self, state: State, qpos: jax.Array) -> State:
        data = state.data.replace(qpos=jnp.asarray(qpos, state.data.qpos.dtype))
        return state.replace(data=data, obs=self._get_obs(data))

    def _colliders(self):
        return fixes.c_colliders() if self.mjx_fixes else contextlib.nullcontext()

    def post_physics(self, data: mjx.Data) -> mjx.Data:
        """`mj_rnePostConstraint` after the substeps, as Gymnasium's `_step_mujoco_simulation`
        (fills `cfrc_ext` from the last RK4 stage's contacts). MJX backend only: the C backend
        runs it in C because `physics_fields` lists `cfrc_ext`."""
        return mjx.rne_postconstraint(self.model, data)

    # ----------------------------------------------------------------------------------
    def contact_forces(self, data: mjx.Data) -> jax.Array:
        """`cfrc_ext` of every body (world included) clipped to `contact_force_range`."""
        low, high = self.contact_force_range
        return jnp.clip(cfrc_ext(data), low, high)

    def is_healthy(self, data: mjx.Data) -> jax.Array:
        """qpos and qvel finite and torso z in the closed `healthy_z_range`."""
        state = jnp.concatenate([data.qpos, data.qvel])
        min_z, max_z = self.healthy_z_range
        z = data.qpos[2]
        return jnp.all(jnp.isfinite(state)) & (min_z <= z) & (z <= max_z)

    def _get_obs(self, data: mjx.Data) -> jax.Array:
        position = data.qpos
        if self.exclude_current_positions_from_observation:
            position = position[2:]
        parts = [position, data.qvel]
        if self.include_cfrc_ext_in_observation:
            parts.append(self.contact_forces(data)[1:].reshape(-1))
        return jnp.concatenate(parts)

    def _reward_done(self, data_before, data, action):
        # xpos after an RK4 step is the last stage's, in C and in MJX alike: read it as is.
        xy_before = data_before.xpos[self.main_body, :2]
        xy_after = data.xpos[self.main_body, :2]
        x_velocity, y_velocity = (xy_after - xy_before) / self.dt
        healthy = self.is_healthy(data)
        dtype = x_velocity.dtype
        forward_reward = self.forward_reward_weight * x_velocity
        healthy_reward = healthy.astype(dtype) * self.healthy_reward
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(jnp.square(action))
        contact_cost = self.contact_cost_weight * jnp.sum(jnp.square(self.contact_forces(data)))
        reward = forward_reward + healthy_reward - ctrl_cost - contact_cost
        done = jnp.logical_and(~healthy, self.terminate_when_unhealthy)
        metrics = {
            "x_position": data.qpos[0],
            "y_position": data.qpos[1],
            "distance_from_origin": jnp.linalg.norm(data.qpos[0:2]),
            "x_velocity": x_velocity,
            "y_velocity": y_velocity,
            "reward_forward": forward_reward,
            "reward_ctrl": -ctrl_cost,
            "reward_contact": -contact_cost,
            "reward_survive": healthy_reward,
        }
        return reward, done.astype(dtype), metrics
