"""The C MuJoCo backend (`backend="mujoco"`, envs/c_backend.py).

- Parity with Gymnasium v5 on all six tasks, Ant included, in float64, with
  tests/parity_harness.py as in tests/test_envs_parity.py and tests/test_ant_parity.py
  (Gymnasium rollouts with random actions 20% beyond the bounds; both sides get the same
  qpos/qvel/qacc_warmstart and actions; obs, reward, every reward term, termination; two
  steps from each synced state so the carried `xpos`/`qacc_warmstart` are checked too;
  `reset` noise replayed in Gymnasium).
  Same engine and same inputs, so the tolerance is float64 round-off (JAX vs numpy reward
  arithmetic): TOL = 1e-12; measured: obs 0.0 exactly, rewards <= 1e-15.
- The same linear policy from the same initial states gives the same returns on the MJX and
  C backends (InvertedPendulum, Hopper; @slow, as they compile MJX physics: 30-60 s cold).
- One callback per control step for the whole batch under jit + vmap(envs) + vmap(seeds),
  with results equal to stepping each env alone; blow-ups terminate; wrappers; a short
  end-to-end training run with 2 vmapped seeds through `ddpg_jax.loop.make_train`.

No MJX physics is compiled here except in the @slow MJX-vs-C tests: the module runs in
~45 s cold on 2 busy cores (run `pytest -m slow tests/test_c_backend.py` for those two).
"""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from ddpg_jax.envs.c_backend import STATE_FIELDS, CData, CPhysics
from parity_harness import (
    assert_errors_within,
    gym_env,
    gym_obs_after_set_state,
    gym_rollout_states,
    step_errors,
    synced_steps,
)

from ddpg_jax import envs

NUM_STATES = 64  # Gymnasium states per task, two steps from each
TOL = 1e-12  # float64 round-off; the physics itself agrees bit for bit


@pytest.mark.parametrize("name", envs.TASKS)
def test_parity_with_gymnasium(name, float64):
    ref = gym_rollout_states(name, NUM_STATES, seed=envs.TASKS.index(name))
    env = envs.make(name, backend="mujoco")
    assert env.backend == "mujoco" and env.model is None

    keys = jax.random.split(jax.random.key(7), NUM_STATES)
    args = (ref["qpos"], ref["qvel"], ref["warm"], ref["action"])
    reset, synced, stepped = synced_steps(env, *args, keys=keys)
    assert isinstance(stepped.data, CData) and stepped.obs.dtype == np.float64

    gym_reset_obs = gym_obs_after_set_state(gym_env(name), reset.data.qpos, reset.data.qvel)
    # Ant: after set_state, Gymnasium's cfrc_ext part of the obs is the previous step's
    # (mj_forward does not fill it), ours the reset's zeros: compare qpos/qvel there.
    n_sync = 27 if name == "ant" else ref["obs0"].shape[-1]
    errors = {
        "reset obs": np.abs(reset.obs - gym_reset_obs).max(),
        "set_state obs": np.abs(synced.obs[:, :n_sync] - ref["obs0"][:, :n_sync]).max(),
        **step_errors(stepped, ref),
    }
    title = f"{name} (C backend): terminated {int(ref['terminated'].sum())}/{2 * NUM_STATES}"
    assert_errors_within(title, errors, TOL)


def linear_policy_returns(env, num_envs: int, horizon: int, seed: int = 0):
    """Returns and lengths of the first episode of each env (capped at `horizon`) under a
    fixed random linear policy `a = clip(W obs, low, high)`, from `reset(keys[i])`."""
    w = jax.random.normal(jax.random.key(seed), (env.action_size, env.observation_size))
    w = 0.5 * w.astype(env.dtype)
    low, high = jnp.asarray(env.action_low, env.dtype), jnp.asarray(env.action_high, env.dtype)

    @jax.jit
    def run(keys):
        state = jax.vmap(env.reset)(keys)

        def body(carry, _):
            state, alive, total, length = carry
            action = jnp.clip(state.obs @ w.T, low, high)
            state = jax.vmap(env.step)(state, action)
            total = total + alive * state.reward
            length = length + alive
            return (state, alive * (1 - state.done), total, length), state.obs

        zeros = jnp.zeros((num_envs,), env.dtype)
        carry = (state, jnp.ones_like(zeros), zeros, zeros)
        (_, _, total, length), obs = jax.lax.scan(body, carry, None, length=horizon)
        return total, length, obs

    return run(jax.random.split(jax.random.key(seed + 1), num_envs))


