"""MJX ports of Gymnasium v5 MuJoCo tasks, with pure jittable `reset`/`step` and wrappers.

Usage: `env = envs.make("hopper")`, `state = env.reset(jax.random.key(0))`,
`state = env.step(state, action)`; batched training envs: `envs.wrap_for_training(env)`.
Never imports `ddpg_jax`.
"""

from envs.base import MjxEnv, State
from envs.registry import GYM_IDS, TASKS, canonical_name, env_class, make
from envs.wrappers import (
    AutoResetWrapper,
    EpisodeWrapper,
    VmapWrapper,
    Wrapper,
    wrap_for_training,
)

__all__ = [
    "GYM_IDS",
    "TASKS",
    "AutoResetWrapper",
    "EpisodeWrapper",
    "MjxEnv",
    "State",
    "VmapWrapper",
    "Wrapper",
    "canonical_name",
    "env_class",
    "make",
    "wrap_for_training",
]
