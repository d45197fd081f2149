"""Two MJX 3.17 physics fixes that make free-floating, capsule-footed models match C MuJoCo 4.0.

Measured on Gymnasium's Ant-v5 (mujoco 4.0.0, mujoco-mjx 3.17.0, float64): raw `mjx.step`
differs from C `mj_step` by up to ~1 in qvel after one control step; with both fixes the
difference falls to solver-tolerance level (see docs/ant_parity.md).

1. `plane_capsule`: the plane-capsule contact frame. C `mjc_PlaneCapsule`
   (engine_collision_primitive.c) hands the capsule axis to `mju_makeFrame`
   (engine_util_spatial.c), which takes the axis projected onto the plane as the first
   tangent and falls back to (1, 0, 0) only when the projection is below `mjMINVAL`. MJX 3.17
   (`collision_primitive.plane_capsule`) falls back to a fixed axis whenever the projection's
   norm is below 0.5 (capsule steeper than 60 degrees), which rotates the friction pyramid.
   Activated only inside `c_colliders()`, a context manager that swaps the entry of MJX's
   collision table `collision_driver._COLLISION_FUNC[(PLANE, CAPSULE)]` while a step is
   traced. Importing this module changes nothing.
2. `rungekutta4`: RK4 for free and ball joints. C `mj_RungeKutta` (engine_forward.c, MuJoCo
   4.0) integrates the joint quaternion as a Runge-Kutta-Munthe-Kaas (Lie-group) method: the
   rotation increment of stage i is `theta_i = h * sum_j A_ij k_j` with
   `k_j = dexpinv(theta_j, omega_j)` and the final orientation is
   `q0 * exp(h * sum_j B_j k_j)`. MJX 3.17 (`forward.rungekutta4`) uses `k_j = omega_j`.
   Everything else (translations, hinges, velocities, activations) is classical RK4, as in
   both C and MJX. A numpy replica of this scheme on top of C `mj_forward` matched C
   `mj_step` to 4e-14 (median 4e-16) on 300 Ant states.

`step` = `mjx.forward` + `rungekutta4` with the C collider active; `physics_step` runs
`frame_skip` of them and has the `envs.physics.PhysicsFn` signature.

Relies on private MJX 3.17 internals (`collision_driver._COLLISION_FUNC`,
`forward._advance`, `forward._integrate_pos`, `forward._RK4_A/_B`, `scan.flat`);
`tests/test_mjx_fixes.py` fails if they move or if a new MJX release fixes either issue.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import jax
import mujoco
import numpy as np
from jax import numpy as jp
from mujoco import mjx
from mujoco.mjx._src import collision_driver, scan
from mujoco.mjx._src import forward as mjx_forward
from mujoco.mjx._src.collision_primitive import _plane_sphere, collider
from mujoco.mjx._src.collision_types import GeomInfo
from mujoco.mjx._src.types import GeomType, IntegratorType, JointType

from . import physics

_PLANE_CAPSULE = (GeomType.PLANE, GeomType.CAPSULE)
_TABLE_LOCK = threading.RLock()


# --------------------------------------------------------------------------------------------
# Fix 1: plane-capsule contact frame (mirrors C mjc_PlaneCapsule + mju_makeFrame)
# --------------------------------------------------------------------------------------------


@collider(ncon=2)
def plane_capsule(plane: GeomInfo, cap: GeomInfo):
    """Two contacts between a plane and a capsule, with C MuJoCo's contact frame.

    Mirrors `mjc_PlaneCapsule` (engine_collision_primitive.c): one plane-sphere test per
    capsule end, frame = `mju_makeFrame([normal, capsule axis])`, i.e. first tangent
    = capsule axis projected onto the plane, normalised (`mju_normalize3` falls back to
    (1, 0, 0) below `mjMINVAL`). Distances and positions are exactly MJX's.
    """
    n, axis = plane.mat[:, 2], cap.mat[:, 2]
    tangent = axis - n * jp.dot(n, axis)
    sq = jp.dot(tangent, tangent)
    degenerate = sq < mujoco.mjMINVAL**2
    norm = jp.sqrt(jp.where(degenerate, 1.0, sq))  # where-guard keeps gradients finite
    b = jp.where(degenerate, jp.array([1.0, 0.0, 0.0], dtype=n.dtype), tangent / norm)
    frame = jp.array([[n, b, jp.cross(n, b)]])
    segment = axis * cap.size[1]
    collisions = []
    for offset in (segment, -segment):
        dist, pos = _plane_sphere(n, plane.pos, cap.pos + offset, cap.size[0])
        collisions.append((dist[None], pos[None], frame))
    return jax.tree_util.tree_map(lambda *x: jp.concatenate(x), *collisions)


@contextlib.contextmanager
def c_colliders() -> Iterator[None]:
    """Within this block, MJX collision uses `plane_capsule` above for (PLANE, CAPSULE).

    MJX looks its collision functions up in `collision_driver._COLLISION_FUNC` while a
    function is traced, so the swap must enclose the trace (e.g. the body of a jitted step),
    not the call of an already compiled function. The previous entry is restored on exit.
    The lock serialises our own uses; code that traces raw MJX in another thread at the
    same moment would see our collider, so do not trace raw and fixed physics concurrently.
    """
    with _TABLE_LOCK:
        table = collision_driver._COLLISION_FUNC
        previous = table[_PLANE_CAPSULE]
        if previous.ncon != plane_capsule.ncon:  # contact buffers are sized from .ncon
            raise RuntimeError("MJX plane_capsule changed its contact count; update mjx_fixes")
        table[_PLANE_CAPSULE] = plane_capsule
        try:
            yield
        finally:
            table[_PLANE_CAPSULE] = previous


# --------------------------------------------------------------------------------------------
# Fix 2: Lie-group RK4 for quaternion joints (mirrors C mj_RungeKutta, MuJoCo 4.0)
# --------------------------------------------------------------------------------------------


def dexpinv(theta: jax.Array, omega: jax.Array) -> jax.Array:
    """Inverse differential of the SO(3) exponential for body-frame angular velocity.

    For `q(t) = q0 * exp(theta(t))` with body angular velocity `omega`,
    `dtheta/dt = dexpinv(theta, omega)
               = omega + theta x omega / 2 + c(|theta|) theta x (theta x omega)`,
    `c(a) = (1 - (a/2) cot(a/2)) / a^2`; a Taylor series is used below |theta| = 1e-2
    (truncation error < 1e-17 relative), which also keeps gradients finite at 0.
    """
    a2 = jp.dot(theta, theta)
    small = a2 < 1e-4
    a2_safe = jp.where(small, 1.0, a2)
    half = 0.5 * jp.sqrt(a2_safe)
    exact = (1.0 - half * jp.cos(half) / jp.sin(half)) / a2_safe
    series = 1.0 / 12.0 + a2 / 720.0 + a2 * a2 / 30240.0
    coef = jp.where(small, series, exact)
    c1 = jp.cross(theta, omega)
    return omega + 0.5 * c1 + coef * jp.cross(theta, c1)


def _rotation_dofs(m: mjx.Model) -> np.ndarray:
    """Dof indices of the angular velocities of free and ball joints, shape [n, 3]."""
    rows = []
    for jtype, adr in zip(np.asarray(m.jnt_type), np.asarray(m.jnt_dofadr), strict=True):
        if jtype == JointType.FREE:
            rows.append(np.arange(adr + 3, adr + 6))
        elif jtype == JointType.BALL:
            rows.append(np.arange(adr, adr + 3))
    return np.array(rows, dtype=np.int32).reshape(-1, 3)


def rungekutta4(m: mjx.Model, d: mjx.Data) -> mjx.Data:
    """RK4 as C `mj_RungeKutta(m, d, 4)` in MuJoCo 4.0; `d` must hold `mjx.forward(m, d)`.

    Same stages as MJX's `forward.rungekutta4` except that the velocity used to move a
    quaternion at each stage is the Lie-algebra velocity `k = dexpinv(theta, omega)`
    (Runge-Kutta-Munthe-Kaas). Position-dependent outputs (`xpos`, `cfrc_ext` inputs,
    `qfrc_constraint`, ...) come from the last stage, as in C.
    """
    a_mat, b_vec = mjx_forward._RK4_A, mjx_forward._RK4_B
    if not np.allclose(a_mat, np.diag(np.diag(a_mat))):
        raise NotImplementedError("tableau must be sub-diagonal, as RK4's is")
    h = m.opt.timestep
    times = d.time + a_mat.sum(axis=1) * h  # T_i = time + C_i h, C_i = sum_j A_ij
    rot = _rotation_dofs(m)

    def lie_velocity(qvel: jax.Array, increment: jax.Array) -> jax.Array:
        """qvel with each quaternion joint's omega replaced by dexpinv(h * increment, omega)."""
        if rot.size == 0:
            return qvel
        k = jax.vmap(dexpinv)(h * increment[rot], qvel[rot])
        return qvel.at[rot].set(k)

    def integrate(qpos: jax.Array, vel: jax.Array) -> jax.Array:
        def fn(*args):
            return mjx_forward._integrate_pos(*args, dt=h)

        return scan.flat(m, fn, "jqv", "q", m.jnt_type, qpos, vel)

    d0 = d
    sums = jax.tree_util.tree_map(lambda x: b_vec[0] * x, (d.qvel, d.qacc, d.act_dot))

    def stage(carry, x):
        (qvel_sum, qacc_sum, act_dot_sum), kvel, d = carry
        a, b, t = x
        increment = a * kvel  # sum_j A_ij k_j (one nonzero j for RK4)
        kqpos = integrate(d0.qpos, increment)
        kqvel = d0.qvel + a * h * d.qacc
        kact = d0.act + a * h * d.act_dot
        d = mjx.forward(m, d.replace(qpos=kqpos, qvel=kqvel, act=kact, time=t))
        kvel = lie_velocity(kqvel, increment)
        sums = (qvel_sum + b * kvel, qacc_sum + b * d.qacc, act_dot_sum + b * d.act_dot)
        return (sums, kvel, d), None

    xs = jp.stack([jp.asarray(np.diag(a_mat)), jp.asarray(b_vec[1:]), jp.asarray(times)], 1)
    (sums, _, d1), _ = jax.lax.scan(stage, (sums, d0.qvel, d0), xs.astype(d.qpos.dtype))
    qvel_sum, qacc_sum, act_dot_sum = sums
    d = d1.replace(qpos=d0.qpos, qvel=d0.qvel, act=d0.act, time=d0.time)
    return mjx_forward._advance(m, d, act_dot_sum, qacc_sum, qvel_sum)


# --------------------------------------------------------------------------------------------
# Fixed step and physics backend
# --------------------------------------------------------------------------------------------


def step(m: mjx.Model, d: mjx.Data) -> mjx.Data:
    """`mjx.step` with both fixes: C plane-capsule frames, Lie-group RK4 (other integrators
    are MJX's own)."""
    with c_colliders():
        d = mjx.forward(m, d)
        if m.opt.integrator == IntegratorType.RK4:
            return rungekutta4(m, d)
        if m.opt.integrator == IntegratorType.EULER:
            return mjx_forward.euler(m, d)
        if m.opt.integrator == IntegratorType.IMPLICITFAST:
            return mjx_forward.implicit(m, d)
        raise NotImplementedError(f"integrator {m.opt.integrator} not implemented")


def physics_step(model: mjx.Model, data: mjx.Data, ctrl: jax.Array, frame_skip: int) -> mjx.Data:
    """`envs.physics.mjx_step` with the fixed `step`: sets ctrl, runs `frame_skip` substeps."""
    return physics.substeps(step, model, data, ctrl, frame_skip)