def check_same_returns(name: str, num_envs: int, horizon: int, rtol: float, **kwargs):
    c_env, m_env = (envs.make(name, backend=b, **kwargs) for b in ("mujoco", "mjx"))
    c_ret, c_len, c_obs = linear_policy_returns(c_env, num_envs, horizon)
    m_ret, m_len, m_obs = linear_policy_returns(m_env, num_envs, horizon)
    np.testing.assert_array_equal(c_len, m_len)
    # obs error while the episodes run (after termination both keep falling, chaotically)
    alive = np.arange(horizon)[:, None] < np.asarray(c_len)[None, :]  # [horizon, num_envs]
    err = np.abs(np.asarray(c_obs) - np.asarray(m_obs)).max(axis=2) * alive
    print(f"\n{name}: returns C   {np.asarray(c_ret)}\n{name}: returns MJX {np.asarray(m_ret)}")
    print(
        f"{name}: episode lengths {np.asarray(c_len)}; max obs error after step 1: "
        f"{err[0].max():.1e}, over the episodes: {err.max():.1e}; max return difference "
        f"{np.abs(np.asarray(c_ret) - np.asarray(m_ret)).max():.1e}"
    )
    np.testing.assert_allclose(c_ret, m_ret, rtol=rtol, atol=rtol)
    assert err[0].max() < 1e-12


@pytest.mark.slow  # compiles MJX physics (~30 s cold); parity of both with Gymnasium is the
# fast, transitive check
def test_same_returns_as_mjx_inverted_pendulum(float64):
    """float64, 8 envs, first episode (<= 100 steps): MJX matches C to 1e-15 per step
    (MJX_NOTES.md), so returns agree to 1e-9 and episode lengths exactly."""
    check_same_returns("inverted_pendulum", num_envs=8, horizon=100, rtol=1e-9)


@pytest.mark.slow
def test_same_returns_as_mjx_hopper(float64):
    """Hopper, float64, 8 envs, 100 steps without termination (every env falls and hits the
    ground). The observations agree to round-off until the first ground impact, then differ
    by a little: MJX's contact solve at impact differs from C's, and the difference is not
    chaos (a C run perturbed by 1e-13 stays within 1e-10 of the unperturbed one). Tolerance:
    returns within 1e-4 + 1e-4 * |return|, a few times the difference seen, and the same
    episode lengths."""
    check_same_returns("hopper", num_envs=8, horizon=100, rtol=1e-4, terminate_when_unhealthy=False)


def test_one_callback_per_step_under_vmap_of_seeds_and_envs():
    """jit(vmap(seeds)(vmap(envs)(step))): the C side receives one [seeds * envs] batch per
    step, and the results equal stepping each env alone (float32, as in training)."""
    env = envs.make("hopper", backend="mujoco")
    seeds, num_envs = 3, 4
    keys = jax.random.split(jax.random.key(0), seeds * num_envs).reshape(seeds, num_envs)
    actions = jax.random.uniform(jax.random.key(1), (seeds, num_envs, env.action_size), minval=-1)
    batched = jax.jit(jax.vmap(jax.vmap(lambda k, a: env.step(env.reset(k), a))))
    state = batched(keys, actions)
    assert env.physics.batch_sizes[-2:] == [seeds * num_envs] * 2  # forward, then step
    assert state.obs.shape == (seeds, num_envs, env.observation_size)
    assert state.obs.dtype == jnp.float32
    single = jax.jit(lambda k, a: env.step(env.reset(k), a))
    for i, j in ((0, 0), (1, 2), (2, 3)):
        one = single(keys[i, j], actions[i, j])
        assert env.physics.batch_sizes[-1] == 1
        np.testing.assert_array_equal(one.obs, state.obs[i, j])
        np.testing.assert_array_equal(one.data.qacc_warmstart, state.data.qacc_warmstart[i, j])


@pytest.mark.parametrize("name", ["hopper", "inverted_double_pendulum"])
def test_batch_and_pool_engines_agree(name, float64, tmp_path, monkeypatch):
    """The two C engines (`mujoco.batch.Batch` and our thread pool over MjData) give
    identical bits for forward and 3 steps of 16 envs, blow-ups included (env 1)."""
    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT on the blow-up's warning
    env = envs.make(name, backend="mujoco")
    assert env.physics.engine == "batch"
    assert envs.make("ant", backend="mujoco").physics.engine == "pool"  # rnePostConstraint
    physics = {
        e: CPhysics(env.mj_model, env.frame_skip, env.physics_fields, engine=e)
        for e in ("batch", "pool")
    }
    state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 16))
    data = jax.device_get(state.data)
    inputs = {k: np.array(getattr(data, k)) for k in STATE_FIELDS}
    inputs["qvel"][1] = 1e9
    rng = np.random.default_rng(0)
    results = {}
    for engine, p in physics.items():
        x = {k: v.copy() for k, v in inputs.items()}
        outs = [p.run("forward", x, p._out_names("forward"))]
        for _ in range(3):
            x["ctrl"] = rng.uniform(-1, 1, x["ctrl"].shape)
            out = p.run("step", x, p._out_names("step"))
            x.update({k: np.nan_to_num(out[k]) for k in ("qpos", "qvel", "qacc_warmstart", "time")})
            outs.append(out)
        rng = np.random.default_rng(0)
        results[engine] = outs
    for a, b in zip(results["batch"], results["pool"], strict=True):
        assert a.keys() == b.keys()
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert np.isnan(results["pool"][1]["qpos"][1]).all()


