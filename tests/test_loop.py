"""The training loop's bookkeeping on the C backend (no physics to compile): the noise schedule
waits for the end of warm-up, and evaluation counts episodes exactly."""

import jax
import numpy as np
import pytest

import envs
from ddpg_jax import Config
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
