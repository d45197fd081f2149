"""Each fix in envs/mjx_fixes.py against C MuJoCo, with a check that raw MJX 3.17 still needs it.

If a test asserting "raw MJX differs" starts failing after an upgrade, MJX has fixed the issue:
drop the fix. Float64 in this module only.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from ddpg_jax.envs import mjx_fixes
from mujoco import mjx
from mujoco.mjx._src import collision_driver
from mujoco.mjx._src.types import GeomType

pytestmark = pytest.mark.usefixtures("float64_module")  # float64, this module only


# ------------------------------------------------------------------------------------------
# Fix 1: plane-capsule contact frame
# ------------------------------------------------------------------------------------------


def _ant_states(num: int, skip: int = 60, seed: int = 0):
    """qpos/qvel along a random-action Gymnasium Ant-v5 rollout, after `skip` steps (once
    the ant has landed; its legs are then often steeper than 60 degrees)."""
    env = gym.make("Ant-v5").unwrapped
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    states = []
    for t in range(skip + num):
        env.step(rng.uniform(-1, 1, 8))
        if t >= skip:
            states.append(np.concatenate([env.data.qpos, env.data.qvel]))
    return env.model, states


def test_collider_table_untouched_outside_context():
    table = collision_driver._COLLISION_FUNC
    key = (GeomType.PLANE, GeomType.CAPSULE)
    original = table[key]
    assert original is not mjx_fixes.plane_capsule  # importing mjx_fixes changed nothing
    with mjx_fixes.c_colliders():
        assert table[key] is mjx_fixes.plane_capsule
        with mjx_fixes.c_colliders():  # re-entrant
            assert table[key] is mjx_fixes.plane_capsule
        assert table[key] is mjx_fixes.plane_capsule
    assert table[key] is original


def test_plane_capsule_frame_matches_c():
    """Contact frames of mjx.collision vs C mj_collision on Ant states with steep legs.

    C: first tangent = capsule axis projected on the plane (mjc_PlaneCapsule +
    mju_makeFrame). Raw MJX replaces it by a fixed axis when the projection is < 0.5.
    """
    m, states = _ant_states(240, skip=20)
    mx = mjx.put_model(m)
    raw_fn = jax.jit(lambda d: mjx.collision(mx, d))

    @jax.jit
    def fixed_fn(d):
        with mjx_fixes.c_colliders():
            return mjx.collision(mx, d)

    d = mujoco.MjData(m)
    err_raw, err_fixed, steep, compared = 0.0, 0.0, 0, 0
    for s in states:
        d.qpos[:], d.qvel[:] = s[: m.nq], s[m.nq :]
        mujoco.mj_forward(m, d)
        dx = mjx.put_data(m, d)
        raw, fixed = raw_fn(dx)._impl.contact, fixed_fn(dx)._impl.contact
        for c in (d.contact[i] for i in range(d.ncon)):
            if m.geom_type[c.geom[1]] != mujoco.mjtGeom.mjGEOM_CAPSULE:
                continue
            # the MJX contact with the same geom pair and (nearly) the same position
            same = np.flatnonzero(
                (np.asarray(fixed.geom1) == c.geom[0]) & (np.asarray(fixed.geom2) == c.geom[1])
            )
            j = same[np.argmin(np.linalg.norm(np.asarray(fixed.pos)[same] - c.pos, axis=1))]
            np.testing.assert_allclose(np.asarray(fixed.pos)[j], c.pos, atol=1e-12)
            frame_c = c.frame.reshape(3, 3)
            err_fixed = max(err_fixed, np.abs(np.asarray(fixed.frame)[j] - frame_c).max())
            err_raw = max(err_raw, np.abs(np.asarray(raw.frame)[j] - frame_c).max())
            axis = d.geom_xmat[c.geom[1]].reshape(3, 3)[:, 2]
            steep += np.linalg.norm(axis - frame_c[0] * axis @ frame_c[0]) < 0.5
            compared += 1
    assert compared >= 50 and steep >= 3, (compared, steep)
    assert err_fixed < 1e-12, err_fixed
    assert err_raw > 0.1, f"raw MJX now matches C ({err_raw:.1e}): is the fix still needed?"


# ------------------------------------------------------------------------------------------
# Fix 2: Lie-group RK4 for quaternion joints
# ------------------------------------------------------------------------------------------


def _quat_exp(theta: np.ndarray) -> np.ndarray:
    angle = np.linalg.norm(theta)
    return np.concatenate([[np.cos(angle / 2)], np.sin(angle / 2) * theta / angle])


def _quat_mul(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    res = np.empty(4)
    mujoco.mju_mulQuat(res, u, v)
    return res


@pytest.mark.parametrize("scale", [1e-5, 0.3, 2.0])
def test_dexpinv_is_inverse_differential_of_exp(scale):
    """exp(theta + eps * dexpinv(theta, w)) = exp(theta) * exp(eps * w) + O(eps^2)."""
    rng = np.random.default_rng(0)
    theta, w = scale * rng.normal(size=3), rng.normal(size=3)
    k = np.asarray(mjx_fixes.dexpinv(jnp.asarray(theta), jnp.asarray(w)))
    eps = 1e-6
    lhs = _quat_exp(theta + eps * k)
    rhs = _quat_mul(_quat_exp(theta), _quat_exp(eps * w))
    assert np.abs(lhs - rhs).max() < 1e-10
    assert np.abs(np.asarray(mjx_fixes.dexpinv(jnp.zeros(3), jnp.asarray(w))) - w).max() == 0
    grad = jax.grad(lambda t: mjx_fixes.dexpinv(t, jnp.asarray(w)).sum())(jnp.zeros(3))
    assert np.all(np.isfinite(np.asarray(grad)))


SPINNING_XML = """
<mujoco>
  <option timestep="0.01" integrator="RK4"/>
  <worldbody>
    <body pos="0 0 1">
      <freejoint/>
      <geom type="box" size="0.3 0.1 0.05" contype="0" conaffinity="0"/>
    </body>
    <body pos="1 0 1">
      <joint type="ball"/>
      <geom type="capsule" fromto="0 0 0 0.1 0.2 -0.4" size="0.05" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>
