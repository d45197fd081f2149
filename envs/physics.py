"""MJX physics: `MjxPhysics`, the "mjx" backend's physics object, and the step functions it
runs (one control step of `frame_skip` substeps).

An env calls its backend through one interface, `step(data, ctrl)`, `forward(data)`,
`blank(dtype)` and `step_and_forward(data, ctrl, start)`: `MjxPhysics` here, or
`envs.c_backend.CPhysics` (C MuJoCo through `jax.pure_callback`). On "mjx" a task's step
function is any `(model, data, ctrl, frame_skip) -> data` (`mjx_step` here, or
`envs.mjx_fixes.physics_step` for Ant); observation, reward and termination code stay shared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import mujoco
from mujoco import mjx

IMPLS = ("jax", "warp")


class PhysicsFn(Protocol):
    """Signature of a physics backend."""

    def __call__(
        self, model: mjx.Model, data: mjx.Data, ctrl: jax.Array, frame_skip: int
    ) -> mjx.Data: ...


def mjx_step(model: mjx.Model, data: mjx.Data, ctrl: jax.Array, frame_skip: int) -> mjx.Data:
    """Sets `data.ctrl = ctrl` and runs `frame_skip` calls of `mjx.step` (`substeps`)."""
    return substeps(mjx.step, model, data, ctrl, frame_skip)


def substeps(
    step: Callable[[mjx.Model, mjx.Data], mjx.Data],
    model: mjx.Model,
    data: mjx.Data,
    ctrl: jax.Array,
    frame_skip: int,
) -> mjx.Data:
    """Sets `data.ctrl = ctrl` and runs `frame_skip` calls of `step` in a `lax.scan`.

    Like Gymnasium's `do_simulation`, the raw control is stored; MJX clamps it to
    `actuator_ctrlrange` inside `fwd_actuation` (all Gymnasium models are `ctrllimited`).
    After an RK4 step, position-dependent fields (`xpos`, `site_xpos`, `qfrc_constraint`,
    ...) come from the last RK4 stage, exactly as in C `mj_step`; read them from the
    returned data rather than recomputing kinematics.
    """
    data = data.replace(ctrl=ctrl.astype(data.ctrl.dtype))

    def substep(d: mjx.Data, _) -> tuple[mjx.Data, None]:
        return step(model, d), None

    data, _ = jax.lax.scan(substep, data, None, length=frame_skip)
    return data


def put_model(mj_model: mujoco.MjModel, impl: str) -> mjx.Model:
    """`mjx.put_model` with a clear error when the requested implementation cannot run."""
    if impl == "jax":
        return mjx.put_model(mj_model, impl="jax")
    if impl == "warp":
        from mujoco.mjx import warp as mjx_warp

        if not mjx_warp.WARP_INSTALLED:
            raise ValueError(
                "impl='warp' is not available: the `warp` package (warp-lang) is not installed;"
                " use impl='jax'"
            )
        if jax.default_backend() != "gpu":
            raise ValueError(
                f"impl='warp' is not available: it needs a CUDA GPU, but JAX's default backend"
                f" is {jax.default_backend()!r}; use impl='jax'"
            )
        return mjx.put_model(mj_model, impl="warp")
    raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")


class MjxPhysics:
    """MJX physics of one model: `step_fn`'s substeps, then the task's `post` hook.

    Attributes:
      model: the MJX model (`put_model` of `mj_model` with `impl`).
      frame_skip: substeps per control step.
    """

    def __init__(
        self,
        mj_model: mujoco.MjModel,
        frame_skip: int,
        impl: str,
        step_fn: PhysicsFn,
        post: Callable[[mjx.Data], mjx.Data],
    ):
        self.model = put_model(mj_model, impl)
        self.frame_skip = int(frame_skip)
        self.step_fn = step_fn
        self.post = post

    def blank(self, dtype: Any) -> mjx.Data:
        """The data right after `mj_resetData`, before `mj_forward` (its dtype is the
        model's, which follows `jax_enable_x64` as `dtype` does)."""
        return mjx.make_data(self.model)

    def step(self, data: mjx.Data, ctrl: jax.Array) -> mjx.Data:
        """Sets `ctrl`, runs the substeps, then `post` (e.g. `mjx.rne_postconstraint`)."""
        return self.post(self.step_fn(self.model, data, ctrl, self.frame_skip))

    def forward(self, data: mjx.Data) -> mjx.Data:
        return mjx.forward(self.model, data)

    def step_and_forward(
        self, data: mjx.Data, ctrl: jax.Array, start: mjx.Data
    ) -> tuple[mjx.Data, mjx.Data]:
        """`(step(data, ctrl), forward(start))`: what an auto-reset needs each step."""
        return self.step(data, ctrl), self.forward(start)
