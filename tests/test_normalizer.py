"""Observation normaliser equals the statistics of the whole stream."""

import jax.numpy as jnp
import numpy as np

from ddpg_jax import normalizer as norm


def test_running_stats_equal_numpy_over_whole_stream():
    rng = np.random.default_rng(0)
    chunks = [rng.normal(3.0, 2.0, size=(n, 4)) * [1, 10, 0.1, 1] for n in (1, 7, 64, 3, 200)]
    state = norm.init(4)
    for chunk in chunks:
        state = norm.update(state, jnp.asarray(chunk, jnp.float32))
    stream = np.concatenate(chunks)
    np.testing.assert_allclose(state.mean, stream.mean(0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(state.var, stream.var(0), rtol=1e-4)
    np.testing.assert_allclose(state.count, len(stream) + 1e-4, rtol=1e-6)


def test_normalize_formula_and_clip():
    state = norm.NormalizerState(
        mean=jnp.array([1.0, 0.0]), var=jnp.array([4.0, 1e-6]), count=jnp.asarray(10.0)
    )
    out = norm.normalize(state, jnp.array([[3.0, 1.0]]))
    np.testing.assert_allclose(out, [[2.0 / np.sqrt(4.0 + 1e-5), 5.0]], rtol=1e-6)
