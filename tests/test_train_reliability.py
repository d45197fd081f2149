"""Nothing lost, nothing silently wrong: interrupts save at the end of the running chunk, a run
dir is locked while in use, budgets stop cleanly, resumes keep their grid and refuse what they
cannot honour, warm-up restarts without a buffer, evaluation keys never equal init keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from ddpg_jax import interrupts, run_dir, run_setup, train
from ddpg_jax.checkpoint import CheckpointStore
from ddpg_jax.host_loop import EXIT_INTERRUPTED
from ddpg_jax.metrics_log import read_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = [
    "--env=inverted_pendulum",
    "--num_envs=2",
    "--num_seeds=1",
    "--hidden_dim=16",
    "--batch_size=32",
    "--warmup_steps=100",
    "--updates_per_step=1",
    "--eval_episodes=1",
    "--episode_length=50",
]


def _steps(out) -> list[int]:
    store = CheckpointStore(run_dir.open_existing(out), read_only=True, async_save=False)
    try:
        return store.all_steps()
    finally:
        store.close()


def _start(out, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ddpg_jax.train", f"--out={out}", *TINY, *extra],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
        cwd=ROOT,
    )


def _read_until(proc: subprocess.Popen, needle: str, timeout: float = 300) -> list[str]:
    lines, deadline = [], time.time() + timeout
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not seen (exit {proc.poll()}) in:\n{''.join(lines)}")


def test_sigterm_is_handled_like_ctrl_c():
    with interrupts.Interrupts() as received:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # the handler runs at the next bytecode boundary
        assert received.received == "SIGTERM" and received.exit_code == 143
        with pytest.raises(KeyboardInterrupt):  # a second signal stops at once
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.1)
    handler = signal.getsignal(signal.SIGTERM)
    assert getattr(handler, "__func__", None) is not interrupts.Interrupts._handle


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130)])
def test_interrupt_is_answered_at_once_and_saves_at_the_chunk_end(tmp_path, capsys, sig, code):
    out = tmp_path / "run"
    # Long chunks (2000 vectorised steps with an update each), far more than one needs.
    proc = _start(out, "--total_steps=400000", "--log_every=4000", "--eval_every=400000")
    try:
        _read_until(proc, "4,000/400,000")  # the first chunk ended; the second is running
        # The run dir is locked while the run uses it: a second process is refused.
        assert train.main([f"--resume={out}"]) == 2
        err = capsys.readouterr().err
        assert f"in use by process {proc.pid}" in err and err.count("\n") == 1
        time.sleep(0.5)  # mid-chunk: on the CPU a chunk with host callbacks runs inside its call
        t0 = time.time()
        proc.send_signal(sig)
        _read_until(proc, f"{signal.Signals(sig).name} received", timeout=5)
        assert time.time() - t0 < 1, "the interrupt was not answered at once"
        rest = proc.stderr.read()
        assert proc.wait(timeout=300) == code, rest
    finally:
        proc.kill()
    assert "checkpoint saved at env step" in rest and "--resume" in rest
    steps = _steps(out)
    last = int(read_metrics(run_dir.open_existing(out))["env_step"].max())
    assert steps and steps[-1] == last >= 8000 and last % 4000 == 0
    assert (
        not (out / ".lock").exists() or train.main([f"--resume={out}", "--max_minutes=0.001"]) == 0
    )


@pytest.mark.slow  # its own compile; the first interrupt is checked above (suite budget)
def test_a_second_interrupt_stops_at_once(tmp_path):
    out = tmp_path / "run"
    proc = _start(out, "--total_steps=400000", "--log_every=4000", "--eval_every=400000")
    try:
        _read_until(proc, "4,000/400,000")
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _read_until(proc, "SIGINT received", timeout=5)
        t0 = time.time()
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=30) == EXIT_INTERRUPTED, rest
        assert time.time() - t0 < 5, "the second interrupt did not stop the run at once"
    finally:
        proc.kill()
    assert "stopped at once" in rest and "Fatal" not in rest, rest


def test_budget_stops_after_the_chunk_that_passes_it(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        *TINY,
        f"--out={out}",
        "--total_steps=100000",
        "--log_every=200",
        "--max_minutes=0.0001",
    ]
    assert train.main(argv) == 0
    err = capsys.readouterr().err
    assert "stopped at the --max_minutes=0.0001 budget at env step" in err
    rows = read_metrics(run_dir.open_existing(out))
    last = int(rows["env_step"].max())
    assert last < 100000 and _steps(out)[-1] == last
    assert np.isfinite(rows["eval_return"][rows["env_step"] == last]).all()  # evaluated at stop


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished tiny run whose intervals were derived from its total (0 = default)."""
    out = tmp_path_factory.mktemp("fin") / "run"
    argv = [*TINY, f"--out={out}", "--total_steps=600", "--log_every=0", "--eval_every=0"]
    assert train.main(argv) == 0
    return out


