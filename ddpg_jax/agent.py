"""The DDPG agent: train state, one jitted update, deterministic action and Q lookup.

Plain DDPG by default; the config's TD3 switches (twin critics with the min target, policy
delay, target policy smoothing) turn the same update into TD3. `cfg` is always static; the
train state's `hp` (`ddpg_jax.hyperparams.Hyperparams`) may trace some of its values (learning
rates, tau, gamma, weight decay, target noise, normalize_obs), so that a sweep vmaps them.
Untraced (the default), every value is read from `cfg` as a compile-time constant.
"""

from __future__ import annotations

import functools
from typing import Any

import chex
import jax
import jax.numpy as jnp
import optax
from flax import struct

from ddpg_jax import distributional as dist
from ddpg_jax import hyperparams as hps
from ddpg_jax import microbatch, schedule
from ddpg_jax import normalizer as norm
from ddpg_jax.config import Config
from ddpg_jax.hyperparams import Hyperparams
from ddpg_jax.networks import Actor, Critic
from ddpg_jax.replay import Transition
from ddpg_jax.tracing import count_traces


@struct.dataclass
class TrainState:
    actor_params: Any
    critic_params: Any  # leaves have a leading [num_critics] axis (1, or 2 with twin_critics)
    target_actor_params: Any
    target_critic_params: Any
    actor_opt_state: Any
    critic_opt_state: Any
    normalizer: norm.NormalizerState
    action_scale: jax.Array  # [action_size]; (high - low) / 2
    action_bias: jax.Array  # [action_size]; (high + low) / 2
    key: jax.Array  # typed PRNG key for target policy smoothing
    step: jax.Array  # [] int32, updates done so far
    hp: Hyperparams = Hyperparams()  # traced hyperparameters (none by default)


@struct.dataclass
class Policy:
    """Everything needed to act: the train state's actor, normalizer and action bounds. In a
    checkpoint every leaf has a leading `[num_seeds]` axis."""

    actor_params: Any
    normalizer: norm.NormalizerState
    action_scale: jax.Array  # [..., action_size]
    action_bias: jax.Array  # [..., action_size]

    @classmethod
    def from_train_state(cls, ts: TrainState) -> Policy:
        """The policy fields of a train state (vmapped or not)."""
        return cls(
            actor_params=ts.actor_params,
            normalizer=ts.normalizer,
            action_scale=ts.action_scale,
            action_bias=ts.action_bias,
        )


def make_actor(cfg: Config, action_size: int) -> Actor:
    """The actor network of `cfg` (the one place its shape is read from the config)."""
    return Actor(
        hidden_dim=cfg.actor_width,
        action_size=action_size,
        num_layers=cfg.actor_layers,
        layer_norm=cfg.actor_layer_norm,
    )


def make_critic(cfg: Config) -> Critic:
    """One critic network of `cfg`; a categorical critic outputs `num_atoms` logits."""
    return Critic(
        hidden_dim=cfg.critic_width,
        arch=cfg.critic_arch,
        num_layers=cfg.critic_layers,
        layer_norm=cfg.critic_layer_norm,
        num_outputs=cfg.num_atoms if cfg.distributional else 1,
    )


def _actor_optimizer(cfg: Config, hp: Hyperparams | None = None) -> optax.GradientTransformation:
    # The learning rate is not part of Adam's state, so a traced one (inside the jitted update)
    # gives the same state structure as the static one.
    return _optimizer(cfg, optax.adam(hps.value(cfg, hp, "actor_lr")))


def _critic_optimizer(cfg: Config, hp: Hyperparams | None = None) -> optax.GradientTransformation:
    # L2 added to the gradient before Adam, as torch.optim.Adam(weight_decay=...) in the
    # reference study.
    return _optimizer(
        cfg,
        optax.add_decayed_weights(hps.value(cfg, hp, "weight_decay")),
        optax.adam(hps.value(cfg, hp, "critic_lr")),
    )


def num_critics(cfg: Config) -> int:
    return 2 if cfg.twin_critics else 1


