"""Actor and critic MLPs (flax.linen), sized from the config."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

# Matmuls run at full float32 precision: TF32 on GPUs destabilised training in MuJoCo Playground.
_PRECISION = jax.lax.Precision.HIGHEST


def _dense(features: int, name: str) -> nn.Dense:
    return nn.Dense(features, precision=_PRECISION, name=name)


def _hidden(x: jax.Array, features: int, index: int, layer_norm: bool) -> jax.Array:
    """Dense, optional layer norm (SimBa/BRO keep large critics stable with it), ReLU."""
    x = _dense(features, f"hidden_{index}")(x)
    if layer_norm:
        x = nn.LayerNorm(name=f"norm_{index}")(x)
    return nn.relu(x)


class Actor(nn.Module):
    """mu(s): ReLU hidden layers, tanh output in [-1, 1] (scaled to the bounds by the agent)."""

    hidden_dim: int
    action_size: int
    num_layers: int = 2
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array) -> jax.Array:
        x = obs
        for i in range(self.num_layers):
            x = _hidden(x, self.hidden_dim, i, self.layer_norm)
        return jnp.tanh(_dense(self.action_size, "out")(x))


class Critic(nn.Module):
    """Q(s, a). `arch="embed"` embeds the state before the action joins at the second layer
    (the reference study's critic); `arch="concat"` feeds (s, a) to the first layer.

    With `num_outputs == 1` it returns Q `[...]`; with more it returns that many logits
    `[..., num_outputs]` (a categorical critic's distribution over its atoms)."""

    hidden_dim: int
    arch: str = "embed"
    num_layers: int = 2
    layer_norm: bool = False
    num_outputs: int = 1

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> jax.Array:
        if self.arch == "embed":
            x = _hidden(obs, self.hidden_dim, 0, self.layer_norm)
            x = jnp.concatenate([x, action], axis=-1)
        elif self.arch == "concat":
            x = _hidden(jnp.concatenate([obs, action], -1), self.hidden_dim, 0, self.layer_norm)
        else:
            raise ValueError(f"unknown critic arch {self.arch!r}; expected 'embed' or 'concat'")
        for i in range(1, self.num_layers):
            x = _hidden(x, self.hidden_dim, i, self.layer_norm)
        out = _dense(self.num_outputs, "out")(x)
        return out[..., 0] if self.num_outputs == 1 else out
