"""Replay buffer: circular writes, sampling only filled rows, key dependence, jit/vmap/donation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import replay


def _batch(start: int, n: int, obs_size: int = 3, action_size: int = 2) -> replay.Transition:
    ids = jnp.arange(start, start + n, dtype=jnp.float32)
    return replay.Transition(
        obs=jnp.repeat(ids[:, None], obs_size, 1),
        action=jnp.repeat(ids[:, None], action_size, 1),
        reward=ids,
        next_obs=jnp.repeat(ids[:, None] + 0.5, obs_size, 1),
        terminated=(ids % 2 == 0).astype(jnp.float32),
    )


def test_wraparound_overwrites_oldest_rows():
    state = replay.init(capacity=5, obs_size=3, action_size=2)
    state = replay.add(state, _batch(0, 3))
    assert int(state.size) == 3 and int(state.insert_pos) == 3
    state = replay.add(state, _batch(3, 4))  # rows 3, 4, then wraps to 0, 1
    assert int(state.size) == 5 and int(state.insert_pos) == 2
    np.testing.assert_array_equal(state.data.reward, [5, 6, 2, 3, 4])
    np.testing.assert_array_equal(state.data.next_obs[:, 0], np.array([5, 6, 2, 3, 4]) + 0.5)
    np.testing.assert_array_equal(state.data.terminated, [0, 1, 1, 0, 1])


def test_sampling_never_returns_unfilled_rows():
    state = replay.init(capacity=100, obs_size=3, action_size=2)
    state = replay.add(state, _batch(1, 7))  # rewards 1..7; unfilled rows hold reward 0
    sample = replay.sample(state, jax.random.key(0), 4096)
    rewards = np.asarray(sample.reward)
    assert rewards.min() >= 1 and rewards.max() <= 7
    assert set(np.unique(rewards)) == set(range(1, 8))  # uniform over all filled rows
    # Each transition stays whole: obs, action, next_obs of one row.
    np.testing.assert_array_equal(sample.obs[:, 0], sample.reward)
    np.testing.assert_array_equal(sample.next_obs[:, 1], sample.reward + 0.5)


def test_different_keys_give_different_batches():
    state = replay.add(replay.init(1000, 3, 2), _batch(0, 1000))
    a = replay.sample(state, jax.random.key(1), 64).reward
    b = replay.sample(state, jax.random.key(2), 64).reward
    c = replay.sample(state, jax.random.key(1), 64).reward
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, c)


def test_too_many_rows_at_once_is_an_error():
    with pytest.raises(ValueError, match="capacity"):
        replay.add(replay.init(4, 3, 2), _batch(0, 5))


def test_jit_vmap_over_seeds_with_donation():
    num_seeds = 3
    states = jax.vmap(lambda _: replay.init(10, 3, 2))(jnp.arange(num_seeds))

    @jax.jit
    def add_then_sample(states, batches, keys):
        states = jax.vmap(replay.add)(states, batches)
        return states, jax.vmap(lambda s, k: replay.sample(s, k, 8))(states, keys)

    add_donated = jax.jit(jax.vmap(replay.add), donate_argnums=0)
    seed_offsets = jnp.arange(num_seeds) * 100.0
    for step in range(4):  # 16 rows per seed into capacity 10: wraps
        rows = _batch(step * 4, 4)
        batches = jax.vmap(lambda off, rows=rows: jax.tree.map(lambda x: x + off, rows))(
            seed_offsets
        )
        states = add_donated(states, batches)
    assert states.data.reward.shape == (num_seeds, 10)
    np.testing.assert_array_equal(states.size, [10, 10, 10])
    np.testing.assert_array_equal(states.insert_pos, [6, 6, 6])
    for seed in range(num_seeds):  # each seed's buffer holds its own last 10 transitions
        assert sorted(np.asarray(states.data.reward[seed]) - 100 * seed) == list(range(6, 16))
    keys = jax.random.split(jax.random.key(0), num_seeds)
    _, samples = add_then_sample(states, batches, keys)
    assert samples.obs.shape == (num_seeds, 8, 3)


def test_default_buffer_has_no_discount_leaf():
    state = replay.init(8, 3, 2)
    assert state.data.discount is None
    leaves = jax.tree.leaves(state)
    assert [x.shape for x in leaves] == [(8, 3), (8, 2), (8,), (8, 3), (8,), (), ()]
    with pytest.raises(ValueError, match="with_discount"):
        replay.add(state, _batch(0, 2).replace(discount=jnp.ones(2)))


def test_discount_rows_are_stored_and_sampled_whole():
    state = replay.init(6, 3, 2, with_discount=True)
    with pytest.raises(ValueError, match="with_discount"):
        replay.add(state, _batch(0, 2))
    rows = _batch(1, 4)
    state = jax.jit(replay.add)(state, rows.replace(discount=rows.reward / 10))
    np.testing.assert_allclose(state.data.discount, np.array([1, 2, 3, 4, 0, 0]) / 10, rtol=1e-6)
    sample = replay.sample(state, jax.random.key(0), 64)
    np.testing.assert_allclose(sample.discount, sample.reward / 10)


def test_valid_mask_writes_and_counts_only_valid_rows():
    state = replay.add(replay.init(5, 3, 2), _batch(10, 3))  # rows 0..2 hold 10, 11, 12
    add = jax.jit(replay.add)
    state = add(state, _batch(0, 4), jnp.array([False, True, False, True]))
    assert int(state.size) == 5 and int(state.insert_pos) == 0
    np.testing.assert_array_equal(state.data.reward, [10, 11, 12, 1, 3])
    state = add(state, _batch(20, 3), jnp.array([True, True, False]))  # wraps to rows 0, 1
    np.testing.assert_array_equal(state.data.reward, [20, 21, 12, 1, 3])
    assert int(state.insert_pos) == 2
    state = add(state, _batch(30, 4), jnp.zeros(4, bool))  # nothing valid: unchanged
    np.testing.assert_array_equal(state.data.reward, [20, 21, 12, 1, 3])
    assert int(state.size) == 5 and int(state.insert_pos) == 2
    # An all-true mask equals the unmasked add.
    a = replay.add(replay.init(5, 3, 2), _batch(0, 3), jnp.ones(3, bool))
    b = replay.add(replay.init(5, 3, 2), _batch(0, 3))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