def init(
    cfg: Config,
    obs_size: int,
    action_size: int,
    key: jax.Array,
    action_low: Any = None,
    action_high: Any = None,
    hp: Hyperparams | None = None,
) -> TrainState:
    """Fresh networks, identical targets, optimizer states and normalizer.

    Action bounds default to [-1, 1]; actions are `tanh(.) * scale + bias` inside them. `hp`
    (default: none traced) is kept in the state and used instead of `cfg` by every function.
    """
    low = jnp.full((action_size,), -1.0) if action_low is None else jnp.asarray(action_low)
    high = jnp.full((action_size,), 1.0) if action_high is None else jnp.asarray(action_high)
    actor_key, critic_key, state_key = jax.random.split(key, 3)
    dummy_obs = jnp.zeros((1, obs_size), jnp.float32)
    dummy_action = jnp.zeros((1, action_size), jnp.float32)
    actor_params = make_actor(cfg, action_size).init(actor_key, dummy_obs)
    critic_keys = jax.random.split(critic_key, num_critics(cfg))
    critic_params = jax.vmap(lambda k: make_critic(cfg).init(k, dummy_obs, dummy_action))(
        critic_keys
    )
    return TrainState(
        actor_params=actor_params,
        critic_params=critic_params,
        target_actor_params=actor_params,
        target_critic_params=critic_params,
        actor_opt_state=_actor_optimizer(cfg).init(actor_params),
        critic_opt_state=_critic_optimizer(cfg).init(critic_params),
        normalizer=norm.init(obs_size),
        action_scale=((high - low) / 2).astype(jnp.float32),
        action_bias=((high + low) / 2).astype(jnp.float32),
        key=state_key,
        step=jnp.zeros((), jnp.int32),
        hp=Hyperparams() if hp is None else hp,
    )


def prepare_obs(cfg: Config, ts: TrainState | Policy, obs: jax.Array) -> jax.Array:
    """`obs` as the networks see it: normalised when `normalize_obs`, else unchanged."""
    return hps.where(
        hps.value(cfg, getattr(ts, "hp", None), "normalize_obs"),
        lambda: norm.normalize(ts.normalizer, obs),
        lambda: obs,
    )


def _policy(cfg: Config, bounds: TrainState | Policy, actor_params: Any, obs_in: jax.Array):
    """The actions of `actor_params`, scaled into the action bounds of `bounds`."""
    unit = make_actor(cfg, bounds.action_scale.shape[-1]).apply(actor_params, obs_in)
    return unit * bounds.action_scale + bounds.action_bias


def _all_out(cfg: Config, critic_params: Any, obs_in: jax.Array, action: jax.Array) -> jax.Array:
    """Every critic's output: Q `[num_critics, batch]`, or a categorical critic's logits
    `[num_critics, batch, num_atoms]`."""
    # One apply per critic, not a vmap over them: vmapped critics become batched matmuls, which
    # XLA's CPU backend runs slower than plain ones (BENCHMARKS.md, "Unvmapped").
    apply = make_critic(cfg).apply
    return jnp.stack(
        [
            apply(jax.tree.map(lambda leaf, i=i: leaf[i], critic_params), obs_in, action)
            for i in range(num_critics(cfg))
        ]
    )


def atoms(cfg: Config) -> jax.Array:
    """The categorical critic's support `[num_atoms]`."""
    return dist.support(cfg.v_min, cfg.v_max, cfg.num_atoms)


def q_values(cfg: Config, critic_params: Any, obs_in: jax.Array, action: jax.Array) -> jax.Array:
    """Q of every critic: `[num_critics, batch]` (a categorical critic's mean return); `obs_in`
    as the critics see it (normalised when `normalize_obs`)."""
    out = _all_out(cfg, critic_params, obs_in, action)
    return dist.expected_from_logits(out, atoms(cfg)) if cfg.distributional else out


def lr_factor(cfg: Config, step: jax.Array) -> jax.Array:
    """The learning rates' multiplier after `step` critic updates (`lr_decay_to`): 1 at the
    first update, falling linearly to `lr_decay_to` at the run's last and held there after."""
    done = jnp.minimum(step.astype(jnp.float32) / schedule.learning_updates(cfg), 1.0)
    return 1.0 - (1.0 - cfg.lr_decay_to) * done


