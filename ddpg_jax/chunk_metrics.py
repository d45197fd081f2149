"""A training chunk's metrics as the host reads them: per-seed means from the chunk's sums, and
which seeds have stopped being finite."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Metrics = dict[str, Any]

CRITIC_METRICS = ("critic_loss", "q_mean", "target_q_mean")
UPDATE_METRICS = ("critic_loss", "actor_loss", "q_mean", "target_q_mean")


def summarise(parts: list[Metrics]) -> Metrics:
    """A chunk's metrics (host side) from the sums of its phases: per-seed means of the
    update metrics over the updates done (NaN without any), train episode return and length
    over the episodes that ended (NaN without any), and the latest noise scale."""
    parts = [jax.device_get(p) for p in parts]
    total: dict[str, np.ndarray] = {}
    for part in parts:
        for name, value in part.items():
            if name == "noise_scale":
                total[name] = np.asarray(value)
            else:
                total[name] = total.get(name, 0) + np.asarray(value, np.float64)
    seeds = np.shape(total["episodes"])

    def mean(name: str, count: str) -> np.ndarray:
        counts = total.get(count, np.zeros(seeds))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(counts > 0, total.get(name, 0) / counts, np.nan).astype(np.float32)

    summary = {name: mean(name, "updates") for name in CRITIC_METRICS}
    summary["actor_loss"] = mean("actor_loss", "actor_updates")
    summary["train_episode_return"] = mean("return_sum", "episodes")
    summary["train_episode_length"] = mean("length_sum", "episodes")
    summary["train_episodes"] = total["episodes"].astype(np.float32)
    summary["noise_scale"] = total.get("noise_scale", np.full(seeds, np.nan, np.float32))
    return summary


def non_finite_seeds(carry: Any, metrics: Metrics) -> list[int]:
    """Seed indices whose losses or network parameters are no longer finite."""
    ts = carry.train_state
    leaves = jax.tree.leaves((ts.actor_params, ts.critic_params))
    finite = jnp.stack([jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1) for x in leaves])
    finite = np.array(jnp.all(finite, axis=0))
    for name in UPDATE_METRICS:  # NaN here also marks "no update yet", so test +-inf and params
        finite &= ~np.isinf(np.asarray(metrics[name]))
    return [int(i) for i in np.flatnonzero(~finite)]
