"""Config: seed 000 defaults, hashability, and a clear error for every invalid field."""

import dataclasses

import pytest

from ddpg_jax import Config, ConfigError
from ddpg_jax.config import field_docs, field_names


def test_defaults_are_seed_000_general_model():
    cfg = Config()
    seed_000 = dict(
        hidden_dim=256,
        actor_lr=1e-4,
        critic_lr=1e-3,
        gamma=0.99,
        tau=0.001,
        weight_decay=0.01,
        batch_size=64,
        buffer_size=100_000,
        warmup_steps=1000,
        expl_noise=0.1,
        noise_decay=0.99,
        min_expl_noise=0.01,
    )
    assert {k: getattr(cfg, k) for k in seed_000} == seed_000
    assert cfg.critic_arch == "embed"
    assert not cfg.twin_critics and cfg.policy_delay == 1 and cfg.target_noise == 0


def test_hashable_and_frozen():
    assert hash(Config()) == hash(Config())
    assert Config(tau=0.005) != Config()
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().tau = 0.5


def test_every_field_documented():
    assert set(field_docs()) == set(field_names())


BAD_VALUES = [
    ("hidden_dim", 0, ">= 1"),
    ("hidden_dim", 2.5, "an integer"),
    ("actor_lr", 0.0, "(0, 1)"),
    ("critic_lr", 2.0, "(0, 1)"),
    ("gamma", 1.0, "[0, 1)"),
    ("tau", 0.0, "(0, 1]"),
    ("weight_decay", -0.1, ">= 0"),
    ("batch_size", 0, ">= 1"),
    ("buffer_size", 10, ">= batch_size"),
    ("warmup_steps", -1, ">= 0"),
    ("expl_noise", -0.1, ">= 0"),
    ("noise_decay", 0.0, "(0, 1]"),
    ("min_expl_noise", 0.5, "[0, expl_noise"),
    ("noise_type", "pink", "'gaussian', 'ou'"),
    ("noise_decay_mode", "always", "'none', 'step', 'episode'"),
    ("critic_arch", "resnet", "'embed', 'concat'"),
    ("normalize_obs", "yes", "true or false"),
    ("ou_theta", -1.0, ">= 0"),
    ("ou_sigma", -1.0, ">= 0"),
    ("ou_dt", 0.0, "> 0"),
    ("twin_critics", 1, "true or false"),
    ("policy_delay", 0, ">= 1"),
    ("target_noise", -0.2, ">= 0"),
    ("target_noise_clip", -0.5, ">= 0"),
    ("num_envs", 0, ">= 1"),
    ("num_seeds", 0, ">= 1"),
    ("total_steps", 0, ">= 1"),
    ("updates_per_step", 0, ">= 1"),
    ("actor_lr", float("nan"), "finite"),
    ("actor_hidden_dim", -1, ">= 0"),
    ("critic_hidden_dim", -8, ">= 0"),
    ("actor_layers", 0, ">= 1"),
    ("critic_layers", 1, ">= 2 with critic_arch='embed'"),
    ("actor_layer_norm", "no", "true or false"),
    ("critic_layer_norm", 0, "true or false"),
    ("distributional", 1, "true or false"),
    ("num_atoms", 1, ">= 2"),
    ("v_min", 20.0, "v_min must be < v_max"),
    ("v_max", -10.0, "v_min must be < v_max"),
    ("n_step", 0, ">= 1"),
    ("per_env_noise", "on", "true or false"),
    ("noise_std_min", -0.1, ">= 0"),
    ("noise_std_max", 0.0001, ">= noise_std_min"),
    ("max_grad_norm", -1.0, ">= 0"),
    ("lr_decay_to", 1.5, "in [0, 1]"),
    ("micro_batch", 48, "divides batch_size (64)"),
]


@pytest.mark.parametrize("field,value,allowed", BAD_VALUES)
def test_invalid_field_message_names_field_value_and_rule(field, value, allowed):
    with pytest.raises(ConfigError) as err:
        Config(**{field: value})
    message = str(err.value)
    assert f"{field}={value!r}" in message
    assert allowed in message
    assert "\n" not in message


def test_every_field_has_a_validation_case():
    assert {f for f, _, _ in BAD_VALUES} == set(field_names())


def test_stabilisers_are_off_by_default():
    cfg = Config()
    assert cfg.actor_width == cfg.critic_width == cfg.hidden_dim
    assert (cfg.actor_layers, cfg.critic_layers, cfg.n_step) == (2, 2, 1)
    assert not (cfg.actor_layer_norm or cfg.critic_layer_norm or cfg.distributional)
    assert not cfg.per_env_noise and cfg.max_grad_norm == 0 and cfg.lr_decay_to == 1.0
    assert Config(critic_arch="concat", critic_layers=1).critic_layers == 1


def test_buffer_must_hold_one_step_of_all_envs():
    with pytest.raises(ConfigError, match="num_envs"):
        Config(buffer_size=100, batch_size=64, num_envs=128)


def test_replace_and_from_dict_reject_unknown_fields():
    assert Config().replace(tau=0.01).tau == 0.01
    assert Config.from_dict({"batch_size": 256}).batch_size == 256
    with pytest.raises(ConfigError, match="unknown config field.*learning_rate.*valid fields"):
        Config.from_dict({"learning_rate": 1e-3})
