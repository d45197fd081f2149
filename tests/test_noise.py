"""Exploration noise: OU mean reversion and stationary variance, per-env reset, decay."""

import jax
import jax.numpy as jnp
import numpy as np

from ddpg_jax import Config, noise


def test_ou_mean_reversion_and_stationary_variance():
    cfg = Config(noise_type="ou", ou_theta=0.15, ou_sigma=0.2, ou_dt=1.0)
    # Mean reversion without noise: x_t = (1 - theta dt)^t x_0.
    x = noise.ou_step(cfg.replace(ou_sigma=0.0), jnp.full((1,), 2.0), jax.random.key(0))
    np.testing.assert_allclose(x, 2.0 * 0.85, rtol=1e-6)
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
    _, out = noise.sample(cfg, state.replace(ou=jnp.ones((3, 2))), jax.random.key(1))
    ratios = out[:, 0] / noise.ou_step(cfg, jnp.ones((3, 2)), jax.random.key(1))[:, 0]
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
