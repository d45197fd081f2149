"""Categorical critic math: projection against a numpy loop, mass, exact atoms, clipping, loss."""

import jax
import jax.numpy as jnp
import numpy as np

from ddpg_jax import distributional as dist


def _slow_project(probs, reward, discount, atoms):
    """Textbook C51 projection, one shifted atom at a time, in float64."""
    num_atoms = len(atoms)
    v_min, v_max = atoms[0], atoms[-1]
    delta = (v_max - v_min) / (num_atoms - 1)
    out = np.zeros_like(probs, dtype=np.float64)
    for i in range(probs.shape[0]):
        for j in range(num_atoms):
            tz = min(max(reward[i] + discount[i] * atoms[j], v_min), v_max)
            b = (tz - v_min) / delta
            lo, hi = int(np.floor(b)), int(np.ceil(b))
            if lo == hi:
                out[i, lo] += probs[i, j]
            else:
                out[i, lo] += probs[i, j] * (hi - b)
                out[i, hi] += probs[i, j] * (b - lo)
    return out


def test_support_spans_v_min_to_v_max():
    atoms = dist.support(-10.0, 10.0, 101)
    assert atoms.shape == (101,) and atoms.dtype == jnp.float32
    np.testing.assert_allclose([atoms[0], atoms[50], atoms[-1]], [-10, 0, 10], atol=1e-6)
    np.testing.assert_allclose(np.diff(atoms), 0.2, rtol=1e-5)


def test_project_matches_numpy_loop_and_conserves_mass():
    atoms = dist.support(-5.0, 5.0, 11)
    k = jax.random.split(jax.random.key(0), 3)
    probs = jax.nn.softmax(jax.random.normal(k[0], (64, 11)), -1)
    reward = jax.random.uniform(k[1], (64,), minval=-4, maxval=4)
    discount = jax.random.uniform(k[2], (64,), minval=0, maxval=1).at[:4].set(0.0)
    out = dist.project(probs, reward, discount, atoms)
    slow = _slow_project(*(np.asarray(x, np.float64) for x in (probs, reward, discount, atoms)))
    np.testing.assert_allclose(out, slow, atol=1e-5)
    np.testing.assert_allclose(out.sum(-1), 1.0, atol=1e-5)
    assert float(out.min()) >= 0


def test_deterministic_reward_splits_between_its_two_atoms():
    atoms = dist.support(-1.0, 1.0, 5)  # atoms -1, -0.5, 0, 0.5, 1
    probs = jnp.full((1, 5), 0.2)
    out = dist.project(probs, jnp.array([0.35]), jnp.zeros(1), atoms)  # 0.35 = 0.3 of the way
    np.testing.assert_allclose(out[0], [0, 0, 0.3, 0.7, 0], atol=1e-6)


def test_shift_by_one_spacing_lands_on_one_atom_without_losing_mass():
    atoms = dist.support(0.0, 4.0, 5)  # spacing 1: b lands exactly on atoms (l == u)
    probs = jnp.eye(5)[:4]  # point masses at atoms 0..3
    out = dist.project(probs, jnp.ones(4), jnp.ones(4), atoms)
    np.testing.assert_allclose(out, jnp.eye(5)[1:], atol=1e-6)
    on_atom = dist.project(jnp.full((1, 5), 0.2), jnp.array([2.0]), jnp.zeros(1), atoms)
    np.testing.assert_allclose(on_atom[0], [0, 0, 1, 0, 0], atol=1e-6)


def test_out_of_range_values_clip_to_end_atoms():
    atoms = dist.support(-1.0, 1.0, 5)
    probs = jnp.full((2, 5), 0.2)
    out = dist.project(probs, jnp.array([50.0, -50.0]), jnp.ones(2), atoms)
    np.testing.assert_allclose(out, [[0, 0, 0, 0, 1], [1, 0, 0, 0, 0]], atol=1e-6)


def test_expected_cross_entropy_and_twin_min():
    atoms = dist.support(-1.0, 1.0, 3)
    p_low = jnp.array([[0.6, 0.3, 0.1]])  # mean -0.5
    p_high = jnp.array([[0.1, 0.3, 0.6]])  # mean 0.5
    np.testing.assert_allclose(dist.expected(p_low, atoms), [-0.5], atol=1e-6)
    np.testing.assert_allclose(dist.expected_from_logits(jnp.log(p_high), atoms), [0.5], atol=1e-6)
    picked = dist.min_by_expectation(
        jnp.concatenate([p_low, p_high]), jnp.concatenate([p_high, p_low]), atoms
    )
    np.testing.assert_array_equal(picked, jnp.concatenate([p_low, p_low]))
    ce = dist.cross_entropy(jnp.log(p_low), p_low)
    np.testing.assert_allclose(
        ce, [-(0.6 * np.log(0.6) + 0.3 * np.log(0.3) + 0.1 * np.log(0.1))], rtol=1e-6
    )
    # Gradient flows into the logits only, and vanishes where prediction equals target.
    g_logits, g_target = jax.grad(lambda lg, t: dist.cross_entropy(lg, t).sum(), (0, 1))(
        jnp.log(p_low), p_high
    )
    np.testing.assert_allclose(g_logits, p_low - p_high, atol=1e-6)
    np.testing.assert_array_equal(g_target, 0.0)


def test_project_jits_and_vmaps_over_seeds():
    atoms = dist.support(-2.0, 2.0, 9)
    probs = jax.nn.softmax(jax.random.normal(jax.random.key(1), (3, 8, 9)), -1)
    reward = jnp.linspace(-3, 3, 24).reshape(3, 8)
    discount = jnp.full((3, 8), 0.9)
    out = jax.jit(jax.vmap(dist.project, (0, 0, 0, None)))(probs, reward, discount, atoms)
    for s in range(3):
        np.testing.assert_allclose(
            out[s], dist.project(probs[s], reward[s], discount[s], atoms), atol=1e-6
        )
