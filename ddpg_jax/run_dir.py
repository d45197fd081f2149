"""Layout of a run directory, shared by train and evaluate: paths, creation, config.yaml.

```
runs/<env>-<YYYYmmdd-HHMMSS>/
  config.yaml    # `config:` (every Config field) + run metadata (env, backend, ...) at top level
  metrics.csv    # one row per (env_step, seed); see ddpg_jax.metrics_log
  tb/            # TensorBoard event files; see ddpg_jax.metrics_log
  checkpoints/   # orbax checkpoints; see ddpg_jax.checkpoint
  evaluations/   # one JSON per `ddpg_jax.evaluate` call; see ddpg_jax.report
  .lock          # while a process trains in it: its PID, host and start; see ddpg_jax.run_lock
```
A directory is a run dir when it holds `config.yaml`. Every failure is a `RunDirError` whose
one-line message says what is wrong and what to do; the CLIs turn it into exit status 2.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
import os
import pathlib
import tempfile
from typing import Any

import numpy as np
import yaml

from ddpg_jax.cli import UsageError
from ddpg_jax.config import Config, ConfigError

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.csv"
TB_DIR = "tb"
CHECKPOINTS_DIR = "checkpoints"
EVALUATIONS_DIR = "evaluations"
LOCK_FILE = ".lock"
DEFAULT_ROOT = "runs"
FORMAT_VERSION = 1
"""Written to config.yaml as `run_dir_format`; bump when the layout changes incompatibly."""

_CONFIG_KEY = "config"
_VERSION_KEY = "run_dir_format"


class RunDirError(Exception):
    """A run directory is missing, not a run dir, already used, or has an unreadable config."""


@dataclasses.dataclass(frozen=True)
class RunDir:
    """The paths of one run directory (nothing is created or checked by this class)."""

    root: pathlib.Path

    @property
    def config_path(self) -> pathlib.Path:
        return self.root / CONFIG_FILE

    @property
    def metrics_path(self) -> pathlib.Path:
        return self.root / METRICS_FILE

    @property
    def tb_dir(self) -> pathlib.Path:
        return self.root / TB_DIR

    @property
    def checkpoints_dir(self) -> pathlib.Path:
        return self.root / CHECKPOINTS_DIR

    @property
    def evaluations_dir(self) -> pathlib.Path:
        return self.root / EVALUATIONS_DIR

    @property
    def lock_path(self) -> pathlib.Path:
        return self.root / LOCK_FILE

    def __str__(self) -> str:
        return str(self.root)


def default_path(env_name: str, now: datetime.datetime | None = None) -> pathlib.Path:
    """`runs/<env>-<YYYYmmdd-HHMMSS>`, relative to the working directory."""
    now = now or datetime.datetime.now()
    return pathlib.Path(DEFAULT_ROOT) / f"{env_name}-{now:%Y%m%d-%H%M%S}"


def create(
    out_dir: str | os.PathLike | None, env_name: str, now: datetime.datetime | None = None
) -> RunDir:
    """Create a fresh run dir (with `tb/` and `checkpoints/`) and return its paths.

    `out_dir=None` means `default_path(env_name)`; if two runs start in the same second the
    second one gets a `-1`, `-2`, ... suffix. An explicit `out_dir` may exist only if empty.
    """
    if out_dir is None:
        base = default_path(env_name, now)
        root, n = base, 0
        while root.exists() and _non_empty(root):
            n += 1
            root = base.with_name(f"{base.name}-{n}")
    else:
        root = pathlib.Path(out_dir)
        if root.exists() and not root.is_dir():
            raise RunDirError(f"run directory {root} is a file; choose another --out")
        if root.exists() and _non_empty(root):
            what = "a previous run" if (root / CONFIG_FILE).exists() else "files"
            raise RunDirError(
                f"run directory {root} already holds {what}; choose a new --out "
                "(or resume that run instead of starting a new one)"
            )
    run_dir = RunDir(root)
    try:
        run_dir.tb_dir.mkdir(parents=True, exist_ok=True)
        run_dir.checkpoints_dir.mkdir(exist_ok=True)
    except OSError as e:
        raise RunDirError(f"cannot create run directory {root}: {e.strerror or e}") from e
    return run_dir


def open_existing(path: str | os.PathLike) -> RunDir:
    """The paths of an existing run dir (e.g. to resume or evaluate it); checks it is one."""
    root = pathlib.Path(path)
    if not root.exists():
        raise RunDirError(
            f"run directory {root} does not exist; pass a directory made by train "
            f"(like {DEFAULT_ROOT}/<env>-<YYYYmmdd-HHMMSS>)"
        )
    if not root.is_dir():
        raise RunDirError(f"{root} is a file, not a run directory; pass the run's directory")
    if not (root / CONFIG_FILE).is_file():
        raise RunDirError(
            f"{root} is not a run directory (no {CONFIG_FILE}); pass a directory made by train"
        )
    return RunDir(root)


def run_dirs_under(path: str | os.PathLike) -> list[pathlib.Path]:
    """The run dirs `path` names: `[path]` when it is one, else its subfolders that are (a
    sweep's `--out`, or a folder of runs), sorted; `[]` when there are none."""
    root = pathlib.Path(path)
    if (root / CONFIG_FILE).is_file():
        return [root]
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.glob(f"*/{CONFIG_FILE}"))