def test_resume_with_a_larger_total_keeps_the_grid(finished, tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished, out)
    assert train.main([f"--resume={out}", "--total_steps=1400"]) == 0
    rows = read_metrics(run_dir.open_existing(out))
    steps, returns = rows["env_step"], rows["eval_return"]
    evaluated = sorted({int(s) for s, r in zip(steps, returns, strict=True) if r == r})
    assert evaluated == [*range(0, 1400, 60), 1400]  # every 60 steps, across the resume
    assert _steps(out)[-1] == 1400
    wall = rows["wall_time"]
    assert np.all(np.diff(wall) >= 0), "wall-clock restarted at the resume"


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--out=/tmp/elsewhere"], "--out cannot be given with it"),
        (["--config=configs/hopper.yaml"], "--config cannot be given with it"),
        (["--total_steps=400"], "already at env step 600"),
        (["--tau=0.1"], "only --total_steps and --max_minutes"),
    ],
)
def test_resume_refuses_what_it_cannot_honour(finished, capsys, argv, expected):
    before = (finished / "config.yaml").read_text()
    assert train.main([f"--resume={finished}", *argv]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert (finished / "config.yaml").read_text() == before


@pytest.mark.slow  # its own compiled run; resume itself is in tests/test_train.py (budget)
def test_resume_without_buffer_warms_up_again(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*TINY, f"--out={out}", "--total_steps=400", "--log_every=100", "--eval_every=200"]
    assert train.main(argv) == 0
    capsys.readouterr()
    assert train.main([f"--resume={out}", "--total_steps=800"]) == 0
    assert "warm-up restarts" in capsys.readouterr().err
    rows = read_metrics(run_dir.open_existing(out))
    first_after = rows["critic_loss"][rows["env_step"] == 500]
    assert np.isnan(first_after).all()  # 100 warm-up env steps again: no update in 400..500
    assert np.isfinite(rows["critic_loss"][rows["env_step"] == 600]).all()


def test_memory_guard_runs_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train.main(["--buffer_size=200000000000", "--num_seeds=50"]) == 2
    assert "lower --buffer_size" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_eval_keys_never_equal_init_keys():
    init_root, eval_root = run_setup.run_keys(0)
    init = {tuple(np.asarray(jax.random.key_data(k))) for k in jax.random.split(init_root, 8)}
    for step in (0, 1, 2, 1000):
        keys = jax.random.split(jax.random.fold_in(eval_root, step), 8)
        assert not init & {tuple(np.asarray(jax.random.key_data(k))) for k in keys}
    # The collision this replaces: fold_in(key(seed), 1) is seed 1's init key under the old
    # scheme (split(key(seed), n)), with the partitionable threefry JAX uses.
    old_init = jax.random.split(jax.random.key(0), 8)
    old_eval = jax.random.fold_in(jax.random.key(0), 1)
    assert np.array_equal(jax.random.key_data(old_init[1]), jax.random.key_data(old_eval))


def test_resume_of_a_run_with_an_unknown_env_is_one_line(finished, tmp_path, capsys):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(finished, out)
    text = (out / "config.yaml").read_text().replace("env: inverted_pendulum", "env: humanoid")
    (out / "config.yaml").write_text(text)
    assert train.main([f"--resume={out}"]) == 2
    err = capsys.readouterr().err
    assert "config.yaml" in err and "humanoid" in err and err.count("\n") == 1
