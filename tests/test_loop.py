"""The training loop's bookkeeping on the C backend (no physics to compile): the noise schedule
waits for the end of warm-up, and evaluation counts episodes exactly."""

import jax
import numpy as np
import pytest

from ddpg_jax import Config, envs
from ddpg_jax.loop import make_train

CFG = Config(
    hidden_dim=16,
    batch_size=16,
    buffer_size=4096,
    warmup_steps=400,
    num_envs=4,
    num_seeds=2,
    expl_noise=0.1,
    noise_decay=0.5,
    min_expl_noise=0.01,
    noise_decay_mode="step",
)


@pytest.fixture(scope="module")
def trainer():
    env = envs.make("inverted_pendulum", backend="mujoco")
    return make_train(CFG, env, chunk_iterations=50, episode_length=30, eval_envs=3)


def test_noise_does_not_decay_during_warmup(trainer):
    carry = trainer.init_seeds(jax.random.split(jax.random.key(0), 2))
    carry, metrics = trainer.train_chunk_seeds(carry)  # iterations 0..49: all warm-up (100)
    np.testing.assert_allclose(metrics["noise_scale"], 0.1)
    carry, _ = trainer.train_chunk_seeds(carry)  # 50..99: still warm-up
    carry, metrics = trainer.train_chunk_seeds(carry)  # 100..149: decays each step
    np.testing.assert_allclose(metrics["noise_scale"], 0.01)  # 0.1 * 0.5**50, floored


def test_evaluation_counts_each_episode_until_it_ends(trainer):
    carry = trainer.init_seeds(jax.random.split(jax.random.key(1), 2))
    result = trainer.evaluate_seeds(carry.train_state, jax.random.split(jax.random.key(2), 2))
    lengths = np.asarray(result["eval_lengths"])
    returns = np.asarray(result["eval_returns"])
    assert lengths.shape == (2, 3) and np.all(lengths >= 1) and np.all(lengths <= 30)
    # InvertedPendulum pays 1 per step while balanced and 0 on the terminating step.
    np.testing.assert_array_equal(returns, np.where(lengths == 30, 30, lengths - 1))


def test_what_the_loop_writes_into_the_buffer():
    """Row i + num_envs continues row i (same env) unless the episode ended there; at a time
    limit next_obs is the true final observation (not the reset one) and nothing terminates."""
    env = envs.make("inverted_pendulum", backend="mujoco")
    cfg = CFG.replace(warmup_steps=0, batch_size=4, num_seeds=1)
    trainer = make_train(cfg, env, chunk_iterations=40, episode_length=7, eval_envs=1)
    carry = trainer.init_seeds(jax.random.split(jax.random.key(5), 1))
    carry, _ = trainer.train_chunk_seeds(carry)
    buf = jax.tree.map(lambda x: np.asarray(x[0]), carry.buffer)
    n, e = int(buf.size), cfg.num_envs
    assert n == 40 * e
    obs, nxt = buf.data.obs[:n], buf.data.next_obs[:n]
    term = buf.data.terminated[:n]
    continues = np.all(np.isclose(obs[e:], nxt[:-e]), axis=1)
    ended = ~continues  # the env reset between row i and row i + e
    assert ended.any() and continues.any()
    assert np.all(term[:-e][continues] == 0)  # a terminated step is always followed by a reset
    # time limit 7: every env's 7th step without a termination ends its episode, not
    # terminated, and bootstraps from a next_obs that is not the reset observation
    truncated = ended & (term[:-e] == 0)
    assert truncated.any()
