"""Typed, frozen, validated hyperparameters of a ddpg-jax run.

Field names and defaults are those of the reference study's DDPG (docs/reference_study.md;
`configs/seed000.yaml` spells them out). `Config` is
hashable so it can be a static argument of jitted functions: changing any field means a new
compilation, which is what we want for shapes (sizes, batch) and branch choices (noise type).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Literal

NoiseType = Literal["gaussian", "ou"]
NoiseDecayMode = Literal["none", "step", "episode"]
CriticArch = Literal["embed", "concat"]


class ConfigError(ValueError):
    """A config field has a value outside what is allowed; the message names field and value."""


@dataclasses.dataclass(frozen=True)
class Config:
    """DDPG hyperparameters. Every field is checked in `__post_init__`."""

    # --- networks and optimisation (the reference study's model) ---
    hidden_dim: int = 256
    """Width of both hidden layers of actor and critic."""
    actor_lr: float = 1e-4
    """Adam learning rate of the actor."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critic."""
    gamma: float = 0.99
    """Discount factor."""
    tau: float = 0.001
    """Soft target update rate: target <- tau * online + (1 - tau) * target."""
    weight_decay: float = 0.01
    """L2 penalty on the critic's weights, coupled with Adam as in torch.optim.Adam."""
    batch_size: int = 64
    """Transitions per gradient update."""
    buffer_size: int = 100_000
    """Replay capacity per seed, in transitions."""
    warmup_steps: int = 1000
    """Env steps per seed (summed over its envs) of uniformly random actions; learning starts
    after them."""
    critic_arch: CriticArch = "embed"
    """'embed': state embedded in layer 1, action joins at layer 2 (the reference study's
    critic); 'concat': (s, a) concatenated at the input."""
    normalize_obs: bool = False
    """Normalise observations by their running mean and variance (updated with every
    observation the agent acts on)."""

    # --- exploration ---
    noise_type: NoiseType = "gaussian"
    """'gaussian': N(0, scale); 'ou': Ornstein-Uhlenbeck process, one state per env."""
    expl_noise: float = 0.1
    """Initial noise scale, as a fraction of the action half-range."""
    noise_decay: float = 0.99
    """Multiplicative decay of the noise scale, applied per `noise_decay_mode` unit."""
    min_expl_noise: float = 0.01
    """Floor of the decayed noise scale."""
    noise_decay_mode: NoiseDecayMode = "episode"
    """When the scale decays: 'none', every env 'step', or at the end of each env's 'episode'."""
    ou_theta: float = 0.15
    """OU mean-reversion rate."""
    ou_sigma: float = 0.2
    """OU volatility."""
    ou_dt: float = 1.0
    """OU time step (the reference study uses 1)."""

    # --- TD3 switches (off = plain DDPG) ---
    twin_critics: bool = False
    """Two critics, bootstrapping from the smaller target Q (TD3)."""
    policy_delay: int = 1
    """Actor and target updates happen every `policy_delay` critic updates (TD3 uses 2)."""
    target_noise: float = 0.0
    """Std of the target-policy smoothing noise, fraction of the action half-range (TD3: 0.2)."""
    target_noise_clip: float = 0.5
    """Clip of the target-policy smoothing noise, fraction of the action half-range."""

    # --- stabilisers for many envs and large batches (all off: plain DDPG) ---
    actor_hidden_dim: int = 0
    """Width of the actor's hidden layers; 0 uses hidden_dim."""
    critic_hidden_dim: int = 0
    """Width of the critic's hidden layers; 0 uses hidden_dim."""
    actor_layers: int = 2
    """Hidden layers of the actor."""
    critic_layers: int = 2
    """Hidden layers of the critic (the 'embed' critic needs 2 or more: the action joins at
    the second)."""
    actor_layer_norm: bool = False
    """Layer normalisation after each hidden layer of the actor (before the ReLU)."""
    critic_layer_norm: bool = False
    """Layer normalisation after each hidden layer of the critic (before the ReLU)."""
    distributional: bool = False
    """Categorical (C51) critic: a distribution over num_atoms returns on [v_min, v_max],
    trained by cross-entropy against the projected target distribution."""
    num_atoms: int = 101
    """Atoms of the categorical critic's support."""
    v_min: float = -10.0
    """Lowest return of the categorical critic's support."""
    v_max: float = 10.0
    """Highest return of the categorical critic's support."""
    n_step: int = 1
    """Rewards summed before bootstrapping (n-step returns); a return stops at the end of its
    episode (termination: no bootstrap; time limit: bootstrap from the final observation)."""
    per_env_noise: bool = False
    """Each env draws its own exploration noise scale from [noise_std_min, noise_std_max],
    again whenever its episode ends (replaces expl_noise as the starting scale)."""
    noise_std_min: float = 0.001
    """Smallest per-env noise scale (with per_env_noise)."""
    noise_std_max: float = 0.4
    """Largest per-env noise scale (with per_env_noise)."""
    max_grad_norm: float = 0.0
    """Clip actor and critic gradients to this global norm; 0 turns clipping off."""
    lr_decay_to: float = 1.0
    """Both learning rates fall linearly over the run's updates (those of `total_steps` after
    warm-up), from actor_lr and critic_lr to this fraction of them; 1.0 keeps them constant."""
    micro_batch: int = 0
    """Compute each update's gradients over slices of this many rows and average them (the
    same gradients; on a CPU the slices' activations stay in cache, which pays for large
    batches: BENCHMARKS.md). 0: the whole batch at once."""

    # --- scale of the run ---
    num_envs: int = 1
    """Parallel environments per seed."""
    num_seeds: int = 1
    """Independent seeds trained in one process (a vmapped leading axis)."""
    total_steps: int = 1_000_000
    """Env steps per seed (summed over its envs)."""
    updates_per_step: int = 1
    """Gradient updates after each vectorised step (one step of all `num_envs` envs)."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            _check_type(field.name, getattr(self, field.name), hints[field.name])
        _check(self, "hidden_dim", self.hidden_dim >= 1, "an integer >= 1")
        for name in ("actor_lr", "critic_lr"):
            _check(self, name, 0 < getattr(self, name) < 1, "a float in (0, 1)")
        _check(self, "gamma", 0 <= self.gamma < 1, "a float in [0, 1)")
        _check(self, "tau", 0 < self.tau <= 1, "a float in (0, 1]")
        _check(self, "weight_decay", self.weight_decay >= 0, "a float >= 0")
        _check(self, "batch_size", self.batch_size >= 1, "an integer >= 1")
        _check(
            self,
            "buffer_size",
            self.buffer_size >= self.batch_size,
            f"an integer >= batch_size ({self.batch_size})",
        )
        _check(
            self,
            "buffer_size",
            self.buffer_size >= self.num_envs,
            f"an integer >= num_envs ({self.num_envs}), since one step adds num_envs rows",
        )
        _check(self, "warmup_steps", self.warmup_steps >= 0, "an integer >= 0")
        _check(self, "expl_noise", self.expl_noise >= 0, "a float >= 0")
        _check(self, "noise_decay", 0 < self.noise_decay <= 1, "a float in (0, 1]")
        _check(
            self,
            "min_expl_noise",
            0 <= self.min_expl_noise <= max(self.expl_noise, 0),
            f"a float in [0, expl_noise={self.expl_noise}]",
        )
        _check(self, "ou_theta", self.ou_theta >= 0, "a float >= 0")
        _check(self, "ou_sigma", self.ou_sigma >= 0, "a float >= 0")
        _check(self, "ou_dt", self.ou_dt > 0, "a float > 0")
        _check(self, "policy_delay", self.policy_delay >= 1, "an integer >= 1")
        _check(self, "target_noise", self.target_noise >= 0, "a float >= 0")
        _check(self, "target_noise_clip", self.target_noise_clip >= 0, "a float >= 0")
        for name in ("actor_hidden_dim", "critic_hidden_dim"):
            _check(self, name, getattr(self, name) >= 0, "an integer >= 0 (0: hidden_dim)")
        _check(self, "actor_layers", self.actor_layers >= 1, "an integer >= 1")
        min_critic = 2 if self.critic_arch == "embed" else 1
        _check(
            self,
            "critic_layers",
            self.critic_layers >= min_critic,
            f"an integer >= {min_critic} with critic_arch={self.critic_arch!r}",
        )
        _check(self, "num_atoms", self.num_atoms >= 2, "an integer >= 2")
        if not self.v_min < self.v_max:
            raise ConfigError(
                f"config fields v_min={self.v_min!r} and v_max={self.v_max!r} are invalid: "
                "v_min must be < v_max"
            )
        _check(self, "n_step", self.n_step >= 1, "an integer >= 1")
        _check(self, "noise_std_min", self.noise_std_min >= 0, "a float >= 0")
        _check(
            self,
            "noise_std_max",
            self.noise_std_max >= self.noise_std_min,
            f"a float >= noise_std_min ({self.noise_std_min})",
        )
        _check(self, "max_grad_norm", self.max_grad_norm >= 0, "a float >= 0 (0: off)")
        _check(self, "lr_decay_to", 0 <= self.lr_decay_to <= 1, "a float in [0, 1] (1: off)")
        _check(
            self,
            "micro_batch",
            self.micro_batch == 0
            or (
                self.micro_batch > 0
                and self.batch_size % min(self.micro_batch, self.batch_size) == 0
            ),
            f"0 or an integer that divides batch_size ({self.batch_size})",
        )
        _check(self, "num_envs", self.num_envs >= 1, "an integer >= 1")
        _check(self, "num_seeds", self.num_seeds >= 1, "an integer >= 1")
        _check(self, "total_steps", self.total_steps >= 1, "an integer >= 1")
        _check(self, "updates_per_step", self.updates_per_step >= 1, "an integer >= 1")

    @property
    def actor_width(self) -> int:
        return self.actor_hidden_dim or self.hidden_dim

    @property
    def critic_width(self) -> int:
        return self.critic_hidden_dim or self.hidden_dim

    def replace(self, **changes: Any) -> Config:
        """A copy with `changes` applied (and validated)."""
        unknown = sorted(set(changes) - set(field_names()))
        if unknown:
            raise ConfigError(
                f"unknown config field(s) {', '.join(unknown)}; valid fields: "
                f"{', '.join(field_names())}"
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Config:
        """Build from a mapping (e.g. a YAML preset); unknown keys are an error."""
        return cls().replace(**values)


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(Config))


def field_docs(cls: type = Config) -> dict[str, str]:
    """Each dataclass field's docstring (the string literal after it in the class body)."""
    import ast
    import inspect

    body = ast.parse(inspect.getsource(cls)).body[0].body
    docs: dict[str, str] = {}
    for stmt, nxt in zip(body, body[1:], strict=False):
        if isinstance(stmt, ast.AnnAssign) and isinstance(nxt, ast.Expr):
            if isinstance(nxt.value, ast.Constant) and isinstance(nxt.value.value, str):
                docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def _check(cfg: Config, name: str, ok: bool, allowed: str) -> None:
    if not ok:
        value = getattr(cfg, name)
        raise ConfigError(f"config field {name}={value!r} is invalid: must be {allowed}")


def _check_type(name: str, value: Any, hint: Any) -> None:
    allowed = type_mismatch(value, hint)
    if allowed is not None:
        raise ConfigError(f"config field {name}={value!r} is invalid: must be {allowed}")


def type_mismatch(value: Any, hint: Any, finite: bool = True) -> str | None:
    """What `value` must be when it is not of type `hint` (bool, int, float, or a `Literal`'s
    choices), else None. An int is a float; a bool is neither; `finite` refuses inf and NaN."""
    if typing.get_origin(hint) is Literal:
        choices = typing.get_args(hint)
        return None if value in choices else f"one of {', '.join(repr(c) for c in choices)}"
    if hint is bool:
        return None if isinstance(value, bool) else "true or false"
    if isinstance(value, bool):
        ok = False
    elif hint is int:
        ok = isinstance(value, int)
    elif hint is float:
        ok = isinstance(value, (int, float)) and (not finite or math.isfinite(value))
    else:  # pragma: no cover - every field has one of the hints above
        raise TypeError(f"unsupported type hint {hint}")
    if ok:
        return None
    return {int: "an integer", float: "a finite number" if finite else "a number"}[hint]
