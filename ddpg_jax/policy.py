"""A trained policy loaded from a run dir: numpy in, numpy out, no training code paths.

    from ddpg_jax import policy
    pi = policy.load("runs/hopper-20250101-120000", checkpoint="best", seed_index=0)
    action = pi.act(obs)  # [obs_size] -> [action_size], or [batch, obs_size] -> [batch, ...]

Only the policy item of a checkpoint is read (actor params, observation normalizer, action
scale and bias); the network's shape and whether observations are normalised come from the
run's `config.yaml` (its `Config`). Actions are computed by `agent.act`, the one
actor forward pass that training uses too. Every failure is a `PolicyError`, `RunDirError` or
`CheckpointError` with a one-line message; a non-finite observation is a `ValueError`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ddpg_jax import agent
from ddpg_jax import run_dir as run_dir_lib
from ddpg_jax.agent import Policy
from ddpg_jax.checkpoint import CheckpointStore
from ddpg_jax.config import Config

_MAX_LISTED = 5  # non-finite entries named in the error; the count says how many in all


class PolicyError(Exception):
    """The checkpoint does not fit its run (unknown env, seed index, network shapes)."""


@dataclasses.dataclass(frozen=True)
class LoadedPolicy:
    """One seed's policy from one checkpoint.

    Attributes:
      env: canonical task name (e.g. "hopper"); `gym_id` its Gymnasium id ("Hopper-v5").
      step: env step (per seed) of the checkpoint.
      seed_index: which of the run's vmapped seeds this is.
      config: the run's `Config` (network shape, observation normalisation).
      params: the seed's `agent.Policy` (no leading seed axis).
    """

    env: str
    gym_id: str
    step: int
    seed_index: int
    config: Config
    params: Policy

    @property
    def action_size(self) -> int:
        return int(self.params.action_scale.shape[-1])

    @property
    def observation_size(self) -> int:
        return int(self.params.normalizer.mean.shape[-1])

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Deterministic action for `obs` `[obs_size]` or `[batch, obs_size]` (float32 numpy).

        Raises ValueError for a wrong shape or a NaN/inf entry (an action computed from one
        would be NaN or arbitrary, silently)."""
        obs = np.asarray(obs, np.float32)
        if obs.shape[-1:] != (self.observation_size,) or obs.ndim > 2:
            raise ValueError(
                f"obs must be [{self.observation_size}] or [batch, {self.observation_size}], "
                f"got shape {obs.shape}"
            )
        _check_finite(obs)
        return np.asarray(agent.act(self.config, self.params, obs))


def _check_finite(obs: np.ndarray) -> None:
    bad = np.argwhere(~np.isfinite(obs))
    if bad.size == 0:
        return
    listed = ", ".join(
        f"obs[{', '.join(map(str, idx))}]={obs[tuple(idx)]}" for idx in bad[:_MAX_LISTED]
    )
    more = f" and {len(bad) - _MAX_LISTED} more" if len(bad) > _MAX_LISTED else ""
    raise ValueError(
        f"obs has {len(bad)} non-finite entr{'y' if len(bad) == 1 else 'ies'}: {listed}{more}"
    )


@dataclasses.dataclass(frozen=True)
class SeedPolicies:
    """All seeds of one checkpoint; `select(i)` gives seed i's `LoadedPolicy`."""

    env: str
    gym_id: str
    step: int
    config: Config
    params: Policy  # leaves with a leading [num_seeds] axis
    meta: dict[str, Any]
    run: dict[str, Any] = dataclasses.field(default_factory=dict)  # config.yaml's `run:` options

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
            config=self.config,
            params=jax.tree.map(lambda x: x[seed_index], self.params),
        )


def load_seeds(run_dir: str | os.PathLike, checkpoint: int | str = "latest") -> SeedPolicies:
    """Every seed's policy of `checkpoint` ('latest', 'best' or a step) in `run_dir`."""
    from ddpg_jax import envs  # the task registry, for the env name only

    directory = run_dir_lib.open_existing(run_dir)
    cfg, extra = run_dir_lib.load_config(directory)
    # checkpoint.py filters orbax's read-only notices out of the absl log.
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
    _check_shapes(params, cfg, f"the checkpoint at step {step} in {directory}")
    run = extra.get("run")
    return SeedPolicies(
        env=env_name,
        gym_id=envs.GYM_IDS[env_name],
        step=step,
        config=cfg,
        params=params,
        meta=meta,
        run=dict(run) if isinstance(run, dict) else {},
    )


def load(
    run_dir: str | os.PathLike, checkpoint: int | str = "latest", seed_index: int = 0
) -> LoadedPolicy:
    """Seed `seed_index`'s policy of `checkpoint` ('latest', 'best' or a step) in `run_dir`."""
    return load_seeds(run_dir, checkpoint).select(seed_index)


def _check_shapes(params: Policy, cfg: Config, what: str) -> None:
    """The saved actor must have the tree and shapes `agent.make_actor(cfg)` builds (after the
    leading seed axis), else config.yaml was edited or belongs to another run."""
    seeds = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(params)}
    if len(seeds) != 1 or None in seeds:
        raise PolicyError(f"{what} has no leading seed axis shared by all arrays")
    obs_size = int(params.normalizer.mean.shape[-1])
    action_size = int(params.action_scale.shape[-1])
    actor = agent.make_actor(cfg, action_size)
    expected = jax.eval_shape(actor.init, jax.random.key(0), jnp.zeros((1, obs_size)))
    saved = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x)[1:], x.dtype), params)
    want = {jax.tree_util.keystr(k): v.shape for k, v in _leaves(expected)}
    have = {jax.tree_util.keystr(k): v.shape for k, v in _leaves(saved.actor_params)}
    if want == have:
        return
    diffs = [
        f"{k}: saved {have.get(k, 'missing')}, config {want.get(k, 'missing')}"
        for k in sorted(set(want) | set(have))
        if want.get(k) != have.get(k)
    ]
    raise PolicyError(
        f"{what} has an actor that config.yaml does not describe ({len(diffs)} difference(s), "
        f"first {diffs[0]}); restore the run's config.yaml"
    )


def _leaves(tree: Any) -> list[tuple[Any, Any]]:
    return jax.tree_util.tree_flatten_with_path(tree)[0]
