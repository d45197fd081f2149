"""Layout of a run directory, shared by train and evaluate: paths, creation, config.yaml.

```
runs/<env>-<YYYYmmdd-HHMMSS>/
  config.yaml    # `config:` (every Config field) + run metadata (env, backend, ...) at top level
  metrics.csv    # one row per (env_step, seed); see ddpg_jax.metrics_log
  tb/            # TensorBoard event files; see ddpg_jax.metrics_log
  checkpoints/   # orbax checkpoints; see ddpg_jax.checkpoint
  evaluations/   # one JSON per `ddpg_jax.evaluate` call; see ddpg_jax.report
  .lock          # while a process trains in it: that process's PID, host and start; see `lock`
```
A directory is a run dir when it holds `config.yaml`. Every failure is a `RunDirError` whose
one-line message says what is wrong and what to do; the CLIs turn it into exit status 2.
"""

from __future__ import annotations

import dataclasses
import datetime
import errno
import fcntl
import json
import os
import pathlib
import socket
import tempfile
from typing import Any

import numpy as np
import yaml

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


class RunLock:
    """Exclusive use of a run dir by this process, from `lock()` until `release()`.

    The lock is an `fcntl.flock` on `<run dir>/.lock`, which the kernel drops when the process
    dies however it dies, so a lock can never outlive its holder. The file also holds the
    holder's PID, host and start time, only so that messages can name it.
    `note` is one line for the user when this lock took over one left by a killed process.
    """

    def __init__(self, path: pathlib.Path, fd: int, note: str | None):
        self.path = path
        self.note = note
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the run dir free; calling it again does nothing."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            # Unlink while still holding the lock: a process that opened the old file meanwhile
            # sees that the path no longer names it and starts over (see `lock`).
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # No __del__: a lock object dropped by mistake keeps its descriptor, so the run dir stays
    # locked until the process exits rather than being freed under a running loop.


def lock(directory: RunDir | str | os.PathLike) -> RunLock:
    """Take the run dir for this process (for train and resume), or raise `RunDirError`
    naming the live process that holds it. A lock left by a killed process is taken over;
    the returned lock's `note` then says so."""
    root = directory.root if isinstance(directory, RunDir) else pathlib.Path(directory)
    if not root.is_dir():
        raise RunDirError(f"run directory {root} does not exist; pass a directory made by train")
    path = root / LOCK_FILE
    for _ in range(100):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as e:
            raise RunDirError(f"cannot lock run directory {root}: {e.strerror or e}") from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = _read_holder(fd)
            os.close(fd)
            if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
                raise RunDirError(f"cannot lock run directory {root}: {e.strerror or e}") from e
            raise RunDirError(
                f"run dir {root} is in use by {_describe(holder)}; wait for it or stop it"
            ) from None
        if _names(path, fd):
            break
        os.close(fd)  # its holder released (and unlinked) it meanwhile: lock the new file
    else:
        raise RunDirError(f"cannot lock run directory {root}: {path} keeps being replaced")
    previous = _read_holder(fd)
    note = None
    if previous is not None:
        note = (
            f"{root} was left locked by {_describe(previous)}, which is no longer "
            "running; taking it over"
        )
    mine = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(mine) + "\n").encode(), 0)
    except OSError as e:
        os.close(fd)
        raise RunDirError(f"cannot write {path}: {e.strerror or e}") from e
    return RunLock(path, fd, note)


def _names(path: pathlib.Path, fd: int) -> bool:
    """Whether `path` is still the file open as `fd`."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _read_holder(fd: int) -> dict[str, Any] | None:
    """The holder record of a lock file: a dict, {} if unreadable, None if the file is empty."""
    try:
        text = os.pread(fd, 4096, 0).decode(errors="replace").strip()
    except OSError:
        return {}
    if not text:
        return None
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def _describe(holder: dict[str, Any] | None) -> str:
    if not holder or "pid" not in holder:
        return "another process"
    host = holder.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    started = f" (started {holder['started']})" if holder.get("started") else ""
    return f"process {holder['pid']}{where}{started}"


def save_config(run_dir: RunDir, cfg: Config, extra: dict[str, Any] | None = None) -> None:
    """Write `config.yaml`: the keys of `extra` (env, backend, seed, versions, ...) at top
    level, then every `Config` field under `config:`. Written atomically (temp file + rename).
    """
    extra = dict(extra or {})
    reserved = {_CONFIG_KEY, _VERSION_KEY} & set(extra)
    if reserved:
        raise ValueError(f"extra keys {sorted(reserved)} are reserved by the run dir format")
    doc = {_VERSION_KEY: FORMAT_VERSION, **_plain(extra), _CONFIG_KEY: cfg.to_dict()}
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)
    atomic_write(run_dir.config_path, text)


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
        atomic_write(path, json.dumps(_plain(doc), indent=1) + "\n")
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


def _plain(value: Any) -> Any:
    """Turn numpy scalars/arrays, paths and tuples into what `yaml.safe_dump` writes."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value
