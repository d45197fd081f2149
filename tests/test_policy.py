"""`ddpg_jax.policy`: the numpy policy of a checkpoint acts through `agent.act` for any
actor shape the config describes, refuses a config that does not describe the saved actor,
refuses non-finite observations, and loads without log noise.

Checkpoints are built from `agent.init` (no env, no training), saved as train saves them.
"""

from __future__ import annotations

import logging

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ddpg_jax import Config, agent, policy, run_dir
from ddpg_jax.agent import Policy
from ddpg_jax.checkpoint import CheckpointStore

ENV = "inverted_pendulum"
OBS, ACT, SEEDS = 4, 1, 2
# A deeper, wider actor with layer norm: shapes the old fixed two-layer Actor could not load.
DEEP = Config(hidden_dim=16, actor_hidden_dim=24, actor_layers=3, actor_layer_norm=True)


def make_run(root, cfg: Config, saved_cfg: Config | None = None):
    """A run dir whose config.yaml holds `saved_cfg` (default `cfg`) and one checkpoint of
    `SEEDS` policies built with `cfg`."""
    keys = jax.random.split(jax.random.key(0), SEEDS)
    ts = jax.vmap(lambda k: agent.init(cfg, OBS, ACT, k, [-3.0], [3.0]))(keys)
    ts = ts.replace(
        normalizer=ts.normalizer.replace(
            mean=jnp.tile(jnp.array([0.1, -0.2, 0.3, 0.0]), (SEEDS, 1)),
            var=jnp.tile(jnp.array([0.5, 2.0, 1.0, 0.1]), (SEEDS, 1)),
        )
    )
    rd = run_dir.create(root, ENV)
    run_dir.save_config(rd, saved_cfg or cfg, {"env": ENV, "run": {"episode_length": 77}})
    with CheckpointStore(rd) as store:
        store.save(100, Policy.from_train_state(ts), None, meta={"env": ENV})
    return rd, ts


@pytest.fixture(scope="module")
def deep_run(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("policy") / "deep", DEEP)


def test_deep_actor_acts_like_training(deep_run):
    rd, ts = deep_run
    obs = np.random.default_rng(0).normal(size=(8, OBS)).astype(np.float32)
    seeds = policy.load_seeds(rd.root)
    assert seeds.config == DEEP and seeds.run["episode_length"] == 77
    for i in range(SEEDS):
        pi = seeds.select(i)
        expected = agent.act(DEEP, jax.tree.map(lambda x, i=i: x[i], ts), jnp.asarray(obs))
        np.testing.assert_allclose(pi.act(obs), np.asarray(expected), rtol=1e-6, atol=1e-6)
        assert pi.act(obs[0]).shape == (ACT,)
    assert not hasattr(policy.LoadedPolicy, "jax_action")  # one forward pass: agent's


@pytest.mark.parametrize(
    "saved",
    [
        DEEP.replace(actor_layers=2),  # one layer fewer
        DEEP.replace(actor_hidden_dim=0),  # width 16 instead of 24
        DEEP.replace(actor_layer_norm=False),  # no LayerNorm params
    ],
    ids=["layers", "width", "layer_norm"],
)
def test_config_that_does_not_describe_the_actor_is_refused(tmp_path, saved):
    rd, _ = make_run(tmp_path / "run", DEEP, saved_cfg=saved)
    with pytest.raises(policy.PolicyError, match="config.yaml does not describe") as e:
        policy.load(rd.root)
    assert "\n" not in str(e.value) and "restore the run's config.yaml" in str(e.value)


@pytest.mark.parametrize(
    "obs, named",
    [
        ([0.0, np.nan, 1.0, 2.0], ["obs[1]=nan"]),
        ([[0.0, 1.0, 2.0, 3.0], [np.inf, 0.0, -np.inf, 0.0]], ["obs[1, 0]=inf", "obs[1, 2]=-inf"]),
    ],
)
def test_non_finite_observation_raises_naming_the_entries(deep_run, obs, named):
    pi = policy.load(deep_run[0].root)
    with pytest.raises(ValueError, match="non-finite") as e:
        pi.act(np.array(obs))
    for entry in named:
        assert entry in str(e.value)


def test_many_non_finite_entries_are_counted_not_all_listed(deep_run):
    pi = policy.load(deep_run[0].root)
    with pytest.raises(ValueError, match="12 non-finite entries") as e:
        pi.act(np.full((3, OBS), np.nan))
    assert str(e.value).count("=nan") == 5 and "and 7 more" in str(e.value)


def test_loading_logs_no_warnings(deep_run, capfd, caplog):
    """Orbax's notices about read-only checkpoint managers are nothing a user can act on."""
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        policy.load(deep_run[0].root)
    assert [r.getMessage() for r in caplog.records] == []
    assert capfd.readouterr() == ("", "")
