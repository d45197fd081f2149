"""Actor and critic MLPs (flax.linen), sized from the config."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# Matmuls run at full float32 precision: TF32 on GPUs destabilised training in MuJoCo Playground.
_PRECISION = jax.lax.Precision.HIGHEST


def _dense(features: int, name: str) -> nn.Dense:
    return nn.Dense(features, precision=_PRECISION, name=name)


class Actor(nn.Module):
    """mu(s): two ReLU hidden layers, tanh output in [-1, 1] (scaled to the bounds by the agent)."""

    hidden_dim: int
    action_size: int

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = nn.relu(_dense(self.hidden_dim, "hidden_0")(obs))
        x = nn.relu(_dense(self.hidden_dim, "hidden_1")(x))
        return jnp.tanh(_dense(self.action_size, "out")(x))


class Critic(nn.Module):
    """Q(s, a). `arch="embed"` embeds the state before the action joins at the second layer
    (seed 000); `arch="concat"` feeds (s, a) to the first layer (seed 001)."""

    hidden_dim: int
    arch: str = "embed"

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        if self.arch == "embed":
            x = nn.relu(_dense(self.hidden_dim, "hidden_0")(obs))
            x = jnp.concatenate([x, action], axis=-1)
        elif self.arch == "concat":
            x = nn.relu(_dense(self.hidden_dim, "hidden_0")(jnp.concatenate([obs, action], -1)))
        else:
            raise ValueError(f"unknown critic arch {self.arch!r}; expected 'embed' or 'concat'")
        x = nn.relu(_dense(self.hidden_dim, "hidden_1")(x))
        return _dense(1, "out")(x)[..., 0]
