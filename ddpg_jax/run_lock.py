"""Exclusive use of a run dir by one process (train and resume), with a message naming the
live holder when another process has it."""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import pathlib
import socket
from typing import Any

from ddpg_jax.run_dir import LOCK_FILE, RunDir, RunDirError


class RunLock:
    """Exclusive use of a run dir by this process, from `acquire()` until `release()`.

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
            # sees that the path no longer names it and starts over (see `acquire`).
            self.path.unlink(missing_ok=True)
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    # No __del__: a lock object dropped by mistake keeps its descriptor, so the run dir stays
    # locked until the process exits rather than being freed under a running loop.


def acquire(directory: RunDir | str | os.PathLike) -> RunLock:
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
