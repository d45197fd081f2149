"""How often each jitted function was traced, so tests can assert that it compiles once."""

from __future__ import annotations

import collections
import functools
from collections.abc import Callable

TRACE_COUNTS: collections.Counter[str] = collections.Counter()


def count_traces(name: str, fn: Callable) -> Callable:
    """`fn`, counting each call (each trace, when `fn` is wrapped in `jax.jit`) under `name`."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        TRACE_COUNTS[name] += 1
        return fn(*args, **kwargs)

    return wrapped
