"""Exploration noise: OU mean reversion and stationary variance, per-env reset, decay."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import Config, noise


def test_ou_mean_reversion_and_stationary_variance():
    cfg = Config(noise_type="ou", ou_theta=0.15, ou_sigma=0.2, ou_dt=1.0)
    # Mean reversion without noise: x_t = (1 - theta dt)^t x_0.
    still = cfg.replace(ou_sigma=0.0)
    start = noise.init(still, 1, 1).replace(ou=jnp.full((1, 1), 2.0))
    moved, _ = noise.sample(still, start, jax.random.key(0))
    np.testing.assert_allclose(moved.ou, 2.0 * 0.85, rtol=1e-6)
    # Stationary variance of the AR(1): sigma^2 dt / (1 - (1 - theta dt)^2).
    num_envs, steps = 4096, 400
    state = noise.init(cfg, num_envs, 1)

    def step(state, key):
        state, _ = noise.sample(cfg, state, key)
        return state, None

    state, _ = jax.lax.scan(step, state, jax.random.split(jax.random.key(1), steps))
    expected_var = 0.2**2 / (1 - 0.85**2)
    assert abs(float(jnp.mean(state.ou))) < 4 * np.sqrt(expected_var / num_envs)
    np.testing.assert_allclose(float(jnp.var(state.ou)), expected_var, rtol=0.06)


def test_ou_reset_only_for_finished_envs_and_scaled_by_decay():
    cfg = Config(
        noise_type="ou",
        expl_noise=0.1,
        noise_decay=0.5,
        min_expl_noise=0.04,
        noise_decay_mode="episode",
    )
    state = noise.init(cfg, 3, 2)
    state, out = noise.sample(cfg, state, jax.random.key(0))
    np.testing.assert_allclose(out, state.ou)  # scale / expl_noise == 1 at the start
    state = noise.end_step(cfg, state, jnp.array([False, True, False]))
    ou = np.asarray(state.ou)
    assert np.all(ou[1] == 0) and np.all(ou[[0, 2]] != 0)
    np.testing.assert_allclose(state.scale, [0.1, 0.05, 0.1])
    state = noise.end_step(cfg, state, jnp.array([False, True, False]))
    np.testing.assert_allclose(state.scale, [0.1, 0.04, 0.1])  # floor min_expl_noise
    moved, out = noise.sample(cfg, state.replace(ou=jnp.ones((3, 2))), jax.random.key(1))
    ratios = out[:, 0] / moved.ou[:, 0]  # the noise is the OU value times the env's scale
    np.testing.assert_allclose(ratios, [1.0, 0.4, 1.0], rtol=1e-5)


def test_gaussian_scale_and_step_decay():
    cfg = Config(
        noise_type="gaussian",
        expl_noise=0.3,
        noise_decay=0.9,
        min_expl_noise=0.0,
        noise_decay_mode="step",
    )
    state = noise.init(cfg, 20000, 1)
    _, out = noise.sample(cfg, state, jax.random.key(0))
    np.testing.assert_allclose(float(jnp.std(out)), 0.3, rtol=0.03)
    state = noise.end_step(cfg, state, jnp.zeros(20000, bool))
    np.testing.assert_allclose(state.scale, 0.27, rtol=1e-6)
    none_cfg = cfg.replace(noise_decay_mode="none")
    np.testing.assert_allclose(noise.end_step(none_cfg, state, jnp.ones(20000, bool)).scale, 0.27)


def test_per_env_scales_drawn_in_range_and_redrawn_only_at_episode_end():
    cfg = Config(
        per_env_noise=True,
        noise_std_min=0.05,
        noise_std_max=0.4,
        noise_decay=0.5,
        min_expl_noise=0.0,
        noise_decay_mode="step",
    )
    with pytest.raises(ValueError, match="key"):
        noise.init(cfg, 4, 2)
    state = noise.init(cfg, 5000, 1, key=jax.random.key(0))
    scale = np.asarray(state.scale)
    assert scale.min() >= 0.05 and scale.max() <= 0.4
    np.testing.assert_allclose([scale.mean(), scale.std()], [0.225, 0.35 / np.sqrt(12)], rtol=0.03)
    small = noise.init(cfg, 4, 2, key=jax.random.key(1))
    assert len(set(np.asarray(small.scale).tolist())) == 4  # each env its own scale
    over = jnp.array([False, True, False, True])
    decayed = noise.end_step(cfg, small, over)  # decay applies between redraws
    np.testing.assert_allclose(decayed.scale, small.scale * 0.5, rtol=1e-6)
    redrawn = jax.jit(noise.redraw, static_argnums=0)(cfg, decayed, over, jax.random.key(2))
    np.testing.assert_array_equal(redrawn.scale[::2], decayed.scale[::2])
    new = np.asarray(redrawn.scale[1::2])
    assert np.all(new != np.asarray(decayed.scale[1::2])) and new.min() >= 0.05
    np.testing.assert_array_equal(redrawn.ou, decayed.ou)
    other = noise.redraw(cfg, decayed, over, jax.random.key(3))
    assert not np.array_equal(other.scale[1::2], redrawn.scale[1::2])  # key dependence
    # Gaussian noise follows each env's own scale.
    _, out = noise.sample(cfg, noise.init(cfg, 2, 20000, key=jax.random.key(4)), jax.random.key(5))
    ref = noise.init(cfg, 2, 20000, key=jax.random.key(4)).scale
    np.testing.assert_allclose(jnp.std(out, axis=1), ref, rtol=0.03)


def test_per_env_noise_off_keeps_init_and_redraw_unchanged():
    cfg = Config(expl_noise=0.2)
    plain = noise.init(cfg, 3, 2)
    keyed = noise.init(cfg, 3, 2, key=jax.random.key(0))
    chex.assert_trees_all_equal(plain, keyed)
    np.testing.assert_array_equal(plain.scale, np.full(3, 0.2, np.float32))
    same = noise.redraw(cfg, plain, jnp.ones(3, bool), jax.random.key(1))
    assert same is plain
    vmapped = jax.vmap(lambda k: noise.init(cfg.replace(per_env_noise=True), 3, 2, key=k))(
        jax.random.split(jax.random.key(2), 2)
    )
    assert vmapped.scale.shape == (2, 3) and not np.array_equal(*vmapped.scale)
