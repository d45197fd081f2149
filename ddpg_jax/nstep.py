"""n-step returns from auto-resetting vectorised envs, as a pure window over the last n steps.

Each env keeps its last `n` transitions in a shift window (oldest first). After a `push` fills
the window, its oldest step `t` leaves as one n-step transition:

    G        = sum_{k<m} gamma^k r_{t+k}
    next_obs = next_obs_{t+m-1}
    discount = gamma^m (1 - terminated_{t+m-1})

where `m` is `n`, or fewer when `t`'s episode ends inside the window (the step with
`episode_over` is the last one summed). So a return never crosses an episode boundary; a
termination cuts the bootstrap; a time limit bootstraps from the true final observation
(the wrappers' `info["final_obs"]`, stored as `next_obs`). Steps of the next episode still in
the window leave later with their own returns.

The window holds `n` vectorised steps (n * num_envs rows), and shifting it costs that much per
env step: cheap against an update for the small n (1 to 5) n-step returns use. A leading seed
axis is `jax.vmap` over `init` and `push`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from ddpg_jax.replay import Transition


@struct.dataclass
class NStepState:
    """The last `n` steps of every env, oldest first (index 0 leaves next)."""

    obs: jax.Array  # [n, num_envs, obs_size]
    action: jax.Array  # [n, num_envs, action_size]
    reward: jax.Array  # [n, num_envs]
    terminated: jax.Array  # [n, num_envs]; 1.0 only for real terminations
    next_obs: jax.Array  # [n, num_envs, obs_size]; the true final obs at an episode's end
    episode_over: jax.Array  # [n, num_envs] bool; terminated or truncated at this step
    count: jax.Array  # [] int32, steps pushed so far, saturating at n

    @property
    def n(self) -> int:
        return self.reward.shape[0]


def init(num_envs: int, obs_size: int, action_size: int, n: int) -> NStepState:
    """An empty window of `n` steps for `num_envs` envs."""
    if n < 1:
        raise ValueError(f"n-step window needs n >= 1, got {n}")
    f32 = jnp.float32
    return NStepState(
        obs=jnp.zeros((n, num_envs, obs_size), f32),
        action=jnp.zeros((n, num_envs, action_size), f32),
        reward=jnp.zeros((n, num_envs), f32),
        terminated=jnp.zeros((n, num_envs), f32),
        next_obs=jnp.zeros((n, num_envs, obs_size), f32),
        episode_over=jnp.zeros((n, num_envs), bool),
        count=jnp.zeros((), jnp.int32),
    )


def _shift_in(window: jax.Array, new: jax.Array) -> jax.Array:
    """Drop the oldest step, append `new` as the newest."""
    return jnp.concatenate([window[1:], new[None].astype(window.dtype)], axis=0)


def push(
    state: NStepState, transition: Transition, episode_over: jax.Array, gamma: jax.Array | float
) -> tuple[NStepState, Transition, jax.Array]:
    """Add one vectorised step; return the new window, the step leaving it, and whether valid.

    `transition` holds `[num_envs, ...]` rows (no `discount`); `episode_over` `[num_envs]` is
    true where the episode ended at this step (terminated or truncated). `gamma` may be traced.
    The output is the window's oldest step as an n-step `Transition` (`reward` = G, per-row
    `discount`), and `valid` `[num_envs]` is false until `n` steps have been pushed: before
    that the output rows are placeholders to drop (`replay.add(..., valid)`).
    With n == 1 the output is `transition` itself with `discount = gamma * (1 - terminated)`.
    """
    over = episode_over.astype(bool)
    state = NStepState(
        obs=_shift_in(state.obs, transition.obs),
        action=_shift_in(state.action, transition.action),
        reward=_shift_in(state.reward, transition.reward),
        terminated=_shift_in(state.terminated, transition.terminated),
        next_obs=_shift_in(state.next_obs, transition.next_obs),
        episode_over=_shift_in(state.episode_over, over),
        count=jnp.minimum(state.count + 1, state.n),
    )
    # Step k of the window belongs to the oldest step's episode if no step before k ended it.
    ended_before = jnp.cumsum(state.episode_over, axis=0) - state.episode_over  # [n, num_envs]
    same_episode = (ended_before == 0).astype(jnp.float32)
    # gamma^k as products of gamma (exclusive cumprod): n == 1 multiplies by exactly 1, and
    # gamma == 0 needs no division.
    gamma = jnp.asarray(gamma, jnp.float32)
    factors = jnp.where(same_episode > 0, gamma, 1.0)  # [n, num_envs]
    powers = jnp.cumprod(jnp.concatenate([jnp.ones_like(factors[:1]), factors[:-1]]), axis=0)
    ret = jnp.sum(powers * state.reward * same_episode, axis=0)  # [num_envs]
    last = jnp.sum(same_episode, axis=0).astype(jnp.int32) - 1  # index of step t+m-1
    next_obs = jnp.take_along_axis(state.next_obs, last[None, :, None], axis=0)[0]
    terminated = jnp.take_along_axis(state.terminated, last[None, :], axis=0)[0]
    discount = jnp.prod(factors, axis=0) * (1.0 - terminated)
    out = Transition(
        obs=state.obs[0],
        action=state.action[0],
        reward=ret,
        next_obs=next_obs,
        terminated=terminated,
        discount=discount,
    )
    valid = jnp.broadcast_to(state.count >= state.n, over.shape)
    return state, out, valid
