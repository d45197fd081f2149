"""One seed's chunk and the twin critics compile to plain (unbatched) matmuls, which XLA's CPU
backend runs faster than batched ones, and compute what the vmapped forms compute."""

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np

from ddpg_jax import Config, agent
from ddpg_jax.loop import per_seed


def batched_dots(fn, *args) -> list[bool]:
    """For every `dot_general` in `fn`'s jaxpr (sub-jaxprs included): has it batch dims?"""
    found = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                (_, _), (lhs_batch, _) = eqn.params["dimension_numbers"]
                found.append(len(lhs_batch) > 0)
            for sub in jax.extend.core.jaxprs_in_params(eqn.params):
                walk(sub)

    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return found


def layer(carry):
    return {"y": jnp.tanh(carry["x"] @ carry["w"])}


def seeds_of(n: int):
    k = jax.random.split(jax.random.key(0), 2)
    return {"x": jax.random.normal(k[0], (n, 8, 5)), "w": jax.random.normal(k[1], (n, 5, 3))}


def test_one_seed_is_unvmapped_and_equals_the_vmap():
    carry = seeds_of(1)
    assert batched_dots(lambda c: per_seed(layer, c), carry) == [False]
    np.testing.assert_allclose(
        per_seed(layer, carry)["y"], jax.vmap(layer)(carry)["y"], rtol=1e-6, atol=1e-6
    )
    assert per_seed(layer, carry)["y"].shape == (1, 8, 3)


def test_several_seeds_stay_vmapped():
    carry = seeds_of(3)
    assert batched_dots(lambda c: per_seed(layer, c), carry) == [True]
    np.testing.assert_array_equal(per_seed(layer, carry)["y"], jax.vmap(layer)(carry)["y"])


def test_twin_critics_use_plain_matmuls_and_match_their_vmap():
    cfg = Config(hidden_dim=32, batch_size=16, twin_critics=True, critic_arch="concat")
    ts = agent.init(cfg, 5, 2, jax.random.key(1))
    obs = jax.random.normal(jax.random.key(2), (16, 5))
    action = jax.random.uniform(jax.random.key(3), (16, 2), minval=-1, maxval=1)
    dots = batched_dots(lambda p: agent._all_out(cfg, p, obs, action), ts.critic_params)
    assert dots and not any(dots)
    q = agent._all_out(cfg, ts.critic_params, obs, action)
    vmapped = jax.vmap(agent.make_critic(cfg).apply, in_axes=(0, None, None))(
        ts.critic_params, obs, action
    )
    assert q.shape == (2, 16)
    np.testing.assert_allclose(q, vmapped, rtol=1e-5, atol=1e-6)
    assert not np.allclose(q[0], q[1])  # two critics, two different initialisations
