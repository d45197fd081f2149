"""Where a closed-loop MJX trajectory leaves the C MuJoCo one from the same start: the state
error per step, the first step past a threshold, and what happens there (contacts, solver
iterations, distance to the termination bounds)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

DIVERGENCE = 1e-6
"""A closed-loop MJX state has left the C one when max |qpos, qvel| difference exceeds this."""
MACRO_DIVERGENCE = 1e-2
"""...and the two trajectories are visibly different motions past this."""

# Index of the height and of the body angle in qpos, for the termination margin.
_Z_INDEX = {"hopper": 1, "walker2d": 1, "ant": 2}
_ANGLE_INDEX = {"hopper": 2, "walker2d": 2}


def state_error(qpos_a: Any, qvel_a: Any, qpos_b: Any, qvel_b: Any) -> np.ndarray:
    """Max abs difference over qpos and qvel, along the last axis (`[..., nq]`, `[..., nv]`)."""
    return np.maximum(
        np.abs(np.asarray(qpos_a) - np.asarray(qpos_b)).max(-1),
        np.abs(np.asarray(qvel_a) - np.asarray(qvel_b)).max(-1),
    )


def first_above(errors: np.ndarray, threshold: float) -> int | None:
    """Index of the first entry above `threshold` (NaN counts as above), or None."""
    above = ~(np.asarray(errors) <= threshold)
    return int(np.argmax(above)) if above.any() else None


def termination_margin(env_name: str, env: Any, qpos: np.ndarray, qvel: np.ndarray) -> float:
    """Distance of the state to the nearest bound of the task's healthy ranges (inf for a task
    that never terminates); negative once outside. Reads the ranges from `env`'s attributes."""
    margins = [np.inf]
    if env_name in _Z_INDEX and hasattr(env, "healthy_z_range"):
        z, (low, high) = qpos[_Z_INDEX[env_name]], env.healthy_z_range
        margins += [z - low, high - z]
    if env_name in _ANGLE_INDEX and hasattr(env, "healthy_angle_range"):
        angle, (low, high) = qpos[_ANGLE_INDEX[env_name]], env.healthy_angle_range
        margins += [angle - low, high - angle]
    if hasattr(env, "healthy_state_range"):
        low, high = env.healthy_state_range
        state = np.concatenate([qpos, qvel])[2:]
        margins += [state.min() - low, high - state.max()]
    return float(min(margins))


def divergence(
    c_ep: dict[str, np.ndarray],
    m_ep: dict[str, np.ndarray],
    margin: Callable[[np.ndarray, np.ndarray], float],
    threshold: float = DIVERGENCE,
) -> dict[str, Any]:
    """Where one closed-loop MJX episode leaves the C episode from the same start.

    `c_ep`/`m_ep` hold `qpos` `[T+1, nq]`, `qvel`, `actions` `[T, nu]`, `ncon` `[T+1]` (contacts
    in the constraint, index t = after step t) and `length`; `c_ep` also `niter` (C solver
    iterations of the step's last solve). `margin(qpos, qvel)` is the termination margin.
    Returns the first step above `threshold` and above `MACRO_DIVERGENCE` (None if never,
    within the shorter episode), the action difference at step 0 (same observation: the
    policy evaluated in two places), and at the divergence step: contacts in C and MJX
    before and after it, C's solver iterations, the termination margin in C."""
    n = min(int(c_ep["length"]), int(m_ep["length"])) + 1
    errors = state_error(c_ep["qpos"][:n], c_ep["qvel"][:n], m_ep["qpos"][:n], m_ep["qvel"][:n])
    step = first_above(errors, threshold)
    out: dict[str, Any] = {
        "step": step,
        "macro_step": first_above(errors, MACRO_DIVERGENCE),
        "action0_diff": float(np.abs(c_ep["actions"][0] - m_ep["actions"][0]).max()),
        "c_length": int(c_ep["length"]),
        "mjx_length": int(m_ep["length"]),
    }
    if step is not None:
        prev = max(step - 1, 0)
        out.update(
            error=float(errors[step]),
            error_before=float(errors[prev]),
            c_ncon=[int(c_ep["ncon"][prev]), int(c_ep["ncon"][step])],
            mjx_ncon=[int(m_ep["ncon"][prev]), int(m_ep["ncon"][step])],
            c_niter=int(c_ep["niter"][step]),
            margin=margin(c_ep["qpos"][step], c_ep["qvel"][step]),
        )
        out["contact_change"] = bool(
            out["c_ncon"][0] != out["c_ncon"][1] or out["mjx_ncon"] != out["c_ncon"]
        )
    return out
