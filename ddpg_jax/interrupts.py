"""Ctrl-C and SIGTERM during training: the first is answered at once and honoured at the end of
the running chunk, a second one stops at once, and the process then leaves without waiting
for work it abandoned."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import jax

from ddpg_jax.cli import say

_ABANDONED = threading.Event()


class Interrupts:
    """SIGINT and SIGTERM while training: the first is answered at once and honoured at the end
    of the running chunk (which is then checkpointed); a second one stops at once."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        say(
            f"\n{self.received} received: stopping at the end of the running chunk and saving "
            "a checkpoint there (send it again to stop at once, keeping only the last "
            "checkpoint)"
        )

    @property
    def exit_code(self) -> int:
        return 128 + signal.Signals[self.received].value if self.received else 0


def computed(work: Callable[[], Any]) -> Any:
    """`work()` with every array it returns computed, run in a worker thread while this (main)
    thread waits in short joins, so that a signal handler runs within a fraction of a second.
    Waiting on the arrays alone is not enough: on the CPU a program with host callbacks (the C
    MuJoCo backend) runs inside the dispatching call, not after it."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = jax.block_until_ready(work())
        except BaseException as e:  # re-raised in the main thread
            outcome["error"] = e

    # A daemon, so that a second signal (KeyboardInterrupt here) can end the process at once.
    worker = threading.Thread(target=target, name="ddpg-jax-chunk", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except BaseException:  # a second signal: the work goes on, unwanted
        _ABANDONED.set()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def exit_process(code: int) -> None:
    """Ends the process with `code`. After a second signal the abandoned chunk may still be
    computing, or XLA's threads may still be in host callbacks: a normal interpreter exit then
    aborts (SIGABRT in the finaliser), so the process leaves at once (its files are closed)."""
    if _ABANDONED.is_set():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
