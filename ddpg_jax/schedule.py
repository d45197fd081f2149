"""When a run logs, evaluates, checkpoints and stops, in env steps per seed.

A run is a grid of chunks of `chunk_iterations` vectorised steps (one jitted call each, one
log row each). The grid is fixed when the run starts and saved in config.yaml (the resolved
`log_every`, `eval_every`, `checkpoint_every`), so a resume, even with a larger total, keeps
logging, evaluating and checkpointing on it. The run stops exactly at `total_steps` rounded up
to a whole vectorised step (a shorter last chunk if needed).
"""

from __future__ import annotations

import dataclasses
import math

from ddpg_jax.config import Config


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Chunk size and intervals, in env steps per seed (the intervals are multiples of a
    chunk), and the last iteration."""

    num_envs: int
    chunk_iterations: int
    eval_every: int
    checkpoint_every: int
    total_iterations: int

    @property
    def chunk_env_steps(self) -> int:
        return self.chunk_iterations * self.num_envs

    @property
    def total_env_steps(self) -> int:
        return self.total_iterations * self.num_envs

    def chunk_length(self, iteration: int) -> int:
        """Iterations of the chunk that starts at `iteration` (the last one may be shorter)."""
        return min(self.chunk_iterations, self.total_iterations - iteration)

    def evaluates_at(self, env_step: int) -> bool:
        return env_step % self.eval_every == 0 or env_step >= self.total_env_steps

    def checkpoints_at(self, env_step: int) -> bool:
        return env_step % self.checkpoint_every == 0 or env_step >= self.total_env_steps


def run_iterations(cfg: Config) -> int:
    """Vectorised steps of a run of `total_steps` (the last one may pass it)."""
    return math.ceil(cfg.total_steps / cfg.num_envs)


def warmup_iterations(cfg: Config) -> int:
    """Vectorised steps of uniform random actions: `warmup_steps`, and at least enough to store
    one batch (with n-step returns a step is stored n - 1 steps later)."""
    one_batch = math.ceil(cfg.batch_size / cfg.num_envs) + cfg.n_step - 1
    return max(math.ceil(cfg.warmup_steps / cfg.num_envs), one_batch)


def learning_updates(cfg: Config) -> int:
    """Critic updates in a run of `total_steps`: `updates_per_step` per vectorised step after
    the warm-up (at least 1)."""
    iterations = run_iterations(cfg) - warmup_iterations(cfg)
    return max(1, iterations * cfg.updates_per_step)


def resolve_intervals(total_steps: int, log_every: int, eval_every: int, checkpoint_every: int):
    """The intervals a run fixes at its start: 0 picks ~1/50 of the run per log row, ~1/10 per
    evaluation, a checkpoint with each evaluation."""
    log_every = log_every or max(1, total_steps // 50)
    eval_every = eval_every or max(1, total_steps // 10)
    return log_every, eval_every, checkpoint_every or eval_every


def make_schedule(cfg: Config, log_every: int, eval_every: int, checkpoint_every: int) -> Schedule:
    """The grid for `cfg.total_steps` with the given (resolved, nonzero) intervals."""
    if min(log_every, eval_every, checkpoint_every) < 1:
        raise ValueError("intervals must be resolved (>= 1) before making a schedule")
    chunk_iterations = max(1, round(log_every / cfg.num_envs))
    chunk = chunk_iterations * cfg.num_envs

    def in_chunks(every: int) -> int:
        return max(1, round(every / chunk)) * chunk

    return Schedule(
        num_envs=cfg.num_envs,
        chunk_iterations=chunk_iterations,
        eval_every=in_chunks(eval_every),
        checkpoint_every=in_chunks(checkpoint_every),
        total_iterations=run_iterations(cfg),
    )
