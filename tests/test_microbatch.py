"""Micro-batched gradients equal full-batch ones for a critic's and an actor's loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import microbatch as mb
from ddpg_jax.networks import Actor, Critic

B, OBS, ACT = 64, 5, 2
CRITIC = Critic(hidden_dim=32, layer_norm=True)
ACTOR = Actor(hidden_dim=32, action_size=ACT)


def _data():
    k = jax.random.split(jax.random.key(0), 3)
    return (
        jax.random.normal(k[0], (B, OBS)),
        jax.random.uniform(k[1], (B, ACT), minval=-1, maxval=1),
        jax.random.normal(k[2], (B,)),
    )


def _critic_loss(params, data):
    obs, action, target = data
    q = CRITIC.apply(params, obs, action)
    return jnp.mean(jnp.square(q - target)), q


def _assert_trees_close(a, b, atol):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("micro", [8, 16, 32])
def test_critic_gradients_equal_full_batch(micro):
    data = _data()
    params = CRITIC.init(jax.random.key(1), data[0], data[1])
    (loss, q), grads = jax.value_and_grad(_critic_loss, has_aux=True)(params, data)
    (m_loss, m_q), m_grads = jax.jit(
        lambda p, d: mb.value_and_grad(_critic_loss, p, d, micro, has_aux=True)
    )(params, data)
    _assert_trees_close(m_grads, grads, atol=1e-5)
    np.testing.assert_allclose(m_loss, loss, rtol=1e-5)
    assert m_q.shape == (B // micro, micro)
    np.testing.assert_allclose(m_q.reshape(B), q, rtol=1e-5, atol=1e-6)


def test_actor_gradients_through_a_critic_equal_full_batch():
    obs, action, _ = _data()
    critic = CRITIC.init(jax.random.key(1), obs, action)
    actor = ACTOR.init(jax.random.key(2), obs)

    def loss(p, o):
        return -jnp.mean(CRITIC.apply(critic, o, ACTOR.apply(p, o)))

    full = jax.value_and_grad(loss)(actor, obs)
    micro = mb.value_and_grad(loss, actor, obs, 16)
    _assert_trees_close(micro, full, atol=1e-5)
    assert not np.allclose(jax.tree.leaves(full[1])[0], 0)  # a gradient that can differ


def test_small_batch_is_plain_value_and_grad_and_bad_sizes_fail():
    data = _data()
    params = CRITIC.init(jax.random.key(1), data[0], data[1])
    plain = jax.value_and_grad(_critic_loss, has_aux=True)(params, data)
    for micro in (0, B, 2 * B):
        same = mb.value_and_grad(_critic_loss, params, data, micro, has_aux=True)
        for x, y in zip(jax.tree.leaves(same), jax.tree.leaves(plain), strict=True):
            np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="multiple"):
        mb.value_and_grad(_critic_loss, params, data, 24, has_aux=True)


def test_vmaps_over_seeds():
    data = _data()
    keys = jax.random.split(jax.random.key(3), 2)
    params = jax.vmap(lambda k: CRITIC.init(k, data[0], data[1]))(keys)

    def grads(p, micro):
        return mb.value_and_grad(lambda q, d: _critic_loss(q, d)[0], p, data, micro)[1]

    batched = jax.jit(jax.vmap(lambda p: grads(p, 16)))(params)
    for s in range(2):
        single = grads(jax.tree.map(lambda x, s=s: x[s], params), B)
        _assert_trees_close(jax.tree.map(lambda x, s=s: x[s], batched), single, atol=1e-5)
