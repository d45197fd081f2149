"""How far MJX's return of a policy is from Gymnasium's, and why: chaos baseline, precision,
per-step divergence and solver/contact options. Core of `benchmarks/fidelity.py`; no printing.
`measure` runs every measurement for one policy; each part lives in a module of its own (in
brackets) and is importable from here too.

For one `policy.LoadedPolicy` and the episode seeds `evaluate` uses (`reset(seed=k)`):
  - `gym_episodes` (`fidelity_chaos`): Gymnasium (C MuJoCo) episodes, optionally from the
    reset state perturbed by `perturbation` (uniform in [-p, p] on every qpos and qvel entry):
    the chaos baseline; with `record=True` also each step's state, action, contact count and
    solver iterations.
  - `mjx_episodes` (`fidelity_mjx`): MJX from Gymnasium's initial states, in float32 or
    float64, the episodes batched with `vmap` in one `lax.while_loop` that records the same
    per-step quantities.
  - `local_errors` (`fidelity_mjx`): MJX stepped once from every recorded C state with C's
    action (and `qacc_warmstart`), against C's next state: MJX's own per-step error, free of
    chaos.
  - `divergence` (`fidelity_divergence`): the first step where the closed-loop MJX and C
    states differ by more than `DIVERGENCE` (max abs over qpos and qvel), and what happens
    there.
  - `option_rows` (`fidelity_options`): MJX's solver and contact settings against the C
    model's, and whether `envs.mjx_fixes` covers each known difference.
`summary_row`/`MARKDOWN_HEADER` (`fidelity_summary`) turn a record into one markdown table row.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ddpg_jax.fidelity_chaos import PERTURBATIONS, gym_episodes, perturb, relative_gap, return_stats
from ddpg_jax.fidelity_divergence import (
    DIVERGENCE,
    MACRO_DIVERGENCE,
    divergence,
    first_above,
    state_error,
    termination_margin,
)
from ddpg_jax.fidelity_mjx import (
    local_errors,
    make_mjx_env,
    mjx_episode,
    mjx_episodes,
    precision,
)
from ddpg_jax.fidelity_options import c_contact_pairs, option_rows
from ddpg_jax.fidelity_summary import MARKDOWN_HEADER, summary_row

# What callers use from `ddpg_jax.fidelity`; each is defined in one of the modules above.
__all__ = [
    "DIVERGENCE",
    "MACRO_DIVERGENCE",
    "MARKDOWN_HEADER",
    "PERTURBATIONS",
    "c_contact_pairs",
    "divergence",
    "first_above",
    "gym_episodes",
    "local_errors",
    "make_mjx_env",
    "measure",
    "mjx_episode",
    "mjx_episodes",
    "option_rows",
    "perturb",
    "precision",
    "relative_gap",
    "return_stats",
    "state_error",
    "summary_row",
    "termination_margin",
]


def measure(
    pi: Any,
    episode_seeds: list[int],
    max_steps: int,
    perturbations: tuple[float, ...] = PERTURBATIONS,
    precisions: tuple[str, ...] = ("float32", "float64"),
    local: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Everything above for one policy: the JSON-ready record that `summary_row` formats.

    Keys: `gym` and `gym_perturbed_<p>` (return stats, see `return_stats`), `mjx_<precision>`,
    `divergence[<precision>]` (one `divergence` per episode), `local[<precision>]` (see
    `local_errors`, without the per-step lists), `options` (`option_rows`)."""
    say = progress or (lambda _: None)
    record: dict[str, Any] = {
        "env": pi.env,
        "gym_id": pi.gym_id,
        "checkpoint_step": pi.step,
        "seed_index": pi.seed_index,
        "episode_seeds": list(episode_seeds),
        "max_episode_steps": max_steps,
        "divergence_threshold": DIVERGENCE,
        "divergence": {},
        "local": {},
        "seconds": {},
    }
    t0 = time.time()
    c_eps = gym_episodes(pi, episode_seeds, max_steps, record=True)
    c_returns = [ep["return"] for ep in c_eps]
    record["gym"] = return_stats(c_returns, [ep["length"] for ep in c_eps])
    record["seconds"]["gym"] = time.time() - t0
    say(f"Gymnasium: {record['gym']['mean']:.1f} ± {record['gym']['std']:.1f}")
    for p in perturbations:
        t0 = time.time()
        eps = gym_episodes(pi, episode_seeds, max_steps, perturbation=p)
        stats = return_stats([e["return"] for e in eps], [e["length"] for e in eps], c_returns)
        record[f"gym_perturbed_{p:g}"] = stats
        record["seconds"][f"gym_perturbed_{p:g}"] = time.time() - t0
        say(
            f"Gymnasium, start perturbed by {p:g}: {stats['mean']:.1f} ({100 * stats['gap']:+.2f}%)"
        )
    qpos0 = np.stack([ep["qpos0"] for ep in c_eps])
    qvel0 = np.stack([ep["qvel0"] for ep in c_eps])
    for name in precisions:
        with precision(name == "float64"):
            env = make_mjx_env(pi.env)
            if "options" not in record:
                pairs = c_contact_pairs(env, c_eps)
                record["options"] = option_rows(env, pairs)
                record["c_contact_pairs"] = sorted(pairs)
            t0 = time.time()
            out = mjx_episodes(pi, env, qpos0, qvel0, max_steps)
            record["seconds"][f"mjx_{name}"] = time.time() - t0
            stats = return_stats(out["returns"], out["lengths"], c_returns)
            record[f"mjx_{name}"] = stats
            say(f"MJX {name}: {stats['mean']:.1f} ({100 * stats['gap']:+.2f}%)")

            def margin(q, v, env=env):
                return termination_margin(pi.env, env, q, v)

            record["divergence"][name] = [
                divergence(c, mjx_episode(out, i), margin) for i, c in enumerate(c_eps)
            ]
            if local:
                t0 = time.time()
                errs = local_errors(env, c_eps)
                record["seconds"][f"local_{name}"] = time.time() - t0
                record["local"][name] = {k: v for k, v in errs.items() if k != "errors"}
                say(f"MJX {name} one-step error along C: max {errs['max']:.1e}")
    return record
