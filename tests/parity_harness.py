"""Parity with Gymnasium's v5 envs (C MuJoCo): Gymnasium rollouts, our env synced to the same
states and stepped with the same actions, and the errors between the two.

Used by tests/test_envs_parity.py, tests/test_ant_parity.py and tests/test_c_backend.py,
which import it by name: tests/ has no __init__.py, so pytest's default import mode puts this
folder on sys.path.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import numpy as np
import pytest

from ddpg_jax import envs

# The default suite compiles MJX physics only for these two (a pendulum and a legged task);
# the other tasks' MJX cases run under `pytest -m slow`: cold compiles of every task took the
# suite past its 15-minute budget on a 2-core machine without AVX-512 (BENCHMARKS.md).
FAST_MJX_TASKS = ("inverted_pendulum", "hopper")


def slow_unless_fast_mjx(tasks):
    """Parametrize values: each task, marked `slow` unless it is in FAST_MJX_TASKS."""
    return [t if t in FAST_MJX_TASKS else pytest.param(t, marks=pytest.mark.slow) for t in tasks]


def gym_env(name: str):
    return gym.make(envs.GYM_IDS[name]).unwrapped


def gym_rollout_states(
    name: str,
    num_states: int,
    seed: int,
    *,
    steps_per_state: int = 2,
    max_steps: int = 60,
    info_keys: tuple[str, ...] | None = None,
) -> dict:
    """States along random-action Gymnasium rollouts, and Gymnasium's results of
    `steps_per_state` steps from each.

    Returns qpos, qvel, warm (qacc_warmstart) and obs0, `[num_states, ...]`; action, obs,
    reward, terminated and info (a dict over `info_keys`, default all of Gymnasium's),
    `[num_states, steps_per_state, ...]`.

    Actions are drawn 20% beyond the bounds, to exercise MuJoCo's ctrl clamping and the
    raw-action ctrl cost. At each recorded state Gymnasium's `set_state(qpos, qvel)` runs
    first, as our sync does: it keeps `qacc_warmstart` and recomputes `xpos` from qpos. With
    two steps, the second checks what a plain rollout carries over: `xpos` of the last RK4
    stage (Ant's x_velocity) and `qacc_warmstart`. Episodes are cut at termination and at
    `max_steps`, so the states mix landings after a reset with walking, tumbling and terminal
    states.
    """
    env = gym_env(name)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    mid, half = (high + low) / 2, 1.2 * (high - low) / 2
    env.reset(seed=seed)
    rec: dict[str, list] = {k: [] for k in ("qpos", "qvel", "warm", "obs0", "action", "obs")}
    rec.update(reward=[], terminated=[], info=[])
    steps = 0
    while len(rec["action"]) < num_states:
        qpos, qvel = env.data.qpos.copy(), env.data.qvel.copy()
        rec["qpos"].append(qpos)
        rec["qvel"].append(qvel)
        rec["warm"].append(env.data.qacc_warmstart.copy())
        env.set_state(qpos, qvel)
        rec["obs0"].append(env._get_obs())
        actions = mid + half * rng.uniform(-1.0, 1.0, size=(steps_per_state, *low.shape))
        results = [env.step(a) for a in actions]
        rec["action"].append(actions)
        rec["obs"].append([r[0] for r in results])
        rec["reward"].append([r[1] for r in results])
        rec["terminated"].append([r[2] for r in results])
        rec["info"].append([r[4] for r in results])
        steps += steps_per_state
        if any(r[2] for r in results) or steps >= max_steps:
            env.reset(seed=int(rng.integers(1 << 31)))
            steps = 0
    out = {k: np.asarray(v) for k, v in rec.items() if k != "info"}
    keys = rec["info"][0][0].keys() if info_keys is None else info_keys
    out["info"] = {
        k: np.asarray([[i[k] for i in infos] for infos in rec["info"]], np.float64) for k in keys
    }
    return out


def gym_obs_after_set_state(env, qpos, qvel, warm=None) -> np.ndarray:
    """Gymnasium's observations after `reset` (mj_resetData) and `set_state(qpos[i], qvel[i])`,
    as after a reset whose noise gave them; `[num_states, obs]`."""
    obs = []
    for i in range(len(qpos)):
        env.reset(seed=0)
        if warm is not None:
            env.data.qacc_warmstart[:] = warm[i]
        env.set_state(qpos[i], qvel[i])
        obs.append(env._get_obs())
    return np.stack(obs)


def synced_steps(env, qpos, qvel, warm, actions, keys=None, chunk=None):
    """Our env synced to each state (qpos, qvel, warm as qacc_warmstart) and stepped through
    `actions[i]`, `[num_states, steps, action]`, in one jit + vmap.

    The sync starts from `env.reset(keys[i])`, or from `env.blank_state()` without keys.
    Returns `(start, synced, stepped)` states as numpy, stepped with fields
    `[num_states, steps, ...]`. `chunk` states per call bounds memory; chunks of one size
    compile once.
    """

    @jax.jit
    def run(keys, qpos, qvel, warm, actions):
        def one(key, qp, qv, w, acts):
            start = env.blank_state() if key is None else env.reset(key)
            state = start.replace(data=start.data.replace(qacc_warmstart=w))
            synced = env.set_state(state, qp, qv)

            def step(s, a):
                s = env.step(s, a)
                return s, s

            return start, synced, jax.lax.scan(step, synced, acts)[1]

        return jax.vmap(one)(keys, qpos, qvel, warm, actions)

    args = (keys, qpos, qvel, warm, actions)
    chunk = chunk or len(qpos)
    chunks = [
        run(*jax.tree.map(lambda x, i=i: x[i : i + chunk], args))
        for i in range(0, len(qpos), chunk)
    ]
    return jax.tree.map(lambda *x: np.concatenate(x), *chunks)


def per_state_errors(ours, ref) -> np.ndarray:
    """Max abs error per state, `[num_states]`."""
    diff = np.abs(np.asarray(ours, np.float64) - np.asarray(ref, np.float64))
    return diff.reshape(diff.shape[0], -1).max(axis=1)


def step_errors(stepped, ref: dict) -> dict[str, np.ndarray]:
    """Per-state errors of obs, reward and each reward term (`metrics` vs Gymnasium's `info`),
    once termination agrees exactly and the terms have the same names."""
    assert set(stepped.metrics) == set(ref["info"]), (sorted(stepped.metrics), sorted(ref["info"]))
    np.testing.assert_array_equal(stepped.done, ref["terminated"].astype(np.float64))
    errors = {
        "obs": per_state_errors(stepped.obs, ref["obs"]),
        "reward": per_state_errors(stepped.reward, ref["reward"]),
    }
    for k, v in ref["info"].items():
        errors[k] = per_state_errors(stepped.metrics[k], v)
    return errors


def assert_errors_within(title: str, errors: dict, tol: float) -> None:
    print(f"\n{title}; max abs errors:")
    for k, v in errors.items():
        print(f"  {k:24s} {np.max(v):.1e}")
    bad = {k: np.max(v) for k, v in errors.items() if not np.max(v) <= tol}
    assert not bad, bad
