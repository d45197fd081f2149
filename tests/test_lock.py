"""Run dir lock: one process at a time, stale locks of killed processes taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from ddpg_jax import run_dir, run_lock
from ddpg_jax.run_dir import RunDirError

HOLDER = textwrap.dedent(
    """
    import sys, time
    from ddpg_jax import run_lock
    held = run_lock.acquire(sys.argv[1])
    print("locked", flush=True)
    if sys.argv[2] == "wait":
        time.sleep(60)
    """
)


def _start_holder(directory, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(directory), mode], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


@pytest.fixture
def rd(tmp_path):
    return run_dir.create(tmp_path / "run", "hopper")


def test_second_lock_names_the_live_holder_then_takes_over_when_it_is_killed(rd):
    holder = _start_holder(rd.root, "wait")
    try:
        with pytest.raises(RunDirError) as err:
            run_lock.acquire(rd)
        message = str(err.value)
        assert message.startswith(f"run dir {rd.root} is in use by process {holder.pid} (started ")
        assert message.endswith("; wait for it or stop it") and "\n" not in message
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with run_lock.acquire(rd) as taken:
            assert taken.note is not None and f"process {holder.pid}" in taken.note
            assert json.loads(rd.lock_path.read_text())["pid"] == os.getpid()
    finally:
        holder.kill()
        holder.wait()


def test_same_process_cannot_lock_twice_and_release_frees_it(rd):
    first = run_lock.acquire(rd)
    assert first.note is None and first.held
    with pytest.raises(RunDirError, match=f"in use by process {os.getpid()}"):
        run_lock.acquire(rd.root)
    first.release()
    first.release()  # idempotent
    assert not first.held and not rd.lock_path.exists()  # a clean release leaves no debris
    with run_lock.acquire(rd) as second:
        assert second.note is None
    assert not rd.lock_path.exists()


def test_lock_is_released_when_the_holder_exits(rd):
    holder = _start_holder(rd.root, "exit")  # exits without calling release()
    assert holder.wait() == 0
    with run_lock.acquire(rd) as taken:  # the kernel dropped the flock with the process
        assert f"process {holder.pid}" in taken.note


def test_lock_of_a_missing_dir_is_a_run_dir_error(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        run_lock.acquire(tmp_path / "missing")
