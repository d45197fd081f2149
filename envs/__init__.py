"""Gymnasium v5 MuJoCo tasks in JAX, with pure jittable `reset`/`step` and wrappers.

Usage: `env = envs.make("hopper", backend="auto")`, `state = env.reset(jax.random.key(0))`,
`state = env.step(state, action)`; batched training envs: `envs.wrap_for_training(env)`.
Physics backends: "mjx" (MJX), "mujoco" (C MuJoCo through `jax.pure_callback`, fast on
CPUs), "auto" ("mjx" on a GPU, else "mujoco"; the default of `make`).
Installed as `ddpg_jax.envs`; imports nothing else of `ddpg_jax`, so it can be read and used alone.
"""

from . import _quiet_mjx  # noqa: F401  (first: keeps mjx's import-time prints off stdout)
from .base import BACKENDS, Env, State, resolve_backend
from .c_backend import CData
from .registry import GYM_IDS, TASKS, canonical_name, env_class, make
from .wrappers import (
    AutoResetWrapper,
    EpisodeWrapper,
    VmapWrapper,
    Wrapper,
    wrap_for_training,
)

__all__ = [
    "BACKENDS",
    "GYM_IDS",
    "TASKS",
    "AutoResetWrapper",
    "CData",
    "EpisodeWrapper",
    "Env",
    "State",
    "VmapWrapper",
    "Wrapper",
    "canonical_name",
    "env_class",
    "make",
    "resolve_backend",
    "wrap_for_training",
]
