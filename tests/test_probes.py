"""Probe environments that isolate the learner (after rejax / Andy Jones' probe envs).

Each probe draws transitions from a one- or two-state problem whose Q-function and greedy
action are known in closed form, trains only `agent.update` on them, and checks the answer.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import Config, agent
from ddpg_jax.replay import Transition

GAMMA = 0.9
BATCH = 64
CFG = Config(
    hidden_dim=64,
    actor_lr=1e-3,
    critic_lr=1e-3,
    gamma=GAMMA,
    tau=0.05,
    weight_decay=0.0,
    batch_size=BATCH,
    buffer_size=BATCH,
)


def _uniform_actions(key):
    return jax.random.uniform(key, (BATCH, 1), minval=-1, maxval=1)


def constant_reward(key):
    """One step, reward 1: Q = 1 everywhere."""
    return Transition(
        obs=jnp.zeros((BATCH, 1)),
        action=_uniform_actions(key),
        reward=jnp.ones(BATCH),
        next_obs=jnp.zeros((BATCH, 1)),
        terminated=jnp.ones(BATCH),
    )


def obs_reward(key):
    """One step, obs +-1, reward = obs: Q(s) = s."""
    k1, k2 = jax.random.split(key)
    obs = jax.random.choice(k1, jnp.array([-1.0, 1.0]), (BATCH, 1))
    return Transition(
        obs=obs,
        action=_uniform_actions(k2),
        reward=obs[:, 0],
        next_obs=obs,
        terminated=jnp.ones(BATCH),
    )


def two_step(key):
    """State 0 -> state 1 (reward 0), state 1 -> end (reward 1): Q(0) = gamma, Q(1) = 1."""
    k1, k2 = jax.random.split(key)
    first = jax.random.bernoulli(k1, 0.5, (BATCH,))
    obs = jnp.where(first, 0.0, 1.0)[:, None]
    return Transition(
        obs=obs,
        action=_uniform_actions(k2),
        reward=jnp.where(first, 0.0, 1.0),
        next_obs=jnp.ones((BATCH, 1)),
        terminated=jnp.where(first, 0.0, 1.0),
    )


def action_reward(key):
    """One step, reward -(a - s)^2 with s uniform in [-0.6, 0.6]: greedy a = s, Q(s, s) = 0."""
    k1, k2 = jax.random.split(key)
    obs = jax.random.uniform(k1, (BATCH, 1), minval=-0.6, maxval=0.6)
    action = _uniform_actions(k2)
    return Transition(
        obs=obs,
        action=action,
        reward=-((action - obs)[:, 0] ** 2),
        next_obs=obs,
        terminated=jnp.ones(BATCH),
    )


@functools.partial(jax.jit, static_argnums=(0, 1, 3))
def _train(make_batch, steps, key, cfg=CFG):
    init_key, data_key = jax.random.split(key)
    ts = agent.init(cfg, 1, 1, init_key)

    def body(ts, k):
        ts, _ = agent.update(cfg, ts, make_batch(k))
        return ts, None

    ts, _ = jax.lax.scan(body, ts, jax.random.split(data_key, steps))
    return ts


def _q(ts, obs, action, cfg=CFG):
    obs, action = jnp.asarray(obs)[:, None], jnp.asarray(action)[:, None]
    q = agent.q_values(cfg, ts.critic_params, agent.prepare_obs(cfg, ts, obs), action)
    return np.asarray(q[0])  # the first critic


@pytest.mark.parametrize(
    "probe,obs,want_q",
    [
        (constant_reward, [0.0, 0.0], [1.0, 1.0]),
        (obs_reward, [-1.0, 1.0], [-1.0, 1.0]),
        (two_step, [0.0, 1.0], [GAMMA, 1.0]),
    ],
)
def test_value_probes(probe, obs, want_q):
    ts = _train(probe, 1500, jax.random.key(0))
    for action in (-0.9, 0.0, 0.9):  # the value does not depend on the action here
        np.testing.assert_allclose(_q(ts, obs, [action] * len(obs)), want_q, atol=0.05)


def test_action_probe_greedy_action_and_value():
    ts = _train(action_reward, 3000, jax.random.key(0))
    obs = np.array([-0.5, -0.2, 0.0, 0.3, 0.5])
    greedy = np.asarray(agent.act(CFG, ts, jnp.asarray(obs)[:, None]))[:, 0]
    np.testing.assert_allclose(greedy, obs, atol=0.05)
    np.testing.assert_allclose(_q(ts, obs, greedy), 0.0, atol=0.05)
    np.testing.assert_allclose(_q(ts, obs, obs + 0.5), -0.25, atol=0.06)


# Each stabiliser (off in Config()) must still learn: the two-step value and the greedy action.
STABILISED = {
    "layer_norm": CFG.replace(actor_layer_norm=True, critic_layer_norm=True),
    "categorical": CFG.replace(distributional=True, num_atoms=51, v_min=-2.0, v_max=2.0),
    "categorical_twin": CFG.replace(
        distributional=True, num_atoms=51, v_min=-2.0, v_max=2.0, twin_critics=True
    ),
    "widths_depth": CFG.replace(actor_hidden_dim=32, critic_hidden_dim=96, critic_layers=3),
    "grad_clip": CFG.replace(max_grad_norm=1.0),
    "micro_batch": CFG.replace(micro_batch=16),
    # ~2900 learning updates, so the 1500- and 3000-update probes end at ~1/2 and ~1/10 of the
    # learning rates
    "lr_decay": CFG.replace(lr_decay_to=0.1, total_steps=3000, warmup_steps=0),
}


# Each probe compiles its own program (~30 s on 2 cores): three run by default, the other
# three (their math is tested in test_agent.py) with `-m slow`.
SLOW = {"categorical", "widths_depth", "grad_clip"}


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in sorted(STABILISED)],
)
def test_stabilisers_still_learn(name):
    cfg = STABILISED[name]
    ts = _train(two_step, 1500, jax.random.key(0), cfg)
    np.testing.assert_allclose(_q(ts, [0.0, 1.0], [0.0, 0.0], cfg), [GAMMA, 1.0], atol=0.06)
    ts = _train(action_reward, 3000, jax.random.key(0), cfg)
    obs = np.array([-0.5, 0.0, 0.5])
    greedy = np.asarray(agent.act(cfg, ts, jnp.asarray(obs)[:, None]))[:, 0]
    # The greedy action is only as exact as a 64-unit critic's fit of -(a - s)^2, and which key
    # lands where depends on the CPU's float kernels (AVX-512 or not), so the tolerance leaves
    # room for the worst key seen, and still fails an actor that has not learned (~0.5 off).
    np.testing.assert_allclose(greedy, obs, atol=0.15)
