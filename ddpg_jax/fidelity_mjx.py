"""MJX's side of a fidelity measurement: the MJX env in float32 or float64, closed-loop
episodes from given initial states, and MJX's one-step error along recorded C episodes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ddpg_jax import agent
from ddpg_jax.fidelity_divergence import DIVERGENCE, state_error


@contextlib.contextmanager
def precision(x64: bool) -> Iterator[None]:
    """`jax_enable_x64` set to `x64` inside the block (envs built inside take its dtype).
    JAX's caches are cleared on the way in and out: inner jitted helpers traced in the other
    precision (e.g. MJX's `tril` in RK4) would otherwise be reused and fail to lower."""
    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", x64)
    jax.clear_caches()
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", previous)
        jax.clear_caches()


def make_mjx_env(env_name: str) -> Any:
    """The MJX env of the task as `evaluate` builds it (in the current precision)."""
    # The task registry imports MuJoCo and MJX: only measurements that step MJX pay for it.
    from ddpg_jax import envs

    return envs.make(env_name, backend="mjx")


def _active_contacts(data: Any) -> Any:
    """Contacts inside the constraint (distance below the include margin) of MJX data."""
    contact = data._impl.contact
    if contact.dist.size == 0:
        return jnp.zeros((), jnp.int32)
    return jnp.sum(contact.dist < contact.includemargin).astype(jnp.int32)


def mjx_episodes(
    pi: Any, env: Any, qpos0: np.ndarray, qvel0: np.ndarray, max_steps: int
) -> dict[str, np.ndarray]:
    """Closed-loop MJX episodes of `pi` in `env` from the given initial states `[n, nq]`,
    `[n, nv]`, vmapped, in one jitted `lax.while_loop` that stops when all have ended.

    Returns `returns`, `lengths` `[n]` and per step `qpos`/`qvel` `[n, max_steps+1, ...]`,
    `actions` `[n, max_steps, nu]`, `ncon` `[n, max_steps+1]` (entries past an episode's end
    repeat its last state)."""
    cfg = pi.config
    n = qpos0.shape[0]

    def run(params, qpos0, qvel0):
        state = jax.vmap(lambda q, v: env.set_state(env.blank_state(), q, v))(qpos0, qvel0)
        dtype = state.data.qpos.dtype
        buf = {
            "qpos": jnp.zeros((n, max_steps + 1, qpos0.shape[1]), dtype),
            "qvel": jnp.zeros((n, max_steps + 1, qvel0.shape[1]), dtype),
            "actions": jnp.zeros((n, max_steps, env.action_size), jnp.float32),
            "ncon": jnp.zeros((n, max_steps + 1), jnp.int32),
        }

        def put(buf, t, state, action=None):
            buf = dict(buf)
            buf["qpos"] = buf["qpos"].at[:, t].set(state.data.qpos)
            buf["qvel"] = buf["qvel"].at[:, t].set(state.data.qvel)
            buf["ncon"] = buf["ncon"].at[:, t].set(jax.vmap(_active_contacts)(state.data))
            if action is not None:
                buf["actions"] = buf["actions"].at[:, t - 1].set(action)
            return buf

        def body(carry):
            state, alive, total, length, t, buf = carry
            action = agent.act(cfg, params, state.obs)
            state = jax.vmap(env.step)(state, action)  # ended episodes run on, unrecorded
            total = jnp.where(alive > 0, total + state.reward, total)
            length = length + alive
            alive = alive * (state.done == 0)
            return state, alive, total, length, t + 1, put(buf, t + 1, state, action)

        def running(carry):
            return jnp.any(carry[1] > 0) & (carry[4] < max_steps)

        zeros = jnp.zeros((n,), dtype)
        carry = (state, jnp.ones((n,), jnp.int32), zeros, jnp.zeros((n,), jnp.int32), 0)
        carry = (*carry, put(buf, 0, state))
        _, _, total, length, t, buf = jax.lax.while_loop(running, body, carry)
        return total, length, t, buf

    total, length, _, buf = jax.jit(run)(pi.params, qpos0, qvel0)
    out = {k: np.array(v) for k, v in buf.items()}  # writable copies
    for i, end in enumerate(np.asarray(length)):  # past an episode's end: its last state
        for k in ("qpos", "qvel", "ncon"):
            out[k][i, end + 1 :] = out[k][i, end]
        out["actions"][i, end:] = 0.0
    out.update(returns=np.asarray(total, np.float64), lengths=np.asarray(length, np.int64))
    return out


def mjx_episode(out: dict[str, np.ndarray], i: int) -> dict[str, Any]:
    """Episode `i` of `mjx_episodes`' output, in the per-episode layout `divergence` takes."""
    length = int(out["lengths"][i])
    ep = {k: out[k][i] for k in ("qpos", "qvel", "actions", "ncon")}
    return {**ep, "length": length, "return": float(out["returns"][i])}


def local_errors(env: Any, episodes: list[dict[str, Any]], chunk: int = 64) -> dict[str, Any]:
    """MJX's one-step error along recorded C episodes: from each C state (qpos, qvel,
    `qacc_warmstart`) with C's action, one MJX control step against C's next state.

    Returns per episode the errors `[T]` and overall max, median, the fraction above 1e-9
    and `DIVERGENCE`, and where the largest error is (episode, step)."""

    def one(qpos, qvel, warm, action):
        state = env.set_state(env.blank_state(), qpos, qvel)
        data = state.data.replace(qacc_warmstart=jnp.asarray(warm, state.data.qpos.dtype))
        data = env.physics_step(data, jnp.asarray(action, state.data.qpos.dtype))
        return data.qpos, data.qvel

    step = jax.jit(jax.vmap(one))
    per_episode = []
    for ep in episodes:
        t = int(ep["length"])
        rows = [ep["qpos"][:t], ep["qvel"][:t], ep["warm"][:t], ep["actions"][:t]]
        errs = []
        for start in range(0, t, chunk):
            batch = [r[start : start + chunk] for r in rows]
            size = batch[0].shape[0]
            batch = [np.concatenate([b, np.repeat(b[-1:], chunk - size, 0)]) for b in batch]
            qpos, qvel = step(*batch)
            stop = start + size
            target = (ep["qpos"][start + 1 : stop + 1], ep["qvel"][start + 1 : stop + 1])
            errs.append(state_error(np.asarray(qpos)[:size], np.asarray(qvel)[:size], *target))
        per_episode.append(np.concatenate(errs))
    flat = np.concatenate(per_episode)
    worst = int(np.nanargmax(np.where(np.isfinite(flat), flat, np.inf)))
    offsets = np.cumsum([0] + [len(e) for e in per_episode])
    episode = int(np.searchsorted(offsets, worst, side="right") - 1)
    return {
        "errors": [e.tolist() for e in per_episode],
        "max": float(flat[worst]),
        "median": float(np.median(flat)),
        "above_1e-9": float(np.mean(~(flat <= 1e-9))),
        "above_divergence": float(np.mean(~(flat <= DIVERGENCE))),
        "worst": {"episode": episode, "step": worst - int(offsets[episode])},
        "states": int(flat.size),
    }
