"""n-step window: hand-computed returns across a truncation and a termination, a numpy
reference on random episodes, n == 1 identity, jit + vmap over seeds with a traced gamma."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import nstep, replay


def _step(t, reward, terminated, over, num_envs=1):
    """Step t of `num_envs` envs: obs t, action -t, next_obs t + 0.5 (+100 at episode ends,
    standing for the true final obs that differs from the reset obs)."""
    t_arr = jnp.full((num_envs,), float(t))
    tr = replay.Transition(
        obs=jnp.stack([t_arr, t_arr], -1),
        action=-t_arr[:, None],
        reward=jnp.asarray(reward, jnp.float32).reshape(num_envs),
        next_obs=jnp.stack([t_arr + 0.5 + 100 * jnp.asarray(over, jnp.float32), t_arr], -1),
        terminated=jnp.asarray(terminated, jnp.float32).reshape(num_envs),
    )
    return tr, jnp.asarray(over, bool).reshape(num_envs)


def _run(n, gamma, rewards, terminated, over):
    """Push a [T, E] sequence; return the outputs of every push and their valid masks."""
    num_envs = rewards.shape[1]
    state = nstep.init(num_envs, 2, 1, n)
    outs, valids = [], []
    push = jax.jit(nstep.push)
    for t in range(rewards.shape[0]):
        tr, ep_over = _step(t, rewards[t], terminated[t], over[t], num_envs)
        state, out, valid = push(state, tr, ep_over, gamma)
        outs.append(out)
        valids.append(np.asarray(valid))
    return outs, valids


def test_hand_computed_three_step_with_truncation_and_termination():
    # Episodes: steps 0-1 (time limit at 1), steps 2-4 (terminated at 4), steps 5-.
    rewards = np.arange(1, 9, dtype=np.float32)[:, None]  # r_t = t + 1
    over = np.zeros((8, 1), bool)
    over[[1, 4]] = True
    terminated = np.zeros((8, 1), np.float32)
    terminated[4] = 1.0
    outs, valids = _run(3, 0.5, rewards, terminated, over)
    assert [bool(v[0]) for v in valids] == [False, False] + [True] * 6
    # (step leaving, G, next_obs[0], discount) by hand:
    expected = [
        (0, 1 + 0.5 * 2, 101.5, 0.25),  # cut by the time limit: bootstrap from final obs
        (1, 2, 101.5, 0.5),
        (2, 3 + 0.5 * 4 + 0.25 * 5, 104.5, 0.0),  # ends in the termination: no bootstrap
        (3, 4 + 0.5 * 5, 104.5, 0.0),
        (4, 5, 104.5, 0.0),
        (5, 6 + 0.5 * 7 + 0.25 * 8, 7.5, 0.125),  # full 3 steps
    ]
    for out, (t, g, nxt, disc) in zip(outs[2:], expected, strict=True):
        np.testing.assert_allclose(out.obs[0], [t, t])
        np.testing.assert_allclose(out.action[0], [-t])
        np.testing.assert_allclose(out.reward[0], g, rtol=1e-6)
        np.testing.assert_allclose(out.next_obs[0, 0], nxt)
        np.testing.assert_allclose(out.discount[0], disc)


def _reference(n, gamma, rewards, terminated, over, t):
    """n-step return of step t from the full trajectory, by a plain loop per env."""
    num_envs = rewards.shape[1]
    g, last = np.zeros(num_envs), np.zeros(num_envs, int)
    disc = np.zeros(num_envs)
    for e in range(num_envs):
        m = 0
        for k in range(n):
            g[e] += gamma**k * rewards[t + k, e]
            m = k + 1
            if over[t + k, e]:
                break
        last[e] = t + m - 1
        disc[e] = gamma**m * (1 - terminated[last[e], e])
    return g, last, disc


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_random_episodes_match_numpy_reference(n):
    rng = np.random.default_rng(n)
    steps, num_envs, gamma = 24, 4, 0.9
    rewards = rng.normal(size=(steps, num_envs)).astype(np.float32)
    over = rng.random((steps, num_envs)) < 0.3
    terminated = (over & (rng.random((steps, num_envs)) < 0.5)).astype(np.float32)
    outs, valids = _run(n, gamma, rewards, terminated, over)
    for s, (out, valid) in enumerate(zip(outs, valids, strict=True)):
        assert valid.all() == (s >= n - 1) and valid.all() == valid.any()
        if s < n - 1:
            continue
        t = s - n + 1
        g, last, disc = _reference(n, gamma, rewards, terminated, over, t)
        np.testing.assert_allclose(out.obs[:, 0], t)
        np.testing.assert_allclose(out.reward, g, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(out.discount, disc, rtol=1e-6)
        np.testing.assert_allclose(out.terminated, terminated[last, range(num_envs)])
        np.testing.assert_allclose(out.next_obs[:, 0], last + 0.5 + 100 * over[last, range(4)])


def test_n1_returns_the_input_transition():
    rng = np.random.default_rng(0)
    state = nstep.init(5, 2, 1, 1)
    for t in range(3):
        tr, over = _step(t, rng.normal(size=5), [0, 1, 0, 0, 1], [0, 1, 1, 0, 1], 5)
        state, out, valid = nstep.push(state, tr, over, 0.99)
        assert bool(valid.all())
        for name in ("obs", "action", "reward", "next_obs", "terminated"):
            np.testing.assert_array_equal(getattr(out, name), getattr(tr, name))
        np.testing.assert_array_equal(out.discount, jnp.float32(0.99) * (1 - tr.terminated))


def test_jit_vmap_over_seeds_with_traced_gamma():
    num_seeds, num_envs, n, steps = 3, 4, 3, 10
    rng = np.random.default_rng(7)
    rewards = jnp.asarray(rng.normal(size=(num_seeds, steps, num_envs)), jnp.float32)
    over = jnp.asarray(rng.random((num_seeds, steps, num_envs)) < 0.3)
    gammas = jnp.array([0.5, 0.9, 0.99])

    def run(rewards, over, gamma):
        def body(state, x):
            r, o = x
            tr = replay.Transition(
                obs=jnp.zeros((num_envs, 2)),
                action=jnp.zeros((num_envs, 1)),
                reward=r,
                next_obs=jnp.zeros((num_envs, 2)),
                terminated=o.astype(jnp.float32),
            )
            state, out, valid = nstep.push(state, tr, o, gamma)
            return state, (out.reward, out.discount, valid)

        return jax.lax.scan(body, nstep.init(num_envs, 2, 1, n), (rewards, over))[1]

    batched = jax.jit(jax.vmap(run))(rewards, over, gammas)
    for s in range(num_seeds):
        single = run(rewards[s], over[s], float(gammas[s]))
        for a, b in zip(batched, single, strict=True):
            np.testing.assert_allclose(a[s], b, rtol=1e-6)
    assert not np.asarray(batched[2][:, : n - 1]).any() and np.asarray(batched[2][:, n - 1 :]).all()


def test_window_must_hold_a_step():
    with pytest.raises(ValueError, match="n >= 1"):
        nstep.init(2, 3, 1, 0)
