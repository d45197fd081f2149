"""Every registered env resets and steps under jit(vmap) in float32 without NaN; the registry
resolves names and Gymnasium ids and rejects unknown names; sizes and bounds match Gymnasium.
"""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from parity_harness import slow_unless_fast_mjx

from ddpg_jax import envs


def test_tasks_and_ids():
    assert set(envs.TASKS) == {
        "ant",
        "halfcheetah",
        "hopper",
        "inverted_double_pendulum",
        "inverted_pendulum",
        "walker2d",
    }
    for name, gym_id in envs.GYM_IDS.items():
        for alias in (name, gym_id, gym_id.lower(), gym_id.upper()):
            assert envs.canonical_name(alias) == name
    assert envs.canonical_name("half_cheetah") == "halfcheetah"


def test_unknown_name_lists_valid_names():
    for bad in ("pong", "Hopper-v4", "hopperx", ""):
        with pytest.raises(ValueError) as err:
            envs.make(bad)
        for name in envs.TASKS:
            assert repr(name) in str(err.value)
            assert envs.GYM_IDS[name] in str(err.value)


def test_gym_id_alias_builds_same_env_with_kwargs():
    env = envs.make("Hopper-v5", healthy_reward=2.0, frame_skip=2)
    assert type(env) is type(envs.make("hopper"))
    assert env.gym_id == "Hopper-v5" and env.healthy_reward == 2.0 and env.frame_skip == 2
    assert env.dt == pytest.approx(2 * 0.002)
    with pytest.raises(TypeError):
        envs.make("hopper", no_such_kwarg=1)


def test_impl_errors():
    with pytest.raises(ValueError, match="impl must be one of"):
        envs.make("inverted_pendulum", impl="cuda")
    if jax.default_backend() != "gpu":
        with pytest.raises(ValueError, match="not available"):
            envs.make("inverted_pendulum", impl="warp", backend="mjx")


@pytest.mark.parametrize("name", envs.TASKS)
def test_sizes_and_bounds_match_gymnasium(name):
    """No compilation: observation_size comes from jax.eval_shape."""
    env = envs.make(name)
    genv = gym.make(envs.GYM_IDS[name]).unwrapped
    assert env.observation_size == genv.observation_space.shape[0]
    assert env.action_size == genv.action_space.shape[0]
    np.testing.assert_array_equal(env.action_low, genv.action_space.low)
    np.testing.assert_array_equal(env.action_high, genv.action_space.high)
    assert env.action_low.dtype == np.float32
    assert env.dt == pytest.approx(genv.dt)


# The C backend's blow-up test covers all six tasks in the default suite.
@pytest.mark.parametrize("name", slow_unless_fast_mjx(envs.TASKS))
def test_jit_vmap_reset_step_float32(name):
    """4 envs, 3 steps, actions 50% beyond the bounds; env 3 starts with qvel = 1e20 so float32
    physics overflows: the step must terminate it and keep everything finite. MJX physics
    (the C backend has its own blow-up test in tests/test_c_backend.py)."""
    env = envs.make(name, backend="mjx")
    num_envs, horizon = 4, 3
    blow_up = jnp.array([1.0, 1.0, 1.0, 1e20], jnp.float32)

    @jax.jit
    def run(keys, actions):
        state = jax.vmap(env.reset)(keys)
        data = state.data.replace(qvel=state.data.qvel * blow_up[:, None])
        state = state.replace(data=data)

        def body(s, a):
            s = jax.vmap(env.step)(s, a)
            return s, (s.obs, s.reward, s.done, s.data.qpos, s.data.qvel, s.metrics)

        return state, jax.lax.scan(body, state, actions)[1]

    keys = jax.random.split(jax.random.key(0), num_envs)
    u = jax.random.uniform(jax.random.key(1), (horizon, num_envs, env.action_size), minval=-1.5)
    actions = u * jnp.asarray(env.action_high)
    state0, (obs, reward, done, qpos, qvel, metrics) = run(keys, actions)

    assert state0.obs.shape == (num_envs, env.observation_size)
    assert obs.shape == (horizon, num_envs, env.observation_size)
    assert obs.dtype == reward.dtype == done.dtype == jnp.float32
    for x in (state0.obs, obs, reward, done, qpos, qvel, *metrics.values()):
        assert bool(jnp.all(jnp.isfinite(x)))
    assert set(metrics) == set(state0.metrics)
    assert bool(jnp.all(done[:, 3] == 1.0)), "non-finite physics must terminate"
    # reset obs differ across envs (fresh noise per key)
    assert len(np.unique(np.asarray(state0.obs[:3]), axis=0)) == 3