def save_config(run_dir: RunDir, cfg: Config, extra: dict[str, Any] | None = None) -> None:
    """Write `config.yaml`: the keys of `extra` (env, backend, seed, versions, ...) at top
    level, then every `Config` field under `config:`. Written atomically (temp file + rename).
    """
    extra = dict(extra or {})
    reserved = {_CONFIG_KEY, _VERSION_KEY} & set(extra)
    if reserved:
        raise ValueError(f"extra keys {sorted(reserved)} are reserved by the run dir format")
    doc = {_VERSION_KEY: FORMAT_VERSION, **plain(extra), _CONFIG_KEY: cfg.to_dict()}
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    atomic_write(run_dir.config_path, text)


def read_for_cli(path: str | os.PathLike) -> tuple[RunDir, Config, dict[str, Any]]:
    """`open_existing` and `load_config` for a command line: a path that is not a readable run
    dir is a `UsageError` (one line, exit status 2)."""
    try:
        found = open_existing(path)
        cfg, extra = load_config(found)
    except RunDirError as e:
        raise UsageError(str(e)) from None
    return found, cfg, extra


def load_config(run_dir: RunDir) -> tuple[Config, dict[str, Any]]:
    """Read `config.yaml` back: the validated `Config` and the extra run metadata."""
    path = run_dir.config_path
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise RunDirError(f"{path} is missing; is {run_dir.root} a run directory?") from e
    except (OSError, yaml.YAMLError) as e:
        msg = " ".join(str(e).split())
        raise RunDirError(f"cannot read {path} ({msg}); fix or restore that file") from e
    if not isinstance(doc, dict) or not isinstance(doc.get(_CONFIG_KEY), dict):
        raise RunDirError(f"{path} has no '{_CONFIG_KEY}:' mapping; fix or restore that file")
    version = doc.pop(_VERSION_KEY, FORMAT_VERSION)
    if version != FORMAT_VERSION:
        raise RunDirError(
            f"{path} has run_dir_format {version!r} but this code reads {FORMAT_VERSION}; "
            "use the ddpg-jax version that wrote the run"
        )
    try:
        cfg = Config.from_dict(doc.pop(_CONFIG_KEY))
    except ConfigError as e:
        raise RunDirError(f"{path}: {e}") from e
    return cfg, doc


def label(run_dir: RunDir, extra: dict[str, Any]) -> str:
    """How tables and plots name a run: a sweep variant's `variant`, else the dir's name."""
    return str(extra.get("variant") or run_dir.root.absolute().name)


def save_evaluation(run_dir: RunDir, doc: dict[str, Any]) -> pathlib.Path:
    """Write one `ddpg_jax.evaluate` result (its JSON document) under `evaluations/`.

    The name says what was evaluated, so repeating an evaluation replaces its file while a
    different checkpoint, seed selection or episode set gets its own."""
    seeds = [row["seed_index"] for row in doc["seeds"]]
    which = "all" if seeds == list(range(doc.get("num_seeds", -1))) else "-".join(map(str, seeds))
    episodes = doc["episode_seeds"]
    name = (
        f"step{doc['checkpoint_step']:09d}_seeds-{which}_episodes-{len(episodes)}"
        f"-from{episodes[0]}_limit{doc['max_episode_steps']}.json"
    )
    try:
        run_dir.evaluations_dir.mkdir(exist_ok=True)
        path = run_dir.evaluations_dir / name
        atomic_write(path, json.dumps(plain(doc), indent=1) + "\n")
    except OSError as e:
        raise RunDirError(f"cannot save the evaluation in {run_dir.evaluations_dir}: {e}") from e
    return path


def load_evaluations(run_dir: RunDir) -> list[dict[str, Any]]:
    """Every saved evaluation of the run, oldest checkpoint first; unreadable files skipped."""
    docs = []
    for path in sorted(run_dir.evaluations_dir.glob("*.json")):
        try:
            docs.append({**json.loads(path.read_text()), "path": str(path)})
        except (OSError, ValueError):
            continue
    return docs


def _non_empty(path: pathlib.Path) -> bool:
    return path.is_dir() and any(path.iterdir())


def atomic_write(path: pathlib.Path, text: str) -> None:
    """Write atomically (a temporary file, fsync, rename): a crash leaves the old file or the
    whole new one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def plain(value: Any, non_finite_as_none: bool = False) -> Any:
    """numpy scalars and arrays, paths and tuples as the plain Python that `yaml.safe_dump` and
    `json.dumps` write; with `non_finite_as_none`, inf and NaN as None (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): plain(v, non_finite_as_none) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, non_finite_as_none) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist(), non_finite_as_none)
    if isinstance(value, np.generic):
        value = value.item()
    if non_finite_as_none and isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
