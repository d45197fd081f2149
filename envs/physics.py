"""MJX physics functions: advance MJX data by one control step (frame_skip substeps).

On the "mjx" backend a task's physics is any function `(model, data, ctrl, frame_skip) ->
data` (`mjx_step` here, or `envs.mjx_fixes.physics_step` for Ant), called through
`Env.physics_step`. The "mujoco" backend replaces it (and `mjx.forward`) with C MuJoCo
through `jax.pure_callback` (`envs/c_backend.py`); observation, reward and termination code
stay shared.
"""

from __future__ import annotations

from typing import Protocol

import jax
from mujoco import mjx


class PhysicsFn(Protocol):
    """Signature of a physics backend."""

    def __call__(
        self, model: mjx.Model, data: mjx.Data, ctrl: jax.Array, frame_skip: int
    ) -> mjx.Data: ...


def mjx_step(model: mjx.Model, data: mjx.Data, ctrl: jax.Array, frame_skip: int) -> mjx.Data:
    """Sets `data.ctrl = ctrl` and runs `frame_skip` calls of `mjx.step` in a `lax.scan`.

    Like Gymnasium's `do_simulation`, the raw control is stored; MJX clamps it to
    `actuator_ctrlrange` inside `fwd_actuation` (all Gymnasium models are `ctrllimited`).
    After an RK4 step, position-dependent fields (`xpos`, `site_xpos`, `qfrc_constraint`,
    ...) come from the last RK4 stage, exactly as in C `mj_step`; read them from the
    returned data rather than recomputing kinematics.
    """
    data = data.replace(ctrl=ctrl.astype(data.ctrl.dtype))

    def substep(d: mjx.Data, _) -> tuple[mjx.Data, None]:
        return mjx.step(model, d), None

    data, _ = jax.lax.scan(substep, data, None, length=frame_skip)
    return data
