"""ddpg-jax: DDPG as pure-functional JAX over MJX-vectorised environments."""

from ddpg_jax import agent, noise, normalizer, replay
from ddpg_jax.config import Config, ConfigError

__all__ = ["Config", "ConfigError", "agent", "noise", "normalizer", "replay"]