def test_registered_but_missing_module_gives_clear_error(monkeypatch):
    """A task whose module is absent fails with a clear error."""
    from ddpg_jax.envs import registry

    monkeypatch.setitem(registry._REGISTRY, "ant", (".no_such_module", "Ant", "Ant-v5"))
    with pytest.raises(ImportError, match="registered but its module ddpg_jax.envs.no_such_module"):
        envs.make("Ant-v5")


def test_make_defaults_to_auto_backend():
    """`make` picks the backend like the CLIs: MJX on a GPU, C MuJoCo otherwise."""
    expected = "mjx" if jax.default_backend() == "gpu" else "mujoco"
    assert envs.make("hopper").backend == expected
    assert envs.make("hopper", backend="mjx").backend == "mjx"
    assert envs.env_class("hopper")().backend == "mjx"  # the class keeps its own default


def test_backend_names_validated_in_one_place():
    assert envs.resolve_backend("mjx") == "mjx" and envs.resolve_backend("mujoco") == "mujoco"
    for bad in ("c", "MJX", ""):
        with pytest.raises(ValueError) as err:
            envs.resolve_backend(bad)
        message = str(err.value)
        assert "\n" not in message and repr(bad) in message
        assert all(repr(b) in message for b in envs.BACKENDS)
    with pytest.raises(ValueError, match="backend must be one of 'mjx', 'mujoco', 'auto'"):
        envs.make("hopper", backend="c")


@pytest.mark.parametrize("backend", ["mujoco", "mjx"])
def test_unbatched_step_rejects_batches(backend):
    """A batch given to one env's `step`/`reset` is a clear ValueError naming the expected
    shape, raised while tracing (before any physics runs or compiles)."""
    env = envs.make("hopper", backend=backend)
    state = jax.eval_shape(env.reset, jax.random.key(0))
    batch = jax.eval_shape(jax.vmap(env.reset), jax.random.split(jax.random.key(0), 4))
    one, many = jnp.zeros((3,)), jnp.zeros((4, 3))
    with pytest.raises(ValueError, match=r"action of shape \(3,\), got shape \(4, 3\)"):
        jax.eval_shape(env.step, state, many)
    with pytest.raises(ValueError, match=r"qpos of shape \(6,\)\), got qpos of shape \(4, 6\)"):
        jax.eval_shape(env.step, batch, many)
    with pytest.raises(ValueError, match=r"action of shape \(3,\), got shape \(\)"):
        jax.eval_shape(env.step, state, jnp.zeros(()))
    with pytest.raises(ValueError, match="reset expects one typed PRNG key"):
        jax.eval_shape(env.reset, jax.random.split(jax.random.key(0), 4))
    assert jax.eval_shape(env.step, state, one).obs.shape == (env.observation_size,)


def test_envs_never_import_the_trainer():
    """The tasks are a library of their own: no module under envs/ imports the rest of
    `ddpg_jax`, and they reach each other by relative imports, so the folder works both as
    installed (`ddpg_jax/envs/`) and from a checkout."""
    import ast
    import pathlib

    folder = pathlib.Path(envs.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in ("ddpg_jax", "envs"), (path.name, name)
