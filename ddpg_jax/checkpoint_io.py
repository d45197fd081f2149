"""What the checkpoint store needs around orbax: typed PRNG keys stored as their raw data,
zero-size leaves stored as None, JSON-safe meta, sha256 checksums of a step's files, disk-full
detection, and orbax's log lines that a user cannot act on filtered out."""

from __future__ import annotations

import errno
import hashlib
import logging
import pathlib
import sys
import warnings
from typing import Any

import jax
import numpy as np

from ddpg_jax.run_dir import plain

_QUIET_ABSL = (
    "Requested `tracked_metric`; did not provide metrics.",  # a save without an evaluation
    "CheckpointManagerOptions.read_only=True",  # we ask for read-only on purpose
    "Given directory is read only",
)


class _QuietOrbax(logging.Filter):
    """Drops orbax's absl records listed in `_QUIET_ABSL`, and the tracebacks its threads log
    for a full disk (the save re-raises that as one line); everything else passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if any(msg.startswith(quiet) for quiet in _QUIET_ABSL):
            return False
        return not (record.exc_info and is_disk_full(record.exc_info[1]))


logging.getLogger("absl").addFilter(_QuietOrbax())


def hush_aborted_async_work() -> None:
    """After a failed save or restore (reported in one line), orbax's abandoned asyncio work
    reports itself at garbage collection as "Event loop is closed" or "coroutine ... was never
    awaited", many times over, with tracebacks that say nothing more: drop those two."""
    global _hushed
    if _hushed:
        return
    _hushed = True
    warnings.filterwarnings(
        "ignore", message="coroutine .* was never awaited", category=RuntimeWarning
    )
    previous = sys.unraisablehook

    def hook(unraisable: Any) -> None:
        e = unraisable.exc_value
        if isinstance(e, RuntimeError) and str(e) == "Event loop is closed":
            return
        previous(unraisable)

    sys.unraisablehook = hook


_hushed = False


def sha256(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checksums(step_dir: pathlib.Path) -> dict[str, str]:
    """sha256 of every file inside the step's item directories, by path relative to the step."""
    return {
        path.relative_to(step_dir).as_posix(): sha256(path)
        for item in sorted(p for p in step_dir.iterdir() if p.is_dir())
        for path in sorted(item.rglob("*"))
        if path.is_file()
    }


def is_disk_full(e: BaseException) -> bool:
    """Whether ENOSPC is anywhere in `e`'s causes (orbax and tensorstore wrap it)."""
    stack: list[Any] = [e]
    seen: set[int] = set()
    while stack:
        x = stack.pop()
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        if isinstance(x, OSError) and x.errno == errno.ENOSPC:
            return True
        if "No space left on device" in str(x):
            return True
        stack.extend([x.__cause__, x.__context__, *getattr(x, "exceptions", ())])
    return False


def _is_key(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _is_empty(x: Any) -> bool:
    # Orbax refuses zero-size arrays (MJX data has some, e.g. `act` for models without
    # activations); they hold nothing, so they are stored as None and rebuilt from the target.
    return getattr(x, "size", 1) == 0


def encode_keys(tree: Any) -> Any:
    def leaf(x: Any) -> Any:
        if _is_empty(x):
            return None
        return jax.random.key_data(x) if _is_key(x) else x

    return jax.tree.map(leaf, tree)


def abstract_target(target: Any) -> Any:
    """ShapeDtypeStructs with shardings (keys as their raw uint32 data); numpy leaves stay."""
    default = jax.sharding.SingleDeviceSharding(jax.devices()[0])

    def leaf(x: Any) -> Any:
        if _is_empty(x):
            return None
        if isinstance(x, np.ndarray):
            return x
        shape_dtype = jax.eval_shape(jax.random.key_data, x) if _is_key(x) else x
        sharding = getattr(x, "sharding", None) or default
        return jax.ShapeDtypeStruct(shape_dtype.shape, shape_dtype.dtype, sharding=sharding)

    return jax.tree.map(leaf, target)


def decode_keys(restored: Any, target: Any) -> Any:
    def leaf(t: Any, r: Any) -> Any:
        if _is_empty(t):
            return jax.numpy.zeros(t.shape, t.dtype)
        return jax.random.wrap_key_data(r, dtype=t.dtype) if _is_key(t) else r

    # None (an empty leaf) is a subtree of `restored`, so map over the target's leaves.
    return jax.tree.map(leaf, target, restored, is_leaf=lambda x: x is None)


def json_safe(value: Any) -> Any:
    """numpy -> Python, non-finite floats -> None, so the JSON is strict."""
    return plain(value, non_finite_as_none=True)


def first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}"[:300]
