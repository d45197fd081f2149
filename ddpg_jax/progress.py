"""Progress of a training run on stderr: a live bar in a terminal, one plain line per chunk
elsewhere (notebooks, CI logs, files), so no output turns into a wall of redrawn bars.

Shown: env steps per seed done of the total, the env steps per second of all seeds together
over the last chunk (the one rate; physics and learning included), the latest evaluation's
mean return (± the spread over seeds when there are 2 or more) and the mean return of the
training episodes that ended in the last chunk (when some did).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from ddpg_jax.formatting import mean_std


def _mean_spread(values: Any) -> str:
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size >= 2:
        return mean_std(np.mean(values), np.std(values), 1)
    return f"{np.mean(values):.1f}"


class Progress:
    """`update(env_step, ...)` after each chunk; `note(text)` prints a message on its own line."""

    def __init__(self, total: int, initial: int, stream: Any = None, live: bool | None = None):
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._total = total
        self._last = min(initial, total)
        self._started = time.time()
        self._bar = None
        self._train: str | None = None
        if self._live:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                initial=self._last,
                unit="step",
                unit_scale=True,
                dynamic_ncols=True,
                file=self._stream,
                mininterval=0,
                smoothing=0.3,
                desc="env steps/seed",
            )

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self._stream)
        else:
            print(text, file=self._stream, flush=True)

    def update(
        self,
        env_step: int,
        eval_return: Any = None,
        train_return: Any = None,
        steps_per_s: float | None = None,
    ) -> None:
        """`steps_per_s`: env steps per second of all seeds together over the last chunk."""
        env_step = min(env_step, self._total)
        fields = {}
        if steps_per_s is not None:
            fields["env steps/s"] = f"{steps_per_s:,.0f}"
        if eval_return is not None:
            fields["eval"] = _mean_spread(eval_return)
        if train_return is not None and np.isfinite(np.asarray(train_return, float)).any():
            self._train = f"{np.nanmean(np.asarray(train_return, float)):.1f}"
        if self._train is not None:
            fields["train ep."] = self._train
        if self._bar is not None:
            self._bar.set_postfix(fields, refresh=False)
            self._bar.update(env_step - self._last)
        else:
            elapsed = time.time() - self._started
            text = ", ".join(f"{k} {v}" for k, v in fields.items())
            print(
                f"[{elapsed:7.1f} s] {env_step:,}/{self._total:,} env steps/seed"
                + (f", {text}" if text else ""),
                file=self._stream,
                flush=True,
            )
        self._last = env_step

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
