"""Categorical (C51) critic math: the support, the projected target, the loss, the twin rule.

A categorical critic outputs logits over `num_atoms` returns evenly spaced on
`[v_min, v_max]` (Bellemare et al., 2017; FastTD3 uses it with twin critics). The target
distribution of `reward + discount * Z(s', a')` is not on the support, so `project` spreads each
shifted atom's mass over its two neighbouring atoms in proportion to closeness. Every function
is pure and works on one batch; a leading seed axis is `jax.vmap`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def support(v_min: float, v_max: float, num_atoms: int) -> jax.Array:
    """The atoms `[num_atoms]`, evenly spaced from `v_min` to `v_max` inclusive."""
    return jnp.linspace(v_min, v_max, num_atoms, dtype=jnp.float32)


def project(
    next_probs: jax.Array, reward: jax.Array, discount: jax.Array, atoms: jax.Array
) -> jax.Array:
    """Target distribution `[B, A]`: `reward + discount * z` projected onto `atoms`.

    `next_probs` `[B, A]` is the target critic's distribution at `(s', a')`; `reward` and
    `discount` are `[B]`, the discount already holding `gamma^n * (1 - terminated)`. Shifted atoms
    outside `[v_min, v_max]` are clipped to the end atoms. Each shifted atom at fractional index
    `b` gives `(l + 1 - b)` of its mass to atom `l = floor(b)` and `(b - l)` to `l + 1`, with `l`
    kept in `[0, A - 2]`: a `b` landing exactly on an atom then gives it all of its mass (the
    textbook `floor`/`ceil` pair gives zero to both when `l == u`) and mass is conserved.
    """
    num_atoms = atoms.shape[-1]
    v_min, v_max = atoms[0], atoms[-1]
    delta = (v_max - v_min) / (num_atoms - 1)
    shifted = reward[:, None] + discount[:, None] * atoms[None, :]  # [B, A]
    b = (jnp.clip(shifted, v_min, v_max) - v_min) / delta
    lower = jnp.clip(jnp.floor(b), 0, num_atoms - 2)
    upper_weight = b - lower  # in [0, 1]
    lower_idx = lower.astype(jnp.int32)

    def one_row(probs, idx, w_up):
        out = jnp.zeros((num_atoms,), probs.dtype)
        out = out.at[idx].add(probs * (1.0 - w_up))
        return out.at[idx + 1].add(probs * w_up)

    return jax.vmap(one_row)(next_probs, lower_idx, upper_weight)


def expected(probs: jax.Array, atoms: jax.Array) -> jax.Array:
    """Mean return `[...]` of distributions `probs` `[..., A]` over `atoms` `[A]`."""
    return jnp.sum(probs * atoms, axis=-1)


def expected_from_logits(logits: jax.Array, atoms: jax.Array) -> jax.Array:
    """Mean return `[...]` of the categorical critic's `logits` `[..., A]` (its Q-value)."""
    return expected(jax.nn.softmax(logits, axis=-1), atoms)


def cross_entropy(logits: jax.Array, target_probs: jax.Array) -> jax.Array:
    """Per-sample loss `[B]`: `-sum_a target * log_softmax(logits)`.

    The target is a regression label, so no gradient flows into it (it usually comes from the
    target networks anyway; stopping here keeps a caller's mistake from training them).
    """
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jax.lax.stop_gradient(target_probs) * log_probs, axis=-1)


def min_by_expectation(probs_1: jax.Array, probs_2: jax.Array, atoms: jax.Array) -> jax.Array:
    """Clipped double Q for a categorical critic `[B, A]`: per sample, the twin's distribution
    with the smaller mean (FastTD3's rule; a mixture or atom-wise min would not be a
    distribution of either critic). Ties take `probs_1`."""
    first = expected(probs_1, atoms) <= expected(probs_2, atoms)
    return jnp.where(first[..., None], probs_1, probs_2)
