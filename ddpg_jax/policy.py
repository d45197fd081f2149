"""A trained policy loaded from a run dir: numpy in, numpy out, no training code paths.

    from ddpg_jax import policy
    pi = policy.load("runs/hopper-20250101-120000", checkpoint="best", seed_index=0)
    action = pi.act(obs)  # [obs_size] -> [action_size], or [batch, obs_size] -> [batch, ...]

Only the policy item of a checkpoint is read (actor params, observation normalizer, action
scale and bias); the network width and whether observations are normalised come from the run's
`config.yaml`. The action is computed exactly as `agent.act` does:
`tanh(Actor(normalize(obs))) * action_scale + action_bias`. Every failure is a `PolicyError`,
`RunDirError` or `CheckpointError` with a one-line message.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ddpg_jax import normalizer as norm
from ddpg_jax import run_dir as run_dir_lib
from ddpg_jax.checkpoint import CheckpointStore, Policy
from ddpg_jax.networks import Actor


class PolicyError(Exception):
    """The checkpoint does not fit its run (unknown env, seed index, network shapes)."""


def action(params: Policy, obs: jax.Array, *, hidden_dim: int, normalize_obs: bool) -> jax.Array:
    """Pure, jittable deterministic action of one seed's `params` (no leading seed axis).

    `obs` is raw, `[..., obs_size]`; the result is `[..., action_size]` within the bounds."""
    obs = obs.astype(jnp.float32)
    if normalize_obs:
        obs = norm.normalize(params.normalizer, obs)
    actor = Actor(hidden_dim=hidden_dim, action_size=params.action_scale.shape[-1])
    return actor.apply(params.actor_params, obs) * params.action_scale + params.action_bias


@functools.partial(jax.jit, static_argnames=("hidden_dim", "normalize_obs"))
def _jit_action(params: Policy, obs: jax.Array, hidden_dim: int, normalize_obs: bool):
    return action(params, obs, hidden_dim=hidden_dim, normalize_obs=normalize_obs)


@dataclasses.dataclass(frozen=True)
class LoadedPolicy:
    """One seed's policy from one checkpoint.

    Attributes:
      env: canonical task name (e.g. "hopper"); `gym_id` its Gymnasium id ("Hopper-v5").
      step: env step (per seed) of the checkpoint.
      seed_index: which of the run's vmapped seeds this is.
      hidden_dim, normalize_obs: from the run's config.
      params: the seed's `checkpoint.Policy` (no leading seed axis).
    """

    env: str
    gym_id: str
    step: int
    seed_index: int
    hidden_dim: int
    normalize_obs: bool
    params: Policy

    @property
    def action_size(self) -> int:
        return int(self.params.action_scale.shape[-1])

    @property
    def observation_size(self) -> int:
        return int(self.params.normalizer.mean.shape[-1])

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action for `obs` `[obs_size]` or `[batch, obs_size]` (float32 numpy)."""
        obs = np.asarray(obs, np.float32)
        if obs.shape[-1:] != (self.observation_size,) or obs.ndim > 2:
            raise ValueError(
                f"obs must be [{self.observation_size}] or [batch, {self.observation_size}], "
                f"got shape {obs.shape}"
            )
        out = _jit_action(self.params, obs, self.hidden_dim, self.normalize_obs)
        return np.asarray(out)

    def jax_action(self, params: Policy, obs: jax.Array) -> jax.Array:
        """`action` with this policy's static settings (for use inside jit, e.g. MJX)."""
        return action(params, obs, hidden_dim=self.hidden_dim, normalize_obs=self.normalize_obs)


@dataclasses.dataclass(frozen=True)
class SeedPolicies:
    """All seeds of one checkpoint; `select(i)` gives seed i's `LoadedPolicy`."""

    env: str
    gym_id: str
    step: int
    hidden_dim: int
    normalize_obs: bool
    params: Policy  # leaves with a leading [num_seeds] axis
    meta: dict[str, Any]

    @property
    def num_seeds(self) -> int:
        return int(self.params.action_scale.shape[0])

    def select(self, seed_index: int) -> LoadedPolicy:
        if not 0 <= seed_index < self.num_seeds:
            raise PolicyError(
                f"seed index {seed_index} is out of range: the checkpoint at step {self.step} "
                f"has {self.num_seeds} seed(s), 0..{self.num_seeds - 1}"
            )
        return LoadedPolicy(
            env=self.env,
            gym_id=self.gym_id,
            step=self.step,
            seed_index=seed_index,
            hidden_dim=self.hidden_dim,
            normalize_obs=self.normalize_obs,
            params=jax.tree.map(lambda x: x[seed_index], self.params),
        )


def load_seeds(run_dir: str | os.PathLike, checkpoint: int | str = "latest") -> SeedPolicies:
    """Every seed's policy of `checkpoint` ('latest', 'best' or a step) in `run_dir`."""
    import envs  # the task registry, for the env name only

    directory = run_dir_lib.open_existing(run_dir)
    cfg, extra = run_dir_lib.load_config(directory)
    store = CheckpointStore(directory, read_only=True, async_save=False)
    try:
        step = store.resolve(checkpoint)
        params, meta = store.restore_policy(step)
    finally:
        store.close()
    env_name = meta.get("env") or extra.get("env")
    try:
        env_name = envs.canonical_name(str(env_name))
    except ValueError:
        raise PolicyError(
            f"the checkpoint at step {step} in {directory} is for env {env_name!r}, which this "
            f"version does not know; known: {', '.join(envs.TASKS)}"
        ) from None
    _check_shapes(params, cfg.hidden_dim, directory, step)
    return SeedPolicies(
        env=env_name,
        gym_id=envs.GYM_IDS[env_name],
        step=step,
        hidden_dim=cfg.hidden_dim,
        normalize_obs=cfg.normalize_obs,
        params=params,
        meta=meta,
    )


def load(
    run_dir: str | os.PathLike, checkpoint: int | str = "latest", seed_index: int = 0
) -> LoadedPolicy:
    """Seed `seed_index`'s policy of `checkpoint` ('latest', 'best' or a step) in `run_dir`."""
    return load_seeds(run_dir, checkpoint).select(seed_index)


def _check_shapes(params: Policy, hidden_dim: int, directory: Any, step: int) -> None:
    """The actor's layers must have the config's width (else the config was edited)."""
    try:
        layers = params.actor_params["params"]
        widths = [layers[name]["kernel"].shape[-1] for name in ("hidden_0", "hidden_1")]
        seeds = {x.shape[0] for x in jax.tree.leaves(params)}
    except (KeyError, TypeError, IndexError) as e:
        raise PolicyError(
            f"the checkpoint at step {step} in {directory} has no DDPG actor ({e!r} missing)"
        ) from None
    if widths != [hidden_dim, hidden_dim] or len(seeds) != 1:
        raise PolicyError(
            f"the checkpoint at step {step} in {directory} has actor widths {widths} but "
            f"config.yaml says hidden_dim={hidden_dim}; restore the run's config.yaml"
        )
