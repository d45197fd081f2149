"""Parity of the MJX tasks with Gymnasium's own v5 envs (C MuJoCo), in float64.

For each task, states are taken from Gymnasium rollouts with random actions (fixed seeds,
actions drawn 20% beyond the bounds to exercise MuJoCo's ctrl clamping and the raw-action
ctrl cost). Both simulators get the same qpos/qvel/qacc_warmstart and action; observation,
reward, every reward term (`metrics` vs Gymnasium's `info`) and termination must agree to
1e-8. The same jitted function also checks `set_state` and `reset` (our noise replayed in
Gymnasium), so each task compiles once.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from parity_harness import (
    assert_errors_within,
    gym_env,
    gym_obs_after_set_state,
    gym_rollout_states,
    slow_unless_fast_mjx,
    step_errors,
    synced_steps,
)

from ddpg_jax import envs

NUM_STATES = 128  # per task, >= 100
NUM_RESETS = 4000  # for the reset-distribution test
TOL = 1e-8
PARITY_TASKS = [t for t in envs.TASKS if t != "ant"]  # Ant: tests/test_ant*.py


pytestmark = pytest.mark.usefixtures("float64_module")  # float64, this module only


@pytest.mark.parametrize("name", slow_unless_fast_mjx(PARITY_TASKS))
def test_step_reset_set_state_parity(name):
    """One jit per task over 2 * NUM_STATES states: the first half are Gymnasium pre-step
    states (set_state + step compared), the second half our reset samples (`reset` is
    `set_state(blank_state(), sample_init_qpos_qvel(key))`, so its obs is compared too)."""
    ref = gym_rollout_states(name, NUM_STATES, seed=PARITY_TASKS.index(name), steps_per_state=1)
    env = envs.make(name, backend="mjx")
    assert env.gym_id == envs.GYM_IDS[name]
    n = NUM_STATES

    keys = jax.random.split(jax.random.key(7), n)
    reset_qpos, reset_qvel = map(np.asarray, jax.vmap(env.sample_init_qpos_qvel)(keys))
    qpos = np.concatenate([ref["qpos"], reset_qpos])  # [2n, nq]
    qvel = np.concatenate([ref["qvel"], reset_qvel])  # [2n, nv]
    warm = np.concatenate([ref["warm"], np.zeros_like(ref["warm"])])
    action = np.concatenate([ref["action"], np.zeros_like(ref["action"])])
    _, synced, stepped = synced_steps(env, qpos, qvel, warm, action)
    assert stepped.obs.dtype == np.float64

    gym_obs = gym_obs_after_set_state(gym_env(name), qpos, qvel, warm)
    errors = {
        "set_state obs": np.abs(synced.obs[:n] - gym_obs[:n]).max(),
        "reset obs": np.abs(synced.obs[n:] - gym_obs[n:]).max(),
        **step_errors(jax.tree.map(lambda x: x[:n], stepped), ref),
    }
    assert_errors_within(f"{name}: terminated {int(ref['terminated'].sum())}/{n}", errors, TOL)


def _moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), x.std(axis=0, ddof=1)


@pytest.mark.parametrize("name", PARITY_TASKS)
def test_reset_distribution(name):
    """Mean and std of initial qpos/qvel over NUM_RESETS resets match Gymnasium's.

    Both sides are samples, so compare with a 5-sigma bound on the difference of two
    independent estimates: for mean, se = sigma / sqrt(N); for the std of U(-s, s),
    se = s / sqrt(15 N) (delta method: var(s2_hat) = (mu4 - sigma^4) / N, mu4 = s^4 / 5);
    for the std of s * N(0, 1), se = sigma / sqrt(2 N). Both bounds are per coordinate. The
    std check also tells uniform (std s/sqrt(3)) from normal (std s) noise apart.
    """
    env = envs.make(name, backend="mjx")
    genv = gym_env(name)
    genv.reset(seed=123)
    gym_q, gym_v = [], []
    for _ in range(NUM_RESETS):
        genv.reset()
        gym_q.append(genv.data.qpos.copy())
        gym_v.append(genv.data.qvel.copy())
    keys = jax.random.split(jax.random.key(123), NUM_RESETS)
    our_q, our_v = jax.jit(jax.vmap(env.sample_init_qpos_qvel))(keys)

    s, n = env.reset_noise_scale, NUM_RESETS
    for label, ours, theirs, kind in (
        ("qpos", np.asarray(our_q), np.asarray(gym_q), "uniform"),
        ("qvel", np.asarray(our_v), np.asarray(gym_v), env.qvel_noise),
    ):
        sigma = s / np.sqrt(3) if kind == "uniform" else s
        se_std = s / np.sqrt(15 * n) if kind == "uniform" else sigma / np.sqrt(2 * n)
        m_ours, sd_ours = _moments(ours)
        m_gym, sd_gym = _moments(theirs)
        bound_mean = 5 * np.sqrt(2) * sigma / np.sqrt(n)
        bound_std = 5 * np.sqrt(2) * se_std
        assert np.all(np.abs(m_ours - m_gym) < bound_mean), (label, m_ours - m_gym, bound_mean)
        assert np.all(np.abs(sd_ours - sd_gym) < bound_std), (label, sd_ours - sd_gym, bound_std)
        if kind == "uniform":  # support: within [init - s, init + s]
            init = env.init_qpos if label == "qpos" else env.init_qvel
            assert np.all(np.abs(ours - init) <= s * (1 + 1e-12))
