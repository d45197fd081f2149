"""Gradients of a batch-mean loss computed over equal micro-batches and averaged.

For a loss that is a mean of independent per-row terms (the critic's TD error, the actor's
-Q), the gradient over the whole batch equals the mean of the gradients over equal slices. On
a CPU the slices' activations stay in cache, while a large batch's do not; see
`benchmarks/update_speed.py` for the measured effect. The slices run one after another in a
`lax.scan`, so the program does not grow with the number of slices. Row-coupled losses
(batch norm, a loss normalised by the whole batch) must not use it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def value_and_grad(
    loss_fn: Callable[..., Any],
    params: Any,
    data: Any,
    micro: int,
    has_aux: bool = False,
) -> tuple[Any, Any]:
    """`jax.value_and_grad(loss_fn, has_aux)(params, data)`, computed `micro` rows at a time.

    `data` is a pytree whose leaves all have the batch as leading axis `[B, ...]`; `loss_fn
    (params, data)` must return the mean over rows (and, with `has_aux`, an aux pytree). With
    `B <= micro` (or `micro <= 0`) this is exactly `jax.value_and_grad`. Otherwise `B` must be
    a multiple of `micro`; the loss and gradients are the means over the `B // micro` slices,
    and each aux leaf gains a leading `[B // micro]` axis (one row per slice, in order).
    """
    batch = jax.tree.leaves(data)[0].shape[0]
    plain = jax.value_and_grad(loss_fn, has_aux=has_aux)
    if micro <= 0 or batch <= micro:
        return plain(params, data)
    if batch % micro:
        raise ValueError(f"batch {batch} is not a multiple of the micro-batch size {micro}")
    slices = batch // micro
    chunks = jax.tree.map(lambda x: x.reshape(slices, micro, *x.shape[1:]), data)

    def one_slice(grad_sum, chunk):
        value, grads = plain(params, chunk)
        loss, aux = value if has_aux else (value, None)
        return jax.tree.map(jnp.add, grad_sum, grads), (loss, aux)

    zeros = jax.tree.map(jnp.zeros_like, params)
    grad_sum, (losses, aux) = jax.lax.scan(one_slice, zeros, chunks)
    grads = jax.tree.map(lambda g: g / slices, grad_sum)
    loss = jnp.mean(losses)
    return ((loss, aux) if has_aux else loss), grads
