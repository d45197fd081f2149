"""The chaos baseline: how far Gymnasium's (C MuJoCo's) own return of a policy moves when the
reset state moves by a rounding-sized amount, and return statistics against a reference; an
MJX return gap inside this spread is chaos, not an MJX error."""

from __future__ import annotations

from typing import Any

import numpy as np

from ddpg_jax.episodes import make_gym_env

PERTURBATIONS = (1e-9, 1e-6)
"""Scales of the initial-state perturbations of the chaos baseline."""


def perturb(qpos: np.ndarray, qvel: np.ndarray, scale: float, seed: int) -> tuple[Any, Any]:
    """qpos and qvel plus uniform noise in [-scale, scale] per entry, drawn from `seed`
    (the same draw for the same seed, so a baseline is reproducible)."""
    if scale == 0.0:
        return qpos.copy(), qvel.copy()
    rng = np.random.default_rng([int(seed), 0xF1DE])
    noise = rng.uniform(-1.0, 1.0, qpos.size + qvel.size) * scale
    return qpos + noise[: qpos.size], qvel + noise[qpos.size :]


def relative_gap(value: float, reference: float) -> float:
    """`(value - reference) / max(|reference|, 1)`, as `evaluate` reports its gap."""
    return (value - reference) / max(abs(reference), 1.0)


def return_stats(returns: Any, lengths: Any, reference: Any | None = None) -> dict[str, Any]:
    """Mean ± std of returns, mean length, episodes cut short, and against `reference`
    (the unperturbed C returns of the same episodes) the relative gap of the means and the
    mean |per-episode return difference|."""
    returns, lengths = np.asarray(returns, float), np.asarray(lengths)
    out = {
        "returns": returns.tolist(),
        "lengths": lengths.tolist(),
        "mean": float(returns.mean()),
        "std": float(returns.std()),
        "length_mean": float(lengths.mean()),
    }
    if reference is not None:
        reference = np.asarray(reference, float)
        out["gap"] = relative_gap(out["mean"], float(reference.mean()))
        out["episode_abs_diff"] = float(np.abs(returns - reference).mean())
    return out


def gym_episodes(
    pi: Any,
    episode_seeds: list[int],
    max_steps: int,
    perturbation: float = 0.0,
    record: bool = False,
) -> list[dict[str, Any]]:
    """Noise-free Gymnasium episodes of `pi`, reset with `seed=k`, the reset state perturbed
    by `perturbation` (see `perturb`; the observation recomputed). Each: `return`, `length`,
    reset `qpos0`/`qvel0` (after the perturbation); with `record`, `qpos`/`qvel`/`warm`
    (`qacc_warmstart`) `[T+1, ...]`, `actions` `[T, nu]`, `ncon`/`niter` `[T+1]`."""
    env = make_gym_env(pi.gym_id, max_steps)
    episodes = []
    try:
        for seed in episode_seeds:
            obs, _ = env.reset(seed=int(seed))
            raw = env.unwrapped
            if perturbation:
                raw.set_state(*perturb(raw.data.qpos, raw.data.qvel, perturbation, seed))
                obs = raw._get_obs()
            d = raw.data
            ep = {"qpos0": d.qpos.copy(), "qvel0": d.qvel.copy()}
            keys = ("qpos", "qvel", "warm", "actions", "ncon", "niter")
            rec: dict[str, list] = {k: [] for k in keys}

            def snapshot(d=d, rec=rec) -> None:
                rec["qpos"].append(d.qpos.copy())
                rec["qvel"].append(d.qvel.copy())
                rec["warm"].append(d.qacc_warmstart.copy())
                rec["ncon"].append(int(d.ncon))
                rec["niter"].append(int(d.solver_niter[0]))

            if record:
                snapshot()
            total, length, done = 0.0, 0, False
            while not done:
                action = pi.act(obs)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                length += 1
                done = terminated or truncated
                if record:
                    rec["actions"].append(np.asarray(action, np.float64))
                    snapshot()
            ep.update(**{"return": total, "length": length})
            if record:
                ep.update({k: np.asarray(v) for k, v in rec.items()})
            episodes.append(ep)
    finally:
        env.close()
    return episodes