def _scaled(cfg: Config, step: jax.Array, updates: Any) -> Any:
    # Adam's step is proportional to its learning rate, so scaling the step is the decayed rate
    # without changing the optimizer's state (off: untouched, so the default stays bit-identical).
    if cfg.lr_decay_to == 1.0:
        return updates
    factor = lr_factor(cfg, step)
    return jax.tree.map(lambda u: u * factor.astype(u.dtype), updates)


def _optimizer(cfg: Config, *parts: optax.GradientTransformation) -> optax.GradientTransformation:
    """`parts` after an optional global-norm clip (`max_grad_norm`; off adds nothing, so the
    default optimizer state keeps its structure)."""
    if cfg.max_grad_norm > 0:
        return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm), *parts)
    return parts[0] if len(parts) == 1 else optax.chain(*parts)


def td_target(
    cfg: Config, ts: TrainState, batch: Transition, key: jax.Array, axis_name: str | None = None
) -> jax.Array:
    """`r + discount * min_i Q'_i(s', mu'(s') + smoothing)`, `[batch]`, without gradient; for a
    categorical critic the projected target distribution `[batch, num_atoms]` instead.

    The discount is `gamma * (1 - terminated)`, or the batch's own `discount` for n-step
    transitions (gamma^m, zero after a termination)."""
    next_obs_in = prepare_obs(cfg, ts, batch.next_obs)
    next_action = target_action(cfg, ts, next_obs_in, key, axis_name)
    if cfg.distributional:
        logits = _all_out(cfg, ts.target_critic_params, next_obs_in, next_action)
        probs = jax.nn.softmax(logits, axis=-1)  # [num_critics, batch, num_atoms]
        z = atoms(cfg)
        # Twin critics: per sample, the distribution with the smaller mean (as FastTD3).
        chosen = dist.min_by_expectation(probs[0], probs[1], z) if len(probs) == 2 else probs[0]
        target = dist.project(chosen, batch.reward, discount(cfg, ts, batch), z)
        return jax.lax.stop_gradient(target)
    next_q = jnp.min(q_values(cfg, ts.target_critic_params, next_obs_in, next_action), axis=0)
    return jax.lax.stop_gradient(batch.reward + discount(cfg, ts, batch) * next_q)


def discount(cfg: Config, ts: TrainState, batch: Transition) -> jax.Array:
    """Per-row bootstrap discount `[batch]`."""
    stored = getattr(batch, "discount", None)
    if stored is not None:
        return stored
    return hps.value(cfg, ts.hp, "gamma") * (1.0 - batch.terminated)


def target_action(
    cfg: Config,
    ts: TrainState,
    next_obs_in: jax.Array,
    key: jax.Array,
    axis_name: str | None = None,
):
    """mu'(s'), with TD3's clipped smoothing noise when `target_noise > 0`. Under
    `axis_name` the rows are this device's part of a batch split along that mesh axis, and
    get their part of one draw for the whole batch."""
    next_action = _policy(cfg, ts, ts.target_actor_params, next_obs_in)
    target_noise = hps.value(cfg, ts.hp, "target_noise")

    def smoothed():
        eps = _normal_rows(key, next_action, axis_name)
        clip = cfg.target_noise_clip
        smoothing = jnp.clip(eps * target_noise, -clip, clip) * ts.action_scale
        low, high = ts.action_bias - ts.action_scale, ts.action_bias + ts.action_scale
        return jnp.clip(next_action + smoothing, low, high)

    # Static (the default): no smoothing code when it is off; traced (a sweep): both, selected.
    return hps.where(target_noise > 0, smoothed, lambda: next_action)