@pytest.mark.parametrize("name", envs.TASKS)
def test_blow_up_terminates_float32(name, tmp_path, monkeypatch):
    """Env 1 has qvel = 1e9 (C's qacc check fires inside mj_step), env 2 qvel = 1e20 (beyond
    mjMAXVAL, never stepped): both terminate with zero reward and the previous data kept;
    env 0 steps normally. (C would silently reset them.)"""
    monkeypatch.chdir(tmp_path)  # MuJoCo writes MUJOCO_LOG.TXT on the warning
    env = envs.make(name, backend="mujoco")
    state = jax.vmap(env.reset)(jax.random.split(jax.random.key(0), 3))
    qvel = state.data.qvel.at[1].set(1e9).at[2].set(1e20)
    state = state.replace(data=state.data.replace(qvel=qvel))
    stepped = jax.jit(jax.vmap(env.step))(state, jnp.zeros((3, env.action_size)))
    np.testing.assert_array_equal(stepped.done[1:], [1.0, 1.0])
    np.testing.assert_array_equal(stepped.reward[1:], [0.0, 0.0])
    np.testing.assert_array_equal(stepped.data.qvel[1:], qvel[1:])
    assert bool(jnp.all(jnp.isfinite(stepped.obs[0]))) and stepped.data.time[0] > 0
    for v in stepped.metrics.values():
        assert bool(jnp.all(jnp.isfinite(v)))


def test_autoreset_wrappers_on_c_backend():
    """InvertedPendulum, pushed envs fall and auto-reset with fresh noise and the true final
    obs; unpushed ones are truncated at the limit (as tests/test_envs_wrappers.py on MJX)."""
    limit, num_envs, horizon = 8, 4, 20
    base = envs.make("inverted_pendulum", backend="mujoco")
    env = envs.wrap_for_training(base, episode_length=limit)
    push = jnp.array([3.0, -3.0, 0.0, 0.0])
    actions = jnp.broadcast_to(push[None, :, None], (horizon, num_envs, 1))

    @jax.jit
    def rollout(state, actions):
        def body(s, a):
            s = env.step(s, a)
            return s, s

        return jax.lax.scan(body, state, actions)[1]

    traj = rollout(env.reset(jax.random.split(jax.random.key(3), num_envs)), actions)
    done, obs = np.asarray(traj.done), np.asarray(traj.obs)
    final_obs, trunc = np.asarray(traj.info["final_obs"]), np.asarray(traj.info["truncation"])
    ended = (done > 0) | (trunc > 0)
    assert done[:, :2].any() and trunc[:, 2:].any() and not trunc[:, :2].any()
    np.testing.assert_array_equal(done > 0, np.abs(final_obs[..., 1]) > 0.2)
    assert np.all(np.abs(obs[ended]) <= base.reset_noise_scale)
    np.testing.assert_array_equal(final_obs[~ended], obs[~ended])
    assert len(np.unique(obs[ended], axis=0)) == int(ended.sum())


def test_backend_choice_and_errors():
    assert envs.resolve_backend("mjx") == "mjx"
    assert envs.resolve_backend("mujoco") == "mujoco"
    expected = "mjx" if jax.default_backend() == "gpu" else "mujoco"
    assert envs.make("hopper", backend="auto").backend == expected
    assert envs.make("hopper").backend == expected  # make's default is "auto"
    with pytest.raises(ValueError, match="backend must be one of"):
        envs.make("hopper", backend="c")
    with pytest.raises(ValueError, match="backend='mujoco' runs C MuJoCo"):
        envs.make("hopper", backend="mujoco", impl="warp")
    for name in envs.TASKS:  # sizes come from eval_shape: no callback runs
        env = envs.make(name, backend="mujoco")
        assert env.observation_size == envs.make(name, backend="mjx").observation_size
        assert "backend='mujoco'" in repr(env)
    with pytest.raises(AttributeError, match="physics_fields"):
        _ = envs.make("hopper", backend="mujoco").blank_state().data.cfrc_ext


