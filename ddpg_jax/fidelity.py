"""How far MJX's return of a policy is from Gymnasium's, and why: chaos baseline, precision,
per-step divergence and solver/contact options. Core of `benchmarks/fidelity.py`; no printing.

For one `policy.LoadedPolicy` and the episode seeds `evaluate` uses (`reset(seed=k)`):
  - `gym_episodes`: Gymnasium (C MuJoCo) episodes, optionally from the reset state perturbed
    by `perturbation` (uniform in [-p, p] on every qpos and qvel entry): the chaos baseline;
    with `record=True` also each step's state, action, contact count and solver iterations.
  - `mjx_episodes`: MJX from Gymnasium's initial states, in float32 or float64, the episodes
    batched with `vmap` in one `lax.while_loop` that records the same per-step quantities.
  - `local_errors`: MJX stepped once from every recorded C state with C's action (and
    `qacc_warmstart`), against C's next state: MJX's own per-step error, free of chaos.
  - `divergence`: the first step where the closed-loop MJX and C states differ by more than
    `DIVERGENCE` (max abs over qpos and qvel), and what happens there.
  - `option_rows`: MJX's solver and contact settings against the C model's, and whether
    `envs.mjx_fixes` covers each known difference.
`summary_row`/`MARKDOWN_HEADER` turn a record into one markdown table row.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

PERTURBATIONS = (1e-9, 1e-6)
"""Scales of the initial-state perturbations of the chaos baseline."""
DIVERGENCE = 1e-6
"""A closed-loop MJX state has left the C one when max |qpos, qvel| difference exceeds this."""
MACRO_DIVERGENCE = 1e-2
"""...and the two trajectories are visibly different motions past this."""

# Index of the height and of the body angle in qpos, for the termination margin.
_Z_INDEX = {"hopper": 1, "walker2d": 1, "ant": 2}
_ANGLE_INDEX = {"hopper": 2, "walker2d": 2}


# --- pure helpers ---


def perturb(qpos: np.ndarray, qvel: np.ndarray, scale: float, seed: int) -> tuple[Any, Any]:
    """qpos and qvel plus uniform noise in [-scale, scale] per entry, drawn from `seed`
    (the same draw for the same seed, so a baseline is reproducible)."""
    if scale == 0.0:
        return qpos.copy(), qvel.copy()
    rng = np.random.default_rng([int(seed), 0xF1DE])
    noise = rng.uniform(-1.0, 1.0, qpos.size + qvel.size) * scale
    return qpos + noise[: qpos.size], qvel + noise[qpos.size :]


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


def relative_gap(value: float, reference: float) -> float:
    """`(value - reference) / max(|reference|, 1)`, as `evaluate` reports its gap."""
    return (value - reference) / max(abs(reference), 1.0)


def return_stats(returns: Any, lengths: Any, reference: Any | None = None) -> dict[str, Any]:
    """Mean ± std of returns, mean length, episodes cut short, and against `reference`
    (the unperturbed C returns of the same episodes) the relative gap of the means and the
    mean |per-episode return difference|."""
    returns, lengths = np.asarray(returns, float), np.asarray(lengths)
    out = {
        "returns": returns.tolist(),
        "lengths": lengths.tolist(),
        "mean": float(returns.mean()),
        "std": float(returns.std()),
        "length_mean": float(lengths.mean()),
    }
    if reference is not None:
        reference = np.asarray(reference, float)
        out["gap"] = relative_gap(out["mean"], float(reference.mean()))
        out["episode_abs_diff"] = float(np.abs(returns - reference).mean())
    return out


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


# --- machine and precision ---


def machine() -> dict[str, Any]:
    """CPU model, AVX-512 or not, cores, load average, date and library versions."""
    import jax
    import mujoco

    cpu, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        cpu = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln)
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    except (OSError, StopIteration):
        pass
    versions = {"jax": jax.__version__, "mujoco": mujoco.__version__}
    for name in ("mujoco-mjx", "gymnasium"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[name] = version(name)
    return {
        "cpu": cpu,
        "avx512f": "avx512f" in flags.split(),
        "cores": len(os.sched_getaffinity(0)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "jax_backend": jax.default_backend(),
        "versions": versions,
    }


@contextlib.contextmanager
def precision(x64: bool) -> Iterator[None]:
    """`jax_enable_x64` set to `x64` inside the block (envs built inside take its dtype).
    JAX's caches are cleared on the way in and out: inner jitted helpers traced in the other
    precision (e.g. MJX's `tril` in RK4) would otherwise be reused and fail to lower."""
    import jax

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", x64)
    jax.clear_caches()
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
        jax.clear_caches()


# --- Gymnasium (C MuJoCo) ---


def gym_episodes(
    pi: Any,
    episode_seeds: list[int],
    max_steps: int,
    perturbation: float = 0.0,
    record: bool = False,
) -> list[dict[str, Any]]:
    """Noise-free Gymnasium episodes of `pi`, reset with `seed=k`, the reset state perturbed
    by `perturbation` (see `perturb`; the observation recomputed). Each: `return`, `length`,
    reset `qpos0`/`qvel0` (after the perturbation); with `record`, `qpos`/`qvel`/`warm`
    (`qacc_warmstart`) `[T+1, ...]`, `actions` `[T, nu]`, `ncon`/`niter` `[T+1]`."""
    from ddpg_jax import video

    env = video.make_gym_env(pi.gym_id, max_steps)
    episodes = []
    try:
        for seed in episode_seeds:
            obs, _ = env.reset(seed=int(seed))
            raw = env.unwrapped
            if perturbation:
                raw.set_state(*perturb(raw.data.qpos, raw.data.qvel, perturbation, seed))
                obs = raw._get_obs()
            d = raw.data
            ep = {"qpos0": d.qpos.copy(), "qvel0": d.qvel.copy()}
            keys = ("qpos", "qvel", "warm", "actions", "ncon", "niter")
            rec: dict[str, list] = {k: [] for k in keys}

            def snapshot(d=d, rec=rec) -> None:
                rec["qpos"].append(d.qpos.copy())
                rec["qvel"].append(d.qvel.copy())
                rec["warm"].append(d.qacc_warmstart.copy())
                rec["ncon"].append(int(d.ncon))
                rec["niter"].append(int(d.solver_niter[0]))

            if record:
                snapshot()
            total, length, done = 0.0, 0, False
            while not done:
                action = pi.act(obs)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                length += 1
                done = terminated or truncated
                if record:
                    rec["actions"].append(np.asarray(action, np.float64))
                    snapshot()
            ep.update(**{"return": total, "length": length})
            if record:
                ep.update({k: np.asarray(v) for k, v in rec.items()})
            episodes.append(ep)
    finally:
        env.close()
    return episodes


# --- MJX ---


def make_mjx_env(env_name: str) -> Any:
    """The MJX env of the task as `evaluate` builds it (in the current precision)."""
    from ddpg_jax import envs

    return envs.make(env_name, backend="mjx")


def _active_contacts(data: Any) -> Any:
    """Contacts inside the constraint (distance below the include margin) of MJX data."""
    import jax.numpy as jnp

    contact = data._impl.contact
    if contact.dist.size == 0:
        return jnp.zeros((), jnp.int32)
    return jnp.sum(contact.dist < contact.includemargin).astype(jnp.int32)


def mjx_episodes(
    pi: Any, env: Any, qpos0: np.ndarray, qvel0: np.ndarray, max_steps: int
) -> dict[str, np.ndarray]:
    """Closed-loop MJX episodes of `pi` in `env` from the given initial states `[n, nq]`,
    `[n, nv]`, vmapped, in one jitted `lax.while_loop` that stops when all have ended.

    Returns `returns`, `lengths` `[n]` and per step `qpos`/`qvel` `[n, max_steps+1, ...]`,
    `actions` `[n, max_steps, nu]`, `ncon` `[n, max_steps+1]` (entries past an episode's end
    repeat its last state)."""
    import jax
    import jax.numpy as jnp

    from ddpg_jax import agent

    cfg = pi.config
    n = qpos0.shape[0]

    def run(params, qpos0, qvel0):
        state = jax.vmap(lambda q, v: env.set_state(env.blank_state(), q, v))(qpos0, qvel0)
        dtype = state.data.qpos.dtype
        buf = {
            "qpos": jnp.zeros((n, max_steps + 1, qpos0.shape[1]), dtype),
            "qvel": jnp.zeros((n, max_steps + 1, qvel0.shape[1]), dtype),
            "actions": jnp.zeros((n, max_steps, env.action_size), jnp.float32),
            "ncon": jnp.zeros((n, max_steps + 1), jnp.int32),
        }

        def put(buf, t, state, action=None):
            buf = dict(buf)
            buf["qpos"] = buf["qpos"].at[:, t].set(state.data.qpos)
            buf["qvel"] = buf["qvel"].at[:, t].set(state.data.qvel)
            buf["ncon"] = buf["ncon"].at[:, t].set(jax.vmap(_active_contacts)(state.data))
            if action is not None:
                buf["actions"] = buf["actions"].at[:, t - 1].set(action)
            return buf

        def body(carry):
            state, alive, total, length, t, buf = carry
            action = agent.act(cfg, params, state.obs)
            state = jax.vmap(env.step)(state, action)  # ended episodes run on, unrecorded
            total = jnp.where(alive > 0, total + state.reward, total)
            length = length + alive
            alive = alive * (state.done == 0)
            return state, alive, total, length, t + 1, put(buf, t + 1, state, action)

        def running(carry):
            return jnp.any(carry[1] > 0) & (carry[4] < max_steps)

        zeros = jnp.zeros((n,), dtype)
        carry = (state, jnp.ones((n,), jnp.int32), zeros, jnp.zeros((n,), jnp.int32), 0)
        carry = (*carry, put(buf, 0, state))
        _, _, total, length, t, buf = jax.lax.while_loop(running, body, carry)
        return total, length, t, buf

    total, length, _, buf = jax.jit(run)(pi.params, qpos0, qvel0)
    out = {k: np.array(v) for k, v in buf.items()}  # writable copies
    for i, end in enumerate(np.asarray(length)):  # past an episode's end: its last state
        for k in ("qpos", "qvel", "ncon"):
            out[k][i, end + 1 :] = out[k][i, end]
        out["actions"][i, end:] = 0.0
    out.update(returns=np.asarray(total, np.float64), lengths=np.asarray(length, np.int64))
    return out


def mjx_episode(out: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Episode `i` of `mjx_episodes`' output, in the per-episode layout `divergence` takes."""
    length = int(out["lengths"][i])
    ep = {k: out[k][i] for k in ("qpos", "qvel", "actions", "ncon")}
    return {**ep, "length": length, "return": float(out["returns"][i])}


def local_errors(env: Any, episodes: list[dict[str, Any]], chunk: int = 64) -> dict[str, Any]:
    """MJX's one-step error along recorded C episodes: from each C state (qpos, qvel,
    `qacc_warmstart`) with C's action, one MJX control step against C's next state.

    Returns per episode the errors `[T]` and overall max, median, the fraction above 1e-9
    and `DIVERGENCE`, and where the largest error is (episode, step)."""
    import jax
    import jax.numpy as jnp

    def one(qpos, qvel, warm, action):
        state = env.set_state(env.blank_state(), qpos, qvel)
        data = state.data.replace(qacc_warmstart=jnp.asarray(warm, state.data.qpos.dtype))
        data = env.physics_step(data, jnp.asarray(action, state.data.qpos.dtype))
        return data.qpos, data.qvel

    step = jax.jit(jax.vmap(one))
    per_episode = []
    for ep in episodes:
        t = int(ep["length"])
        rows = [ep["qpos"][:t], ep["qvel"][:t], ep["warm"][:t], ep["actions"][:t]]
        errs = []
        for start in range(0, t, chunk):
            batch = [r[start : start + chunk] for r in rows]
            size = batch[0].shape[0]
            batch = [np.concatenate([b, np.repeat(b[-1:], chunk - size, 0)]) for b in batch]
            qpos, qvel = step(*batch)
            stop = start + size
            target = (ep["qpos"][start + 1 : stop + 1], ep["qvel"][start + 1 : stop + 1])
            errs.append(state_error(np.asarray(qpos)[:size], np.asarray(qvel)[:size], *target))
        per_episode.append(np.concatenate(errs))
    flat = np.concatenate(per_episode)
    worst = int(np.nanargmax(np.where(np.isfinite(flat), flat, np.inf)))
    offsets = np.cumsum([0] + [len(e) for e in per_episode])
    episode = int(np.searchsorted(offsets, worst, side="right") - 1)
    return {
        "errors": [e.tolist() for e in per_episode],
        "max": float(flat[worst]),
        "median": float(np.median(flat)),
        "above_1e-9": float(np.mean(~(flat <= 1e-9))),
        "above_divergence": float(np.mean(~(flat <= DIVERGENCE))),
        "worst": {"episode": episode, "step": worst - int(offsets[episode])},
        "states": int(flat.size),
    }


# --- options ---

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
    import mujoco
    from mujoco.mjx._src import collision_driver
    from mujoco.mjx._src.types import GeomType, JointType

    from ddpg_jax.envs import mjx_fixes

    m, mm = env.mj_model, env.model
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
    pairs = list(collision_driver.geom_pairs(m))
    candidates = {(min(g1, g2), max(g1, g2)) for g1, g2, _ in pairs}
    types = {(GeomType(m.geom_type[g1]), GeomType(m.geom_type[g2])) for g1, g2, _ in pairs}
    type_names = sorted(f"{a.name}-{b.name}" for a, b in types)
    rows.append(
        {
            "name": "collision candidates",
            "c": "-" if c_pairs is None else f"{len(c_pairs)} pairs in contact",
            "mjx": f"{len(candidates)} pairs, types {', '.join(type_names)}",
            "same": c_pairs is None or c_pairs <= candidates,
            "note": ""
            if c_pairs is None
            else f"C pairs missing in MJX: {sorted(c_pairs - candidates)}",
        }
    )
    jnt = set(np.asarray(m.jnt_type).tolist())
    quaternion = bool(jnt & {int(JointType.FREE), int(JointType.BALL)})
    fixed = env._physics is mjx_fixes.physics_step
    cover = "covered (mjx_fixes.physics_step)" if fixed else "NOT covered (raw mjx.step)"
    plane_capsule = (GeomType.PLANE, GeomType.CAPSULE) in types
    rk4 = int(m.opt.integrator) == int(mujoco.mjtIntegrator.mjINT_RK4)
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
    import mujoco

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


# --- one record ---

MARKDOWN_HEADER = (
    "| task (checkpoint) | C return | C +1e-9 (gap) | C +1e-6 (gap) | MJX f32 (gap) | "
    "MJX f64 (gap) | lengths C / f32 / f64 | first step > 1e-6, f32 / f64 (median) | "
    "one-step error f32 / f64 (max, median) |\n|---|---|---|---|---|---|---|---|---|"
)


def summary_row(record: dict[str, Any]) -> str:
    """One markdown row of `MARKDOWN_HEADER` for a `benchmarks/fidelity.py` record."""

    def ret(key: str) -> str:
        s = record.get(key)
        if s is None:
            return "-"
        gap = f" ({100 * s['gap']:+.1f}%)" if "gap" in s else ""
        return f"{s['mean']:.0f} ± {s['std']:.0f}{gap}"

    def lengths() -> str:
        keys = ("gym", "mjx_float32", "mjx_float64")
        return " / ".join(f"{record[k]['length_mean']:.0f}" if k in record else "-" for k in keys)

    def steps() -> str:
        out = []
        for p in ("float32", "float64"):
            div = record.get("divergence", {}).get(p)
            if div is None:
                out.append("-")
                continue
            s = [d["step"] for d in div]
            never = sum(x is None for x in s)
            med = np.median([x for x in s if x is not None]) if never < len(s) else None
            out.append(
                ("never" if med is None else f"{med:.0f}")
                + (f" ({never} never)" if never and med is not None else "")
            )
        return " / ".join(out)

    def local() -> str:
        out = []
        for p in ("float32", "float64"):
            e = record.get("local", {}).get(p)
            out.append("-" if e is None else f"{e['max']:.1e}, {e['median']:.1e}")
        return " / ".join(out)

    pert = [f"gym_perturbed_{p:g}" for p in PERTURBATIONS]
    cells = [
        f"{record['gym_id']} ({record['checkpoint_step']})",
        ret("gym"),
        ret(pert[0]),
        ret(pert[1]),
        ret("mjx_float32"),
        ret("mjx_float64"),
        lengths(),
        steps(),
        local(),
    ]
    return "| " + " | ".join(cells) + " |"


def measure(
    pi: Any,
    episode_seeds: list[int],
    max_steps: int,
    perturbations: tuple[float, ...] = PERTURBATIONS,
    precisions: tuple[str, ...] = ("float32", "float64"),
    local: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Everything above for one policy: the JSON-ready record that `summary_row` formats.

    Keys: `gym` and `gym_perturbed_<p>` (return stats, see `return_stats`), `mjx_<precision>`,
    `divergence[<precision>]` (one `divergence` per episode), `local[<precision>]` (see
    `local_errors`, without the per-step lists), `options` (`option_rows`)."""
    import time

    say = progress or (lambda _: None)
    record: dict[str, Any] = {
        "env": pi.env,
        "gym_id": pi.gym_id,
        "checkpoint_step": pi.step,
        "seed_index": pi.seed_index,
        "episode_seeds": list(episode_seeds),
        "max_episode_steps": max_steps,
        "divergence_threshold": DIVERGENCE,
        "divergence": {},
        "local": {},
        "seconds": {},
    }
    t0 = time.time()
    c_eps = gym_episodes(pi, episode_seeds, max_steps, record=True)
    c_returns = [ep["return"] for ep in c_eps]
    record["gym"] = return_stats(c_returns, [ep["length"] for ep in c_eps])
    record["seconds"]["gym"] = time.time() - t0
    say(f"Gymnasium: {record['gym']['mean']:.1f} ± {record['gym']['std']:.1f}")
    for p in perturbations:
        t0 = time.time()
        eps = gym_episodes(pi, episode_seeds, max_steps, perturbation=p)
        stats = return_stats([e["return"] for e in eps], [e["length"] for e in eps], c_returns)
        record[f"gym_perturbed_{p:g}"] = stats
        record["seconds"][f"gym_perturbed_{p:g}"] = time.time() - t0
        say(
            f"Gymnasium, start perturbed by {p:g}: {stats['mean']:.1f} ({100 * stats['gap']:+.2f}%)"
        )
    qpos0 = np.stack([ep["qpos0"] for ep in c_eps])
    qvel0 = np.stack([ep["qvel0"] for ep in c_eps])
    for name in precisions:
        with precision(name == "float64"):
            env = make_mjx_env(pi.env)
            if "options" not in record:
                pairs = c_contact_pairs(env, c_eps)
                record["options"] = option_rows(env, pairs)
                record["c_contact_pairs"] = sorted(pairs)
            t0 = time.time()
            out = mjx_episodes(pi, env, qpos0, qvel0, max_steps)
            record["seconds"][f"mjx_{name}"] = time.time() - t0
            stats = return_stats(out["returns"], out["lengths"], c_returns)
            record[f"mjx_{name}"] = stats
            say(f"MJX {name}: {stats['mean']:.1f} ({100 * stats['gap']:+.2f}%)")

            def margin(q, v, env=env):
                return termination_margin(pi.env, env, q, v)

            record["divergence"][name] = [
                divergence(c, mjx_episode(out, i), margin) for i, c in enumerate(c_eps)
            ]
            if local:
                t0 = time.time()
                errs = local_errors(env, c_eps)
                record["seconds"][f"local_{name}"] = time.time() - t0
                record["local"][name] = {k: v for k, v in errs.items() if k != "errors"}
                say(f"MJX {name} one-step error along C: max {errs['max']:.1e}")
    return record