def critic_loss(
    cfg: Config, ts: TrainState, critic_params: Any, obs_in: jax.Array, batch: Transition, target
) -> tuple[jax.Array, jax.Array]:
    """Sum over critics of the mean squared TD error (a categorical critic: of the mean
    cross-entropy to the target distribution); also returns Q `[num_critics, batch]`."""
    if cfg.distributional:
        logits = _all_out(cfg, critic_params, obs_in, batch.action)
        loss = jax.vmap(dist.cross_entropy, in_axes=(0, None))(logits, target)
        q = dist.expected_from_logits(jax.lax.stop_gradient(logits), atoms(cfg))
        return jnp.sum(jnp.mean(loss, axis=-1)), q
    q = q_values(cfg, critic_params, obs_in, batch.action)
    return jnp.sum(jnp.mean(jnp.square(q - target), axis=-1)), q


def actor_loss(
    cfg: Config, ts: TrainState, actor_params: Any, critic_params: Any, obs_in: jax.Array
) -> jax.Array:
    """`-mean(Q_1(s, mu(s)))` through the first critic."""
    action = _policy(cfg, ts, actor_params, obs_in)
    first_critic = jax.tree.map(lambda p: p[:1], critic_params)
    return -jnp.mean(q_values(cfg, first_critic, obs_in, action)[0])


def critic_step(
    cfg: Config, ts: TrainState, batch: Transition, axis_name: str | None = None
) -> tuple[TrainState, dict]:
    """One gradient step of the critic(s) on `batch`; counts an update (`ts.step`)."""
    key, smoothing_key = jax.random.split(ts.key)
    obs_in = prepare_obs(cfg, ts, batch.obs)
    target = td_target(cfg, ts, batch, smoothing_key, axis_name)
    (loss, q), grads = microbatch.value_and_grad(
        lambda p, d: critic_loss(cfg, ts, p, *d),
        ts.critic_params,
        (obs_in, batch, target),
        cfg.micro_batch,
        has_aux=True,
    )  # q: [num_critics, batch], or [slices, num_critics, micro] when micro-batched
    grads = _across(axis_name, grads)
    updates, opt_state = _critic_optimizer(cfg, ts.hp).update(
        grads, ts.critic_opt_state, ts.critic_params
    )
    updates = _scaled(cfg, ts.step, updates)
    ts = ts.replace(
        critic_params=optax.apply_updates(ts.critic_params, updates),
        critic_opt_state=opt_state,
        key=key,
        step=ts.step + 1,
    )
    target_q = dist.expected(target, atoms(cfg)) if cfg.distributional else target
    metrics = {
        "critic_loss": loss / num_critics(cfg),
        "q_mean": jnp.mean(q[..., 0, :]),
        "target_q_mean": jnp.mean(target_q),
    }
    return ts, _across(axis_name, metrics)


def actor_step(
    cfg: Config, ts: TrainState, batch: Transition, axis_name: str | None = None
) -> tuple[TrainState, jax.Array]:
    """One gradient step of the actor on `batch` through the current critic; returns the loss."""
    obs_in = prepare_obs(cfg, ts, batch.obs)
    loss, grads = jax.value_and_grad(lambda p: actor_loss(cfg, ts, p, ts.critic_params, obs_in))(
        ts.actor_params
    )
    grads, loss = _across(axis_name, (grads, loss))
    updates, opt_state = _actor_optimizer(cfg, ts.hp).update(
        grads, ts.actor_opt_state, ts.actor_params
    )
    updates = _scaled(cfg, ts.step, updates)
    actor_params = optax.apply_updates(ts.actor_params, updates)
    return ts.replace(actor_params=actor_params, actor_opt_state=opt_state), loss


def _across(axis_name: str | None, tree: Any) -> Any:
    """Means over the mesh axis `axis_name` of per-device batch means (the devices' parts of
    a batch are equal, so this is the whole batch's mean); `tree` itself without one."""
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def _normal_rows(key: jax.Array, like: jax.Array, axis_name: str | None) -> jax.Array:
    """Standard normals shaped as `like` `[rows, ...]`: under `axis_name`, this device's
    rows of one draw over the devices' rows together, so a row's noise is the same however
    many devices share the batch."""
    if axis_name is None:
        return jax.random.normal(key, like.shape, like.dtype)
    rows = like.shape[0]
    devices = jax.lax.axis_size(axis_name)
    whole = jax.random.normal(key, (rows * devices, *like.shape[1:]), like.dtype)
    return jax.lax.dynamic_slice_in_dim(whole, jax.lax.axis_index(axis_name) * rows, rows)


