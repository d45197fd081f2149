"""MJX's solver and contact settings against the C model's, and whether `envs.mjx_fixes`
covers each known difference between MJX and C MuJoCo."""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

_OPTION_FIELDS = (
    "timestep",
    "iterations",
    "ls_iterations",
    "tolerance",
    "ls_tolerance",
    "solver",
    "cone",
    "impratio",
    "integrator",
    "jacobian",
    "disableflags",
    "enableflags",
)
_C_ONLY = {  # C options MJX (impl="jax") has no field for: what MJX does instead
    "noslip_iterations": (0, "no noslip solver"),
    "ccd_iterations": (None, "primitive colliders only here (no convex CCD)"),
    "o_margin": (0.0, "override off"),
}


def _plain(value: Any) -> Any:
    value = np.asarray(value)
    return value.item() if value.size == 1 else value.tolist()


def option_rows(env: Any, c_pairs: set[tuple[int, int]] | None = None) -> list[dict[str, Any]]:
    """MJX's solver/contact settings against the C model's, one row per setting or known
    difference: `name`, `c`, `mjx`, `same` (bool), `note`.

    Known MJX 3.17 differences, and whether `env`'s physics has the `envs.mjx_fixes` for
    them: the plane-capsule contact frame (matters only when a capsule axis can leave the
    plane of motion, i.e. with free or ball joints) and RK4 on quaternions (free or ball
    joints). `c_pairs`: geom pairs seen in C contacts (from `gym_episodes`-recorded data);
    each must be among MJX's collision candidates. The state dtype is listed too."""
    # MJX's internals import here, after `ddpg_jax.envs` (which built `env`) has imported mjx
    # without its start-up notice on stdout.
    from mujoco.mjx._src import collision_driver
    from mujoco.mjx._src.types import GeomType

    m = env.mj_model
    pairs = list(collision_driver.geom_pairs(m))
    types = {(GeomType(m.geom_type[g1]), GeomType(m.geom_type[g2])) for g1, g2, _ in pairs}
    return [
        *_setting_rows(m, env.model),
        _collision_row(pairs, types, c_pairs),
        *_known_difference_rows(env, types),
    ]


def _setting_rows(m: Any, mm: Any) -> list[dict[str, Any]]:
    """The `opt` fields of the C model `m` against the MJX model `mm`, the C-only options, the
    state dtype and the solver's stopping scale."""
    rows = []
    for name in _OPTION_FIELDS:
        c, x = _plain(getattr(m.opt, name)), _plain(getattr(mm.opt, name))
        same = bool(np.allclose(float(c), float(x), rtol=1e-6)) if np.isscalar(c) else c == x
        rows.append({"name": f"opt.{name}", "c": c, "mjx": x, "same": same, "note": ""})
    for name, (expected, note) in _C_ONLY.items():
        c = _plain(getattr(m.opt, name))
        same = expected is None or c == expected
        rows.append({"name": f"opt.{name}", "c": c, "mjx": "-", "same": same, "note": note})
    dtype = str(mm.opt.timestep.dtype)
    rows.append(
        {
            "name": "float dtype",
            "c": "float64",
            "mjx": dtype,
            "same": dtype == "float64",
            "note": "" if dtype == "float64" else "opt.tolerance 1e-8 is below float32 round-off",
        }
    )

    scale = float(m.stat.meaninertia) * max(1, m.nv)
    rows.append(
        {
            "name": "solver stopping scale",
            "c": f"meaninertia * nv = {scale:.4g} (constant)",
            "mjx": "trace(M(q)) (current state)",
            "same": False,
            "note": "no fix; moves where Newton stops, within opt.tolerance",
        }
    )
    return rows


def _collision_row(pairs: list, types: set, c_pairs: set[tuple[int, int]] | None) -> dict:
    """MJX's collision candidates (`pairs`, of geom `types`) against the pairs C touched."""
    candidates = {(min(g1, g2), max(g1, g2)) for g1, g2, _ in pairs}
    type_names = sorted(f"{a.name}-{b.name}" for a, b in types)
    return {
        "name": "collision candidates",
        "c": "-" if c_pairs is None else f"{len(c_pairs)} pairs in contact",
        "mjx": f"{len(candidates)} pairs, types {', '.join(type_names)}",
        "same": c_pairs is None or c_pairs <= candidates,
        "note": ""
        if c_pairs is None
        else f"C pairs missing in MJX: {sorted(c_pairs - candidates)}",
    }


def _known_difference_rows(env: Any, types: set) -> list[dict[str, Any]]:
    """The known MJX 3.17 differences: present in the model, relevant (free or ball joints),
    and covered by `envs.mjx_fixes` or not."""
    from mujoco.mjx._src.types import GeomType, JointType

    from ddpg_jax.envs import mjx_fixes

    m = env.mj_model
    jnt = set(np.asarray(m.jnt_type).tolist())
    quaternion = bool(jnt & {int(JointType.FREE), int(JointType.BALL)})
    fixed = env._physics is mjx_fixes.physics_step
    cover = "covered (mjx_fixes.physics_step)" if fixed else "NOT covered (raw mjx.step)"
    plane_capsule = (GeomType.PLANE, GeomType.CAPSULE) in types
    rk4 = int(m.opt.integrator) == int(mujoco.mjtIntegrator.mjINT_RK4)
    rows = []
    for name, present, harmless in (
        ("plane-capsule contact frame", plane_capsule, "capsule axes stay in the plane of motion"),
        ("RK4 on quaternions (Lie group)", rk4, "no free or ball joint"),
    ):
        relevant = present and quaternion
        note = cover if relevant else (f"harmless: {harmless}" if present else "not in model")
        rows.append(
            {
                "name": name,
                "c": "C MuJoCo",
                "mjx": "fixed" if fixed else "MJX 3.17",
                "same": fixed or not relevant,
                "note": note,
            }
        )
    return rows


def c_contact_pairs(env: Any, episodes: list[dict[str, Any]], stride: int = 5) -> set:
    """Geom pairs in C contact along recorded episodes (every `stride`-th state, re-run
    through `mj_forward`)."""
    m = env.mj_model
    d = mujoco.MjData(m)
    pairs = set()
    for ep in episodes:
        for t in range(0, int(ep["length"]) + 1, stride):
            d.qpos[:], d.qvel[:] = ep["qpos"][t], ep["qvel"][t]
            mujoco.mj_forward(m, d)
            for i in range(d.ncon):
                g1, g2 = int(d.contact.geom1[i]), int(d.contact.geom2[i])
                pairs.add((min(g1, g2), max(g1, g2)))
    return pairs
