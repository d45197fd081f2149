"""Task registry: canonical name -> env class (imported lazily), and `make`."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from .base import Env

# canonical name -> (module, class name, Gymnasium id). The single source of truth for tasks.
_REGISTRY: dict[str, tuple[str, str, str]] = {
    "ant": (".ant", "Ant", "Ant-v5"),
    "halfcheetah": (".half_cheetah", "HalfCheetah", "HalfCheetah-v5"),
    "hopper": (".hopper", "Hopper", "Hopper-v5"),
    "inverted_double_pendulum": (
        ".inverted_double_pendulum",
        "InvertedDoublePendulum",
        "InvertedDoublePendulum-v5",
    ),
    "inverted_pendulum": (".inverted_pendulum", "InvertedPendulum", "InvertedPendulum-v5"),
    "walker2d": (".walker2d", "Walker2d", "Walker2d-v5"),
}

TASKS: tuple[str, ...] = tuple(_REGISTRY)
GYM_IDS: dict[str, str] = {name: entry[2] for name, entry in _REGISTRY.items()}


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


_ALIASES: dict[str, str] = {}
for _name, (_, _, _gym_id) in _REGISTRY.items():
    _ALIASES[_key(_name)] = _name
    _ALIASES[_key(_gym_id)] = _name


def canonical_name(name: str) -> str:
    """Canonical task name for a name or Gymnasium id ("Hopper-v5", "hopper", "half_cheetah").

    Raises:
      ValueError: unknown name; the message lists the valid names and ids.
    """
    canonical = _ALIASES.get(_key(name)) if isinstance(name, str) else None
    if canonical is None:
        valid = ", ".join(f"{n!r} ({GYM_IDS[n]!r})" for n in TASKS)
        raise ValueError(f"Unknown env {name!r}. Valid names (Gymnasium ids): {valid}")
    return canonical


def env_class(name: str) -> type[Env]:
    """The env class for a name or Gymnasium id, imported on first use."""
    canonical = canonical_name(name)
    relative, class_name, gym_id = _REGISTRY[canonical]
    module_name = importlib.util.resolve_name(relative, __package__)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name != module_name:
            raise
        raise ImportError(
            f"Env {canonical!r} ({gym_id}) is registered but its module {module_name} is not"
            " available in this checkout."
        ) from e
    return getattr(module, class_name)


def make(name: str, backend: str = "auto", **kwargs: Any) -> Env:
    """Builds a task. kwargs are the Gymnasium v5 constructor's (same names and defaults),
    and for the MJX backend `impl` ("jax" or "warp") and `physics` (see `envs.physics`).

    `backend` is "auto" by default, as in the CLIs: MJX on a GPU, C MuJoCo otherwise (see
    `envs.resolve_backend`); the task classes themselves default to "mjx"."""
    return env_class(name)(backend=backend, **kwargs)