def target_update(cfg: Config, ts: TrainState) -> TrainState:
    """Soft update of both targets: `target <- tau * online + (1 - tau) * target`."""
    tau = hps.value(cfg, ts.hp, "tau")
    return ts.replace(
        target_actor_params=optax.incremental_update(ts.actor_params, ts.target_actor_params, tau),
        target_critic_params=optax.incremental_update(
            ts.critic_params, ts.target_critic_params, tau
        ),
    )


def actor_and_targets(
    cfg: Config, ts: TrainState, batch: Transition, axis_name: str | None = None
) -> tuple[TrainState, jax.Array]:
    """The delayed half of an update: actor step, then soft target updates."""
    ts, loss = actor_step(cfg, ts, batch, axis_name)
    return target_update(cfg, ts), loss


def _check_batch(batch: Transition) -> None:
    """Shapes of a batch at the update's door (checked when traced, free when run): rows of
    obs, action, next_obs `[batch, size]` and reward, terminated `[batch]`, all of one length."""
    chex.assert_rank([batch.obs, batch.action, batch.next_obs], 2)
    chex.assert_rank([batch.reward, batch.terminated], 1)
    chex.assert_equal_shape_prefix(
        [batch.obs, batch.action, batch.next_obs, batch.reward, batch.terminated], 1
    )
    chex.assert_equal_shape([batch.obs, batch.next_obs])


@functools.partial(jax.jit, static_argnums=0, static_argnames="axis_name")
@functools.partial(count_traces, "update")
def update(
    cfg: Config,
    ts: TrainState,
    batch: Transition,
    update_index: jax.Array | None = None,
    axis_name: str | None = None,
) -> tuple[TrainState, dict[str, jax.Array]]:
    """One DDPG (or TD3) update on `batch`; returns the new state and scalar metrics.

    Critic: mean squared TD error against `r + gamma * (1 - terminated) * Q'(s', mu'(s'))`.
    Actor: `-mean(Q(s, mu(s)))` through the just-updated critic. Then soft target updates.
    With `policy_delay > 1` the actor and targets change only when `update_index` (default:
    `ts.step`) is a multiple of `policy_delay`; the training loop passes its own count, the
    same for every seed, so that under `vmap` the skipped half is skipped, not computed and
    thrown away. A skipped half reports `actor_loss` NaN and `actor_updates` 0.

    Under `shard_map`, `axis_name` names the mesh axis along which `batch` is split into
    equal parts, one per device: gradients and metrics are averaged over it, so every device
    makes the same step.
    """
    _check_batch(batch)
    index = ts.step if update_index is None else update_index
    ts, metrics = critic_step(cfg, ts, batch, axis_name)
    if cfg.policy_delay == 1:
        ts, loss = actor_and_targets(cfg, ts, batch, axis_name)
        done = jnp.ones((), jnp.float32)
    else:
        ts, loss, done = jax.lax.cond(
            index % cfg.policy_delay == 0,
            lambda t: (*actor_and_targets(cfg, t, batch, axis_name), jnp.float32(1)),
            lambda t: (t, jnp.full((), jnp.nan, jnp.float32), jnp.float32(0)),
            ts,
        )
    return ts, {**metrics, "actor_loss": loss, "actor_updates": done}


@functools.partial(jax.jit, static_argnums=0)
def act(cfg: Config, policy: TrainState | Policy, obs: jax.Array) -> jax.Array:
    """Deterministic action mu(s) within the bounds, of a train state or a saved `Policy`.

    `obs` is raw, `[..., obs_size]` (normalised inside); the result is `[..., action_size]`."""
    obs_in = prepare_obs(cfg, policy, obs.astype(jnp.float32))
    return _policy(cfg, policy, policy.actor_params, obs_in)
