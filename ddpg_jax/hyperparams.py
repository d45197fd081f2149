"""Traced hyperparameters: the `Config` fields a sweep may vmap, as a pytree beside the cfg.

`Config` is static (hashable, a jit argument); changing it recompiles. A sweep instead carries
the values it varies as traced leaves of a `Hyperparams` (after rejax's static/traced split),
stored in `agent.TrainState.hp`, so variants share one compiled program and stack on the
vmapped seed axis. A field left `None` is not traced: the code reads the static `cfg` value
and compiles exactly as before, so the default path (no field traced) gives the same numbers.
Which fields are traced is part of the pytree's structure, hence of the compiled program.

Floats are float32 scalars; `normalize_obs` a bool; `noise_type` and `noise_decay_mode` an
int32 index into their choices (`CHOICES`). A traced switch computes both branches and
selects with `jnp.where` (`where` below).
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from ddpg_jax.config import Config

TRACEABLE = (
    "actor_lr",
    "critic_lr",
    "tau",
    "gamma",
    "weight_decay",
    "expl_noise",
    "min_expl_noise",
    "noise_decay",
    "ou_theta",
    "ou_sigma",
    "target_noise",
    "noise_type",
    "normalize_obs",
    "noise_decay_mode",
)
"""Config fields that can be traced (and so vmapped); all others shape or branch statically."""

_HINTS = typing.get_type_hints(Config)
CHOICES: dict[str, tuple[str, ...]] = {
    name: typing.get_args(_HINTS[name]) for name in ("noise_type", "noise_decay_mode")
}
"""The choices of the traced switches; a traced switch holds the index of its choice."""


@struct.dataclass
class Hyperparams:
    """Traced values of `Config` fields; `None` means "not traced, use the static cfg"."""

    actor_lr: Any = None
    critic_lr: Any = None
    tau: Any = None
    gamma: Any = None
    weight_decay: Any = None
    expl_noise: Any = None
    min_expl_noise: Any = None
    noise_decay: Any = None
    ou_theta: Any = None
    ou_sigma: Any = None
    target_noise: Any = None
    noise_type: Any = None  # int32 index into CHOICES["noise_type"]
    normalize_obs: Any = None  # bool
    noise_decay_mode: Any = None  # int32 index into CHOICES["noise_decay_mode"]

    @property
    def traced(self) -> tuple[str, ...]:
        """Names of the traced fields."""
        return tuple(name for name in TRACEABLE if getattr(self, name) is not None)


def hyperparams(cfg: Config, fields: Iterable[str] = TRACEABLE) -> Hyperparams:
    """`cfg`'s values of `fields` (default: every traceable field) as traced scalars."""
    fields = tuple(fields)
    unknown = sorted(set(fields) - set(TRACEABLE))
    if unknown:
        raise ValueError(
            f"field(s) {', '.join(unknown)} cannot be traced; traceable fields: "
            f"{', '.join(TRACEABLE)}"
        )
    return Hyperparams(**{name: encode(name, getattr(cfg, name)) for name in fields})


def encode(name: str, value: Any) -> jax.Array:
    """A Config value as its traced leaf (float32, bool, or the int32 index of a choice)."""
    if name in CHOICES:
        return jnp.asarray(CHOICES[name].index(value), jnp.int32)
    if name == "normalize_obs":
        return jnp.asarray(value, jnp.bool_)
    return jnp.asarray(value, jnp.float32)


def stack(hps: list[Hyperparams]) -> Hyperparams:
    """Stack same-structured `Hyperparams` on a new leading axis (one row per variant)."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *hps)


def value(cfg: Config, hp: Hyperparams | None, name: str) -> Any:
    """The traced value of `name` if `hp` traces it, else the static `cfg` value."""
    traced = None if hp is None else getattr(hp, name)
    return getattr(cfg, name) if traced is None else traced


def is_choice(cfg: Config, hp: Hyperparams | None, name: str, choice: str) -> Any:
    """Whether switch `name` is `choice`: a Python bool if static, a traced bool if traced."""
    traced = None if hp is None else getattr(hp, name)
    if traced is None:
        return getattr(cfg, name) == choice
    return traced == CHOICES[name].index(choice)


def where(pred: Any, on_true: Callable[[], Any], on_false: Callable[[], Any]) -> Any:
    """`on_true()` or `on_false()`: only one is called if `pred` is a Python bool (static);
    both, selected leaf by leaf with `jnp.where`, if it is traced."""
    if isinstance(pred, bool):
        return on_true() if pred else on_false()
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true(), on_false())