"""


def test_rk4_free_and_ball_joints_match_c():
    """One RK4 step of a fast, asymmetric spinning free body and a ball pendulum."""
    m = mujoco.MjModel.from_xml_string(SPINNING_XML)
    mx = mjx.put_model(m)
    raw_fn = jax.jit(lambda d: mjx.step(mx, d))
    fixed_fn = jax.jit(lambda d: mjx_fixes.step(mx, d))
    rng = np.random.default_rng(1)
    err_raw, err_fixed = 0.0, 0.0
    for _ in range(5):
        d = mujoco.MjData(m)
        d.qpos[3:7] = rng.normal(size=4)
        d.qpos[7:11] = rng.normal(size=4)
        mujoco.mj_normalizeQuat(m, d.qpos)
        d.qvel[:] = rng.normal(size=m.nv) * np.array([1, 1, 1, 20, 20, 20, 10, 10, 10])
        dx = mjx.put_data(m, d)
        mujoco.mj_step(m, d)
        c = np.concatenate([d.qpos, d.qvel])
        for fn, name in ((raw_fn, "raw"), (fixed_fn, "fixed")):
            out = fn(dx)
            err = np.abs(np.concatenate([out.qpos, out.qvel]) - c).max()
            if name == "raw":
                err_raw = max(err_raw, err)
            else:
                err_fixed = max(err_fixed, err)
    assert err_fixed < 1e-12, err_fixed
    assert err_raw > 1e-6, f"raw MJX RK4 now matches C ({err_raw:.1e}): is the fix still needed?"
