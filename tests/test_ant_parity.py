"""Parity of envs.ant.Ant (MJX + envs/mjx_fixes.py) with Gymnasium's Ant-v5 (C MuJoCo), float64.

States come from Gymnasium rollouts with random actions (fixed seeds, actions 20% beyond the
bounds to exercise ctrl clamping and the raw-action ctrl cost). Both simulators get the same
qpos/qvel/qacc_warmstart and action; observation, reward, every reward term (`metrics` vs
`info`) and termination are compared, plus `reset` (our noise, replayed in Gymnasium) and
`set_state`. One jitted function, vmapped over chunks of CHUNK states, so one compile.

Tolerance. Most states agree to ~1e-14. A few (about 1 in 600 in our measurements) differ by
up to ~2e-7: MuJoCo's Newton solver stops once the scaled cost improvement or gradient falls
below `opt.tolerance` (1e-8), and C and MJX take different line-search paths, so when a
substep stops short of the exact optimum the two stop at different points within that
tolerance. Setting tolerance to 1e-15 in both makes such a state agree to 3e-15
(docs/ant_parity.md). So we require: every error <= RESIDUAL_TOL, at least 95% of the
states <= TOL, and the median state <= 1e-12.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ddpg_jax.envs.ant import Ant
from parity_harness import (
    gym_env,
    gym_obs_after_set_state,
    gym_rollout_states,
    per_state_errors,
    step_errors,
    synced_steps,
)

NUM_STATES = 128  # >= 100
CHUNK = 32  # states per vmapped call; one compile for all chunks
NUM_RESETS = 4000
TOL = 1e-8  # where the physics agrees
RESIDUAL_TOL = 1e-5  # solver-tolerance residual bound (measured max 2e-7), see docstring
METRICS = (
    "x_position",
    "y_position",
    "distance_from_origin",
    "x_velocity",
    "y_velocity",
    "reward_forward",
    "reward_ctrl",
    "reward_contact",
    "reward_survive",
)


pytestmark = pytest.mark.usefixtures("float64_module")  # float64, this module only


def test_step_reset_set_state_parity():
    ref = gym_rollout_states("ant", NUM_STATES, seed=0, max_steps=100, info_keys=METRICS)
    env = Ant()
    assert env.gym_id == "Ant-v5" and env.mjx_fixes

    keys = jax.random.split(jax.random.key(7), NUM_STATES)
    args = (ref["qpos"], ref["qvel"], ref["warm"], ref["action"])
    reset, synced, stepped = synced_steps(env, *args, keys=keys, chunk=CHUNK)
    assert stepped.obs.dtype == np.float64 and stepped.obs.shape == (NUM_STATES, 2, 105)

    # set_state: qpos/qvel part only. Like Gymnasium's (mj_forward), our set_state leaves
    # cfrc_ext as it was (here: the reset's zeros; there: the previous step's forces).
    set_err = per_state_errors(synced.obs[:, :27], ref["obs0"][:, :27]).max()
    # reset: cfrc_ext is 0 in both (mj_resetData, and mj_forward does not fill it)
    gym_reset = gym_obs_after_set_state(gym_env("ant"), reset.data.qpos, reset.data.qvel)
    reset_err = per_state_errors(reset.obs, gym_reset).max()
    # the reset qpos is the sampled one, unnormalised quaternion included (as Gymnasium's)
    sampled_qpos = jax.vmap(lambda k: env.sample_init_qpos_qvel(k)[0])(keys)
    np.testing.assert_array_equal(reset.data.qpos, sampled_qpos)

    errors = step_errors(stepped, ref)  # also checks termination and that the terms are METRICS
    worst = np.max(np.stack(list(errors.values())), axis=0)  # [num_states]
    print(f"\nAnt: terminated {int(ref['terminated'].sum())}/{NUM_STATES}")
    print(f"  {'set_state obs':22s} max {set_err:.1e}\n  {'reset obs':22s} max {reset_err:.1e}")
    for k, v in errors.items():
        print(f"  {k:22s} max {v.max():.1e}  median {np.median(v):.1e}")
    print(f"  states above {TOL:.0e}: {int((worst > TOL).sum())}/{NUM_STATES}")
    assert set_err <= TOL and reset_err <= TOL, (set_err, reset_err)
    assert np.median(worst) <= 1e-12, np.median(worst)
    assert np.mean(worst <= TOL) >= 0.95, np.sort(worst)[-10:]
    assert worst.max() <= RESIDUAL_TOL, {k: v.max() for k, v in errors.items()}


def test_reset_distribution():
    """Mean and std of initial qpos (uniform) and qvel (normal) over NUM_RESETS resets match
    Gymnasium's, to 5 sigma of the difference of two independent estimates; also the
    support of the uniform noise and that the quaternion is not renormalised."""
    env = Ant()
    genv = gym_env("ant")
    genv.reset(seed=123)
    gym_q, gym_v = [], []
    for _ in range(NUM_RESETS):
        genv.reset()
        gym_q.append(genv.data.qpos.copy())
        gym_v.append(genv.data.qvel.copy())
    keys = jax.random.split(jax.random.key(123), NUM_RESETS)
    our_q, our_v = map(np.asarray, jax.jit(jax.vmap(env.sample_init_qpos_qvel))(keys))
    s, n = env.reset_noise_scale, NUM_RESETS
    for ours, theirs, sigma, se_std in (
        (our_q, np.asarray(gym_q), s / np.sqrt(3), s / np.sqrt(15 * n)),  # U(-s, s)
        (our_v, np.asarray(gym_v), s, s / np.sqrt(2 * n)),  # s * N(0, 1)
    ):
        bound_mean = 5 * np.sqrt(2) * sigma / np.sqrt(n)
        dmean = ours.mean(0) - theirs.mean(0)
        dstd = ours.std(0, ddof=1) - theirs.std(0, ddof=1)
        assert np.all(np.abs(dmean) < bound_mean), (dmean, bound_mean)
        assert np.all(np.abs(dstd) < 5 * np.sqrt(2) * se_std), (dstd, se_std)
    assert np.all(np.abs(our_q - env.init_qpos) <= s * (1 + 1e-12))
    quat_norm = np.linalg.norm(our_q[:, 3:7], axis=1)
    assert np.abs(quat_norm - 1).max() > 1e-3  # not renormalised, as in Gymnasium


def test_obs_options_and_metrics_names():
    """Observation sizes for Gymnasium's observation options, via eval_shape (no compile)."""
    assert Ant().observation_size == 105
    assert Ant(exclude_current_positions_from_observation=False).observation_size == 107
    assert Ant(include_cfrc_ext_in_observation=False).observation_size == 27
    assert Ant(main_body="torso").main_body == 1
    with pytest.raises(ValueError):
        Ant(main_body="no_such_body")


@pytest.mark.slow
def test_raw_mjx_differs():
    """Raw MJX (mjx_fixes=False) on the same states: why envs/mjx_fixes.py exists."""
    ref = gym_rollout_states("ant", CHUNK, seed=3, max_steps=1000)
    env = Ant(mjx_fixes=False)
    keys = jnp.broadcast_to(jax.random.key(0), (CHUNK,))
    first = ref["action"][:, :1]
    _, _, stepped = synced_steps(env, ref["qpos"], ref["qvel"], ref["warm"], first, keys=keys)
    err = per_state_errors(stepped.obs[:, 0], ref["obs"][:, 0])
    print(f"\nraw MJX Ant obs error: max {err.max():.1e} median {np.median(err):.1e}")
    assert err.max() > 1e-2