@pytest.mark.parametrize("name", envs.TASKS)
def test_step_and_reset_equals_step_then_reset(name, float64):
    """The combined call (one callback) gives the same bits as `step` and `reset` apart."""
    env = envs.make(name, backend="mujoco")
    keys = jax.random.split(jax.random.key(0), 8)
    state = jax.vmap(env.reset)(keys[:4])
    action = jax.random.uniform(jax.random.key(1), (4, env.action_size), env.dtype, -1.2, 1.2)
    both = jax.jit(jax.vmap(env.step_and_reset))(state, action, keys[4:])
    apart = jax.jit(jax.vmap(lambda s, a, k: (env.step(s, a), env.reset(k))))(
        state, action, keys[4:]
    )
    for x, y in zip(jax.tree.leaves(both), jax.tree.leaves(apart), strict=True):
        np.testing.assert_array_equal(x, y)


def test_wrapped_step_is_one_callback_and_resets_only_ended_envs():
    """Hopper, 4 envs, float32 as in training: one host call per vectorised step (step and
    the reset's mj_forward together); env 1 is made unhealthy and ends, the others are bit
    for bit a plain `env.step`, and env 1 is `reset(key)` with the key its `reset_key` gives."""
    env = envs.make("hopper", backend="mujoco")
    wrapped = envs.wrap_for_training(env, episode_length=1000)
    state = wrapped.reset(jax.random.split(jax.random.key(0), 4))
    qpos = state.data.qpos.at[1, 1].set(0.3)  # torso far below healthy_z_range
    state = state.replace(data=state.data.replace(qpos=qpos))
    action = jax.random.uniform(jax.random.key(1), (4, env.action_size), minval=-1)
    step = jax.jit(wrapped.step)
    jax.block_until_ready(step(state, action))  # compile (runs the callback once)
    env.physics.batch_sizes.clear()
    out = jax.block_until_ready(step(state, action))
    assert env.physics.batch_sizes == [4]

    plain = jax.jit(jax.vmap(env.step))(state, action)
    np.testing.assert_array_equal(out.info["episode_done"], [0.0, 1.0, 0.0, 0.0])
    kept = np.array([0, 2, 3])
    for x, y in zip(jax.tree.leaves(out.data), jax.tree.leaves(plain.data), strict=True):
        np.testing.assert_array_equal(np.asarray(x)[kept], np.asarray(y)[kept])
    np.testing.assert_array_equal(np.asarray(out.obs)[kept], np.asarray(plain.obs)[kept])
    np.testing.assert_array_equal(out.info["final_obs"], plain.obs)
    key_reset = jax.random.split(state.info["reset_key"][1])[1]
    fresh = jax.jit(env.reset)(key_reset)
    for x, y in zip(jax.tree.leaves(out.data), jax.tree.leaves(fresh.data), strict=True):
        np.testing.assert_array_equal(np.asarray(x)[1], y)
    np.testing.assert_array_equal(out.obs[1], fresh.obs)


def test_import_prints_nothing():
    """mujoco.mjx prints 'Failed to import warp' to stdout without warp-lang; envs drops it, so
    that `--json` outputs and one-line errors stay clean."""
    code = "from ddpg_jax import envs; envs.make('inverted_pendulum', backend='mujoco')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout == "", out.stdout
    assert "warp" not in out.stderr, out.stderr


def test_short_training_run_two_seeds():
    """`make_train` on the C backend (float32): 2 vmapped seeds, learning starts, every
    metric finite, evaluation runs; the chunk compiles once."""
    from ddpg_jax import Config
    from ddpg_jax.loop import make_train

    cfg = Config(
        hidden_dim=32,
        batch_size=32,
        buffer_size=2048,
        warmup_steps=64,
        num_envs=4,
        num_seeds=2,
        total_steps=512,
    )
    env = envs.make("hopper", backend="mujoco")
    trainer = make_train(cfg, env, chunk_iterations=32, episode_length=50, eval_envs=2)
    carry = trainer.init_seeds(jax.random.split(jax.random.key(0), 2))
    for _ in range(2):
        carry, metrics = trainer.train_chunk_seeds(carry)
    metrics = jax.device_get(metrics)
    for k in ("critic_loss", "actor_loss", "q_mean", "train_episode_return", "noise_scale"):
        assert metrics[k].shape == (2,) and np.all(np.isfinite(metrics[k])), (k, metrics[k])
    assert np.all(metrics["train_episodes"] > 0)
    assert int(carry.iteration[0]) == 64
    assert env.physics.batch_sizes[-1] == 2 * 4  # seeds x envs in one callback
    evals = jax.device_get(
        trainer.evaluate_seeds(carry.train_state, jax.random.split(jax.random.key(1), 2))
    )
    assert evals["eval_returns"].shape == (2, 2) and np.all(np.isfinite(evals["eval_returns"]))
    leaves = jax.tree.leaves(carry.train_state)
    assert all(
        bool(jnp.all(jnp.isfinite(x))) for x in leaves if jnp.issubdtype(x.dtype, jnp.floating)
    )
