"""Parity of the MJX tasks with Gymnasium's own v5 envs (C MuJoCo), in float64.

For each task, states are taken from Gymnasium rollouts with random actions (fixed seeds,
actions drawn 20% beyond the bounds to exercise MuJoCo's ctrl clamping and the raw-action
ctrl cost). Both simulators get the same qpos/qvel/qacc_warmstart and action; observation,
reward, every reward term (`metrics` vs Gymnasium's `info`) and termination must agree to
1e-8. The same jitted function also checks `set_state` and `reset` (our noise replayed in
Gymnasium), so each task compiles once.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs

NUM_STATES = 128  # per task, >= 100
NUM_RESETS = 4000  # for the reset-distribution test
TOL = 1e-8
PARITY_TASKS = [t for t in envs.TASKS if t != "ant"]  # Ant: tests/test_ant*.py


pytestmark = pytest.mark.usefixtures("float64_module")  # float64, this module only


def gym_env(name: str):
    return gym.make(envs.GYM_IDS[name]).unwrapped


def gym_rollout_states(name: str, num_states: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Pre-step states, actions and Gymnasium's step results along random-action rollouts."""
    env = gym_env(name)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low.astype(np.float64), env.action_space.high.astype(np.float64)
    mid, half = (high + low) / 2, 1.2 * (high - low) / 2
    obs, _ = env.reset(seed=seed)
    rec: dict[str, list] = {k: [] for k in ("qpos", "qvel", "warm", "obs0", "action", "obs")}
    rec.update(reward=[], terminated=[], info=[])
    episode_steps = 0
    while len(rec["action"]) < num_states:
        action = mid + half * rng.uniform(-1.0, 1.0, size=low.shape)
        rec["qpos"].append(env.data.qpos.copy())
        rec["qvel"].append(env.data.qvel.copy())
        rec["warm"].append(env.data.qacc_warmstart.copy())
        rec["obs0"].append(obs)
        rec["action"].append(action)
        obs, reward, terminated, _, info = env.step(action)
        rec["obs"].append(obs)
        rec["reward"].append(reward)
        rec["terminated"].append(terminated)
        rec["info"].append(info)
        episode_steps += 1
        if terminated or episode_steps >= 60:  # short episodes: more diverse states
            obs, _ = env.reset(seed=int(rng.integers(1 << 31)))
            episode_steps = 0
    out = {k: np.asarray(v) for k, v in rec.items() if k != "info"}
    out["info"] = {k: np.asarray([i[k] for i in rec["info"]], np.float64) for k in rec["info"][0]}
    return out


def gym_obs_after_set_state(env, qpos, qvel, warm) -> np.ndarray:
    """Gymnasium's observation after `reset` (mj_resetData) and `set_state(qpos, qvel)`."""
    env.reset(seed=0)
    env.data.qacc_warmstart[:] = warm
    env.set_state(qpos, qvel)
    return env._get_obs()


@pytest.mark.parametrize("name", PARITY_TASKS)
def test_step_reset_set_state_parity(name):
    """One jit per task over 2 * NUM_STATES states: the first half are Gymnasium pre-step
    states (set_state + step compared), the second half our reset samples (`reset` is
    `set_state(blank_state(), sample_init_qpos_qvel(key))`, so its obs is compared too)."""
    ref = gym_rollout_states(name, NUM_STATES, seed=PARITY_TASKS.index(name))
    env = envs.make(name)
    assert env.gym_id == envs.GYM_IDS[name]
    n = NUM_STATES

    keys = jax.random.split(jax.random.key(7), n)
    reset_qpos, reset_qvel = map(np.asarray, jax.vmap(env.sample_init_qpos_qvel)(keys))
    qpos = np.concatenate([ref["qpos"], reset_qpos])  # [2n, nq]
    qvel = np.concatenate([ref["qvel"], reset_qvel])  # [2n, nv]
    warm = np.concatenate([ref["warm"], np.zeros_like(ref["warm"])])
    action = np.concatenate([ref["action"], np.zeros_like(ref["action"])])

    @jax.jit
    def run(qpos, qvel, warm, action):
        def one(qp, qv, w, a):
            blank = env.blank_state()
            blank = blank.replace(data=blank.data.replace(qacc_warmstart=w))
            synced = env.set_state(blank, qp, qv)
            return synced, env.step(synced, a)

        return jax.vmap(one)(qpos, qvel, warm, action)

    synced, stepped = run(qpos, qvel, warm, action)
    assert stepped.obs.dtype == jnp.float64

    genv = gym_env(name)
    gym_obs = np.stack(
        [gym_obs_after_set_state(genv, qpos[i], qvel[i], warm[i]) for i in range(2 * n)]
    )
    synced_obs = np.asarray(synced.obs)
    errors = {
        "set_state obs": np.abs(synced_obs[:n] - gym_obs[:n]).max(),
        "reset obs": np.abs(synced_obs[n:] - gym_obs[n:]).max(),
        "obs": np.abs(np.asarray(stepped.obs)[:n] - ref["obs"]).max(),
        "reward": np.abs(np.asarray(stepped.reward)[:n] - ref["reward"]).max(),
    }
    assert set(stepped.metrics) == set(ref["info"]), (sorted(stepped.metrics), sorted(ref["info"]))
    for k, v in ref["info"].items():
        errors[k] = np.abs(np.asarray(stepped.metrics[k])[:n] - v).max()
    np.testing.assert_array_equal(np.asarray(stepped.done)[:n], ref["terminated"].astype(float))
    print(f"\n{name}: terminated {int(ref['terminated'].sum())}/{n}; max abs errors:")
    for k, v in errors.items():
        print(f"  {k:24s} {v:.2e}")
    bad = {k: v for k, v in errors.items() if not v <= TOL}
    assert not bad, bad


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
    env = envs.make(name)
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
