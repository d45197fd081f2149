"""The DDPG update against a hand computation, soft updates, TD3 switches, tracing, keys."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import Config, agent, schedule
from ddpg_jax.replay import Transition
from ddpg_jax.tracing import TRACE_COUNTS

OBS, ACT, BATCH = 2, 1, 4


def _q(cfg, ts, obs, action):
    """Q(s, a) of the first online critic; `obs` raw."""
    return agent.q_values(cfg, ts.critic_params, agent.prepare_obs(cfg, ts, obs), action)[0]


def _batch(key, terminated=(0.0, 1.0, 0.0, 1.0)) -> Transition:
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return Transition(
        obs=jax.random.normal(k1, (BATCH, OBS)),
        action=jax.random.uniform(k2, (BATCH, ACT), minval=-2, maxval=2),
        reward=jax.random.normal(k3, (BATCH,)),
        next_obs=jax.random.normal(k4, (BATCH, OBS)),
        terminated=jnp.asarray(terminated),
    )


def _layers(params):
    p = params["params"]
    return [(p[name]["kernel"], p[name]["bias"]) for name in ("hidden_0", "hidden_1", "out")]


def _ref_actor(params, obs, scale, bias):
    (w0, b0), (w1, b1), (w2, b2) = _layers(params)
    h = jax.nn.relu(obs @ w0 + b0)
    h = jax.nn.relu(h @ w1 + b1)
    return jnp.tanh(h @ w2 + b2) * scale + bias


def _ref_critic(params, obs, action):
    (w0, b0), (w1, b1), (w2, b2) = _layers(params)
    h = jnp.concatenate([jax.nn.relu(obs @ w0 + b0), action], -1)
    return (jax.nn.relu(h @ w1 + b1) @ w2 + b2)[:, 0]


def _first_adam_step(params, grads, lr):
    # Adam's first step: bias-corrected m = g and v = g^2, so the step is lr * g / (|g| + eps).
    return jax.tree.map(lambda p, g: p - lr * g / (jnp.abs(g) + 1e-8), params, grads)


def test_update_matches_hand_computation():
    cfg = Config(hidden_dim=3, gamma=0.9, tau=0.1, weight_decay=0.01, actor_lr=1e-3, critic_lr=2e-3)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0), action_low=[-2.0], action_high=[2.0])
    batch = _batch(jax.random.key(1))
    critic0 = jax.tree.map(lambda p: p[0], ts.critic_params)
    scale, bias = ts.action_scale, ts.action_bias

    next_q = _ref_critic(
        critic0, batch.next_obs, _ref_actor(ts.actor_params, batch.next_obs, scale, bias)
    )
    y = batch.reward + 0.9 * (1 - batch.terminated) * next_q

    def critic_loss(params):
        return jnp.mean((_ref_critic(params, batch.obs, batch.action) - y) ** 2)

    grads = jax.grad(critic_loss)(critic0)
    grads = jax.tree.map(lambda g, p: g + 0.01 * p, grads, critic0)  # coupled L2, as torch Adam
    critic1 = _first_adam_step(critic0, grads, 2e-3)

    def actor_loss(params):
        return -jnp.mean(
            _ref_critic(critic1, batch.obs, _ref_actor(params, batch.obs, scale, bias))
        )

    actor1 = _first_adam_step(ts.actor_params, jax.grad(actor_loss)(ts.actor_params), 1e-3)

    new_ts, metrics = agent.update(cfg, ts, batch)
    close = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(metrics["critic_loss"], critic_loss(critic0), **close)
    np.testing.assert_allclose(metrics["actor_loss"], actor_loss(ts.actor_params), **close)
    np.testing.assert_allclose(metrics["target_q_mean"], jnp.mean(y), **close)
    np.testing.assert_allclose(
        metrics["q_mean"], jnp.mean(_ref_critic(critic0, batch.obs, batch.action)), **close
    )
    for got, want in zip(
        jax.tree.leaves(new_ts.critic_params), jax.tree.leaves(critic1), strict=True
    ):
        np.testing.assert_allclose(got[0], want, **close)
    for got, want in zip(
        jax.tree.leaves(new_ts.actor_params), jax.tree.leaves(actor1), strict=True
    ):
        np.testing.assert_allclose(got, want, **close)
    assert int(new_ts.step) == 1


def test_soft_update_exact():
    cfg = Config(hidden_dim=8, tau=0.25)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    ts = ts.replace(
        target_actor_params=jax.tree.map(jnp.zeros_like, ts.actor_params),
        target_critic_params=jax.tree.map(jnp.ones_like, ts.critic_params),
    )
    new_ts, _ = agent.update(cfg, ts, _batch(jax.random.key(1)))
    for online, target in zip(
        jax.tree.leaves(new_ts.actor_params),
        jax.tree.leaves(new_ts.target_actor_params),
        strict=True,
    ):
        np.testing.assert_array_equal(target, np.float32(0.25) * online)
    for online, target in zip(
        jax.tree.leaves(new_ts.critic_params),
        jax.tree.leaves(new_ts.target_critic_params),
        strict=True,
    ):
        np.testing.assert_allclose(target, 0.25 * online + 0.75, rtol=1e-7, atol=1e-7)


def test_terminated_transitions_do_not_bootstrap():
    cfg = Config(hidden_dim=8, gamma=0.99)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    batch = _batch(jax.random.key(1), terminated=(1.0, 1.0, 1.0, 1.0))
    _, metrics = agent.update(cfg, ts, batch)
    np.testing.assert_allclose(metrics["target_q_mean"], jnp.mean(batch.reward), rtol=1e-6)


def test_twin_critics_bootstrap_from_the_smaller_target():
    cfg = Config(hidden_dim=8, gamma=0.5, twin_critics=True)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    batch = _batch(jax.random.key(1), terminated=(0.0, 0.0, 0.0, 0.0))
    next_action = agent.act(cfg, ts.replace(actor_params=ts.target_actor_params), batch.next_obs)
    qs = [
        _ref_critic(
            jax.tree.map(lambda p, i=i: p[i], ts.target_critic_params), batch.next_obs, next_action
        )
        for i in range(2)
    ]
    assert not np.allclose(qs[0], qs[1])
    _, metrics = agent.update(cfg, ts, batch)
    want = jnp.mean(batch.reward + 0.5 * jnp.minimum(qs[0], qs[1]))
    np.testing.assert_allclose(metrics["target_q_mean"], want, rtol=1e-5)


def test_policy_delay_updates_actor_and_targets_every_other_step():
    cfg = Config(hidden_dim=8, twin_critics=True, policy_delay=2, target_noise=0.2)
    ts0 = agent.init(cfg, OBS, ACT, jax.random.key(0))
    batch = _batch(jax.random.key(1))
    ts1, _ = agent.update(cfg, ts0, batch)
    ts2, _ = agent.update(cfg, ts1, batch)

    def same(a, b):
        return all(
            np.array_equal(x, y)
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
        )

    assert not same(ts1.actor_params, ts0.actor_params)  # step 0: actor moves
    assert same(ts2.actor_params, ts1.actor_params)  # step 1: actor waits
    assert same(ts2.target_critic_params, ts1.target_critic_params)
    assert not same(ts2.critic_params, ts1.critic_params)  # the critic learns every step


def test_actions_respect_bounds_and_q_value_shape():
    cfg = Config(hidden_dim=8)
    ts = agent.init(cfg, OBS, 2, jax.random.key(0), action_low=[-3.0, 0.0], action_high=[3.0, 1.0])
    ts = ts.replace(actor_params=jax.tree.map(lambda p: p * 100, ts.actor_params))
    action = agent.act(cfg, ts, jax.random.normal(jax.random.key(1), (256, OBS)) * 10)
    assert action.shape == (256, 2)
    assert np.all(action[:, 0] >= -3) and np.all(action[:, 0] <= 3)
    assert np.all(action[:, 1] >= 0) and np.all(action[:, 1] <= 1)
    assert _q(cfg, ts, jnp.zeros((5, OBS)), jnp.zeros((5, 2))).shape == (5,)


@pytest.mark.parametrize("critic_arch", ["embed", "concat"])
def test_update_compiles_once_and_keys_are_never_reused(critic_arch):
    cfg = Config(
        hidden_dim=16,
        critic_arch=critic_arch,
        target_noise=0.1,
        normalize_obs=True,
        batch_size=BATCH,
        buffer_size=BATCH,
    )
    before = TRACE_COUNTS["update"]
    with jax.debug_key_reuse(True):
        ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
        for i in range(20):
            ts, metrics = agent.update(cfg, ts, _batch(jax.random.key(100 + i)))
    assert TRACE_COUNTS["update"] - before == 1
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_n_step_batches_bootstrap_with_their_own_discount():
    cfg = Config(hidden_dim=8, batch_size=BATCH, buffer_size=BATCH)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    batch = _batch(jax.random.key(1))
    discount = jnp.asarray([0.5, 0.0, 0.25, 0.9])
    target = agent.td_target(cfg, ts, batch.replace(discount=discount), jax.random.key(2))
    next_q = _q(
        cfg,
        ts.replace(critic_params=ts.target_critic_params, actor_params=ts.target_actor_params),
        batch.next_obs,
        agent.act(cfg, ts.replace(actor_params=ts.target_actor_params), batch.next_obs),
    )
    np.testing.assert_allclose(target, batch.reward + discount * next_q, rtol=1e-5, atol=1e-6)


def test_categorical_target_of_a_terminal_step_is_its_reward():
    cfg = Config(hidden_dim=8, distributional=True, num_atoms=11, v_min=-5.0, v_max=5.0)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    batch = _batch(jax.random.key(1), terminated=(1.0, 1.0, 1.0, 1.0))
    target = agent.td_target(cfg, ts, batch, jax.random.key(2))  # [batch, atoms]
    assert target.shape == (BATCH, 11)
    np.testing.assert_allclose(target.sum(-1), 1.0, rtol=1e-6)
    expected = (target * agent.atoms(cfg)).sum(-1)
    np.testing.assert_allclose(expected, np.clip(batch.reward, -5, 5), atol=1e-5)


def test_categorical_twin_target_takes_the_distribution_with_the_smaller_mean():
    cfg = Config(hidden_dim=8, distributional=True, num_atoms=11, twin_critics=True)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    batch = _batch(jax.random.key(1), terminated=(0.0, 0.0, 0.0, 0.0))
    nxt = batch.next_obs
    action = agent.act(cfg, ts.replace(actor_params=ts.target_actor_params), nxt)
    logits = agent._all_out(cfg, ts.target_critic_params, nxt, action)
    probs = jax.nn.softmax(logits, -1)
    means = (probs * agent.atoms(cfg)).sum(-1)  # [2, batch]
    chosen = jnp.where((means[0] <= means[1])[:, None], probs[0], probs[1])
    want = agent.dist.project(chosen, batch.reward, cfg.gamma * jnp.ones(BATCH), agent.atoms(cfg))
    np.testing.assert_allclose(agent.td_target(cfg, ts, batch, jax.random.key(2)), want, atol=1e-6)
    ts2, metrics = agent.update(cfg, ts, batch)
    assert np.isfinite(metrics["critic_loss"]) and np.isfinite(metrics["actor_loss"])
    assert _q(cfg, ts2, batch.obs, batch.action).shape == (BATCH,)


def test_micro_batched_update_equals_the_whole_batch():
    cfg = Config(hidden_dim=16, batch_size=64, critic_lr=1e-2, actor_lr=1e-2)
    k1, k2, k3, k4, k5 = jax.random.split(jax.random.key(3), 5)
    batch = Transition(
        obs=jax.random.normal(k1, (64, OBS)),
        action=jax.random.uniform(k2, (64, ACT), minval=-1, maxval=1),
        reward=jax.random.normal(k3, (64,)),
        next_obs=jax.random.normal(k4, (64, OBS)),
        terminated=jnp.zeros(64),
    )
    ts = agent.init(cfg, OBS, ACT, k5)
    whole, m1 = agent.update(cfg, ts, batch)
    sliced, m2 = agent.update(cfg.replace(micro_batch=16), ts, batch)
    for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(sliced), strict=True):
        if jnp.issubdtype(a.dtype, jnp.floating):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m1["critic_loss"], m2["critic_loss"], rtol=1e-5)


def test_gradient_clipping_clips_the_global_norm_before_adam():
    cfg = Config(max_grad_norm=0.5)
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.asarray([30.0, 40.0, 0.0])}  # norm 50
    opt = agent._actor_optimizer(cfg)
    updates, _ = opt.update(grads, opt.init(params), params)
    plain = agent._actor_optimizer(Config())
    clipped = {"w": grads["w"] * 0.5 / 50.0}
    want, _ = plain.update(clipped, plain.init(params), params)
    np.testing.assert_allclose(updates["w"], want["w"], rtol=1e-5)
    assert (
        len(jax.tree.leaves(agent._actor_optimizer(Config()).init(params)))
        < len(jax.tree.leaves(opt.init(params))) + 1
    )  # off: no clip state is added to the default optimizer


def test_lr_factor_falls_linearly_to_its_floor_and_stays():
    cfg = Config(lr_decay_to=0.2, total_steps=1100, num_envs=1, warmup_steps=100, batch_size=4)
    assert schedule.learning_updates(cfg) == 1000
    steps = jnp.asarray([0, 250, 500, 1000, 5000], jnp.int32)
    np.testing.assert_allclose(
        jax.vmap(lambda s: agent.lr_factor(cfg, s))(steps), [1.0, 0.8, 0.6, 0.2, 0.2], rtol=1e-6
    )


def test_decayed_update_equals_an_update_at_the_lower_rates():
    # Past the horizon the factor is lr_decay_to for the critic (step H) and the actor (H + 1),
    # so one update must equal one with both learning rates (and nothing else) scaled by it.
    base = Config(hidden_dim=8, batch_size=BATCH, buffer_size=BATCH, total_steps=500)
    decayed = base.replace(lr_decay_to=0.25)
    lower = base.replace(actor_lr=base.actor_lr * 0.25, critic_lr=base.critic_lr * 0.25)
    ts = agent.init(base, OBS, ACT, jax.random.key(3))
    ts = ts.replace(step=jnp.asarray(schedule.learning_updates(base), jnp.int32))
    batch = _batch(jax.random.key(4))
    got, _ = agent.update(decayed, ts, batch)
    want, _ = agent.update(lower, ts, batch)
    moved, _ = agent.update(base, ts, batch)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        if jnp.issubdtype(a.dtype, jnp.floating):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    pairs = zip(jax.tree.leaves(moved.actor_params), jax.tree.leaves(ts.actor_params), strict=True)
    assert max(float(jnp.abs(a - b).max()) for a, b in pairs) > 0  # the actor did move


def test_skipped_policy_delay_step_leaves_actor_and_targets():
    cfg = Config(hidden_dim=8, policy_delay=2, batch_size=BATCH, buffer_size=BATCH)
    ts = agent.init(cfg, OBS, ACT, jax.random.key(0))
    ts1, m1 = agent.update(cfg, ts, _batch(jax.random.key(1)))  # step 0: actor updates
    ts2, m2 = agent.update(cfg, ts1, _batch(jax.random.key(2)))  # step 1: skipped
    assert np.isfinite(m1["actor_loss"]) and np.isnan(m2["actor_loss"])
    for name in ("actor_params", "target_actor_params", "target_critic_params"):
        chex.assert_trees_all_equal(getattr(ts1, name), getattr(ts2, name))
