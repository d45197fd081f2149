"""Per-seed training metrics of a run: `metrics.csv` plus TensorBoard scalars under `tb/`.

CSV: one row per (env_step, seed) with columns `env_step, seed, wall_time, <metric names>`.
The columns (every known metric in `METRIC_ORDER`, then others given in the first `log`)
are fixed by the first `log` of a new file (or read from the header of an existing
one); a missing or NaN value is written as an empty cell, and a metric that is not a column is
dropped from the CSV with one warning (TensorBoard still gets it). Every `log` flushes both
files, so a crash loses at most the row block being written.

TensorBoard: tags `seed_<i>/<name>` for each seed and `mean/<name>` for the NaN-ignoring mean
over seeds, at step `env_step`; non-finite values are skipped.

Resuming from a checkpoint at env step S: `MetricsLogger(run_dir, resume_step=S)` drops CSV
rows after S (they belong to the abandoned continuation) and tells TensorBoard to discard events
after S, so curves do not fold back on themselves. The wall clock continues too: `wall_offset`
is the wall time of the last row kept, and `log` adds it to the `wall_time` it is given
(seconds since this process started training), so `wall_time` in the CSV is the run's total.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
import warnings
from collections.abc import Mapping

import numpy as np

from ddpg_jax.run_dir import RunDir

INDEX_COLUMNS = ("env_step", "seed", "wall_time")
METRIC_ORDER = (
    "critic_loss",
    "actor_loss",
    "q_mean",
    "target_q_mean",
    "train_episode_return",
    "train_episode_length",
    "eval_return",
    "eval_return_std",
    "eval_length",
    "noise_scale",
    "train_episodes",
)
"""Known metrics come first in this order; others follow in the order first given."""


class MetricsLogger:
    """Appends metric rows to `metrics.csv` and scalars to TensorBoard; use as a context manager
    or call `close()`."""

    def __init__(self, run_dir: RunDir, resume_step: int | None = None, tensorboard: bool = True):
        self._path = run_dir.metrics_path
        self._columns: list[str] | None = None
        self._warned: set[str] = set()
        self.wall_offset = 0.0
        """Seconds of training before this process: on resume, the last kept row's wall time."""
        if self._path.exists() and self._path.stat().st_size > 0:
            _drop_partial_last_line(self._path)
            if resume_step is not None:
                _truncate_after(self._path, resume_step)
            with open(self._path, newline="") as f:
                rows = list(csv.reader(f))
            if rows and rows[0]:
                self._columns = rows[0]
                if resume_step is not None:
                    self.wall_offset = _last_wall_time(rows)
        self._file = open(self._path, "a", newline="")  # noqa: SIM115 - closed in close()
        self._csv = csv.writer(self._file)
        self._tb = None
        if tensorboard:
            from tensorboardX import SummaryWriter

            purge = None if resume_step is None else resume_step + 1
            self._tb = SummaryWriter(logdir=str(run_dir.tb_dir), purge_step=purge)

    @property
    def columns(self) -> list[str] | None:
        """The CSV columns, or None before the first row of a new file."""
        return None if self._columns is None else list(self._columns)

    def log(self, env_step: int, per_seed: Mapping[str, np.ndarray], wall_time: float) -> None:
        """Log one row per seed. `per_seed[name]` is `[num_seeds]` (or a scalar, broadcast).

        `wall_time`: seconds since this process started training; `wall_offset` is added."""
        wall_time = self.wall_offset + float(wall_time)
        values = {k: np.atleast_1d(np.asarray(v, np.float64)) for k, v in per_seed.items()}
        sizes = {v.shape[0] for v in values.values() if v.ndim == 1 and v.shape[0] != 1}
        if len(sizes) > 1 or any(v.ndim != 1 for v in values.values()):
            shapes = {k: v.shape for k, v in values.items()}
            raise ValueError(f"per-seed metrics must all be [num_seeds] arrays, got {shapes}")
        num_seeds = sizes.pop() if sizes else 1
        values = {k: np.broadcast_to(v, (num_seeds,)) for k, v in values.items()}

        if self._columns is None:
            known = list(METRIC_ORDER)  # all of them, so later evals have their columns
            others = [m for m in values if m not in METRIC_ORDER]
            self._columns = [*INDEX_COLUMNS, *known, *others]
            self._csv.writerow(self._columns)
        dropped = sorted(set(values) - set(self._columns) - self._warned)
        if dropped:
            self._warned.update(dropped)
            warnings.warn(
                f"metrics {dropped} are not columns of {self._path} (fixed at its first row); "
                "they go to TensorBoard only",
                stacklevel=2,
            )
        for seed in range(num_seeds):
            row = {"env_step": int(env_step), "seed": seed, "wall_time": f"{wall_time:.3f}"}
            for name, v in values.items():
                row[name] = _cell(v[seed])
            self._csv.writerow([row.get(c, "") for c in self._columns])
        self._file.flush()

        if self._tb is not None:
            for name, v in values.items():
                for seed in range(num_seeds):
                    if math.isfinite(v[seed]):
                        self._tb.add_scalar(f"seed_{seed}/{name}", v[seed], env_step, wall_time)
                finite = v[np.isfinite(v)]
                if finite.size:
                    self._tb.add_scalar(f"mean/{name}", finite.mean(), env_step, wall_time)
            self._tb.flush()

    def flush(self) -> None:
        self._file.flush()
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_metrics(run_dir: RunDir) -> dict[str, np.ndarray]:
    """All columns of `metrics.csv`: `env_step`/`seed` as int64, the rest float64 (NaN where
    empty). An empty or missing file gives an empty dict."""
    if not run_dir.metrics_path.exists():
        return {}
    with open(run_dir.metrics_path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header, body = rows[0], [r for r in rows[1:] if len(r) == len(rows[0])]
    out: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        col = [r[j] for r in body]
        if name in ("env_step", "seed"):
            out[name] = np.array([int(x) for x in col], np.int64)
        else:
            out[name] = np.array([float(x) if x else np.nan for x in col], np.float64)
    return out


def _last_wall_time(rows: list[list[str]]) -> float:
    """The wall time of the last complete row (0 when there is none)."""
    header = rows[0]
    if "wall_time" not in header:
        return 0.0
    j = header.index("wall_time")
    for row in reversed(rows[1:]):
        if len(row) == len(header):
            try:
                value = float(row[j])
            except ValueError:
                continue
            if math.isfinite(value):
                return value
    return 0.0


def _cell(x: float) -> str:
    return repr(float(x)) if math.isfinite(x) else ""


def _truncate_after(path: os.PathLike, step: int) -> None:
    """Rewrite the CSV without rows whose env_step > step (atomically)."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    keep = [
        r
        for r in body
        if r
        and len(r) == len(header)
        and _int_or_none(r[0]) is not None
        and _int_or_none(r[0]) <= step
    ]
    if len(keep) == len(body):
        return
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(keep)
    os.replace(tmp, path)


def _drop_partial_last_line(path: os.PathLike) -> None:
    """Cut a last line that a crash left without its newline, so appends start a fresh row."""
    with open(path, "rb+") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 65536))
        tail = f.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        f.truncate(size - len(tail) + cut + 1 if cut >= 0 else (size if size > 65536 else 0))


def _int_or_none(s: str) -> int | None:
    try:
        return int(s)
    except ValueError:
        return None
