"""The benchmark scripts: their bookkeeping on made-up records (fast), the GPU run script's
stage budgets, and each script end to end at tiny sizes on the CPU (slow)."""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import peer_loop  # noqa: E402
import train_speed  # noqa: E402

GPU_RUN = ROOT / "benchmarks" / "gpu_run.sh"
TINY_PEER = ["--total-steps=600", "--warmup-steps=200", "--log-every=100"]


def tiny_peer_args() -> argparse.Namespace:
    return argparse.Namespace(
        batch_size=32, buffer_size=1000, warmup_steps=200, total_steps=600, log_every=100, seed=0
    )


def test_learning_rate_skips_the_compile_and_the_end():
    steps = [0, 100, 200, 300, 400, 500, 600]
    walls = [0.0, 1.0, 2.0, 30.0, 31.0, 33.0, 60.0]  # compile after 200, evaluation at 600
    # learning rows: 300, 400, 500, 600 -> from 400 to 500
    assert peer_loop.learning_rate(steps, walls, warmup=200) == pytest.approx(100 / 2.0)
    with pytest.raises(ValueError, match="too few"):
        peer_loop.learning_rate(steps[:5], walls[:5], warmup=200)


def test_ours_resolves_to_the_peers_learner():
    """Every learner setting of ours comes from a flag equal to the peer's Config (none from
    the preset, which the peer does not read)."""
    args = tiny_peer_args()
    setting = peer_loop.OURS[1]
    command = peer_loop.ours_command(args, setting, "/nonexistent/run") + ["--print_config"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    config = out.split("# algorithm (Config)", 1)[1]
    resolved = {}
    for line in config.strip().splitlines():
        name, rest = line.split(":", 1)
        value, source = rest.rsplit("#", 1)
        resolved[name.strip()] = (value.strip(), source.strip())
    cfg = peer_loop.learner_config(args, **setting)
    for name, (value, source) in resolved.items():
        assert not source.startswith("preset"), (name, source)
        assert value == str(getattr(cfg, name)), name


def test_train_speed_reads_rates_from_the_run_dir(tmp_path, monkeypatch):
    run = tmp_path / "run"

    def fake_train(command, **_):
        run.mkdir()
        (run / "config.yaml").write_text("config:\n  updates_per_step: 4\n  batch_size: 64\n")
        rows = ["env_step,seed,wall_time,critic_loss"]
        for step, wall in [(0, 1.0), (40, 9.0), (80, 10.0), (120, 11.5), (160, 20.0)]:
            rows += [f"{step},0,{wall},0.1", f"{step},1,{wall},0.2"]
        (run / "metrics.csv").write_text("\n".join(rows) + "\n")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(train_speed.subprocess, "run", fake_train)
    monkeypatch.setattr(train_speed.tempfile, "TemporaryDirectory", lambda **_: _Dir(tmp_path))
    args = argparse.Namespace(
        env="hopper", backend="mujoco", iterations=10, chunks=4, train_args=["--tau=0.01"]
    )
    result = train_speed.training(args, num_envs=4, num_seeds=2)
    # chunks after the first and before the evaluating last: 1.0 s and 1.5 s -> median 1.25
    assert result["env_steps_per_s"] == pytest.approx(10 * 4 * 2 / 1.25)
    assert result["updates_per_s"] == pytest.approx(10 * 4 / 1.25)
    assert result["first_chunk_s"] == pytest.approx(8.0)
    command = train_speed.train_command(args, 4, 2, "DIR")
    assert "--total_steps=160" in command and "--log_every=40" in command
    assert command[-2:] == ["--out=DIR", "--tau=0.01"]


class _Dir:
    def __init__(self, path):
        self.path = str(path)

    def __enter__(self):
        return self.path

    def __exit__(self, *_):
        return False


def test_gpu_run_budgets_fit_eight_minutes():
    """The stages in line, each with its kill grace, end within 8 minutes; the evaluation in
    the background ends before the stages it overlaps."""
    text = GPU_RUN.read_text()
    subprocess.run(["bash", "-n", str(GPU_RUN)], check=True)
    budget = {name: int(s) for name, s in re.findall(r"\"\$\{(B_\w+):-(\d+)\}\"", text)}
    assert set(budget) == {
        "B_INSTALL", "B_MACHINE", "B_TRAIN", "B_EVALUATE", "B_ENV", "B_TRAIN_SPEED", "B_PACK"
    }  # fmt: skip
    speed_stages = len(re.search(r"^SPEED_SEEDS=\$\{SPEED_SEEDS:-(.*)\}$", text, re.M)[1].split())
    grace = int(re.search(r"^KILL_AFTER=(\d+)", text, re.M)[1])
    in_line = ["B_INSTALL", "B_MACHINE", "B_TRAIN", "B_ENV", "B_PACK"]
    in_line += ["B_TRAIN_SPEED"] * speed_stages
    assert sum(budget[b] + grace for b in in_line) <= 8 * 60
    overlapped = budget["B_ENV"] + speed_stages * budget["B_TRAIN_SPEED"]
    assert budget["B_EVALUATE"] + grace <= overlapped


@pytest.mark.slow
def test_gpu_run_smoke_end_to_end(tmp_path):
    """`SMOKE=1 gpu_run.sh all` from an empty $OUT: every stage succeeds, at most 8 files come
    back, none deeper than two folders, and the records hold the evaluation."""
    out = tmp_path / "out"
    env = {**os.environ, "SMOKE": "1", "OUT": str(out)}
    subprocess.run(["bash", str(GPU_RUN), "all"], cwd=ROOT, env=env, check=True, timeout=1500)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert 0 < len(files) <= 8
    assert all(len(p.relative_to(out).parts) <= 3 for p in files)
    stages = [line.split("\t") for line in (out / "stages.tsv").read_text().splitlines()]
    assert [s[0] for s in stages if s[1] != "0"] == [], stages
    with tarfile.open(out / "records.tgz") as tar:
        names = tar.getnames()
    assert any("/evaluations/" in n for n in names), names
    assert "| hopper | 4 |" in (out / "env_speed.md").read_text()
    assert "| 4 | 2 |" in (out / "train_speed.md").read_text()


@pytest.mark.slow
def test_peer_loop_tiny():
    command = [sys.executable, str(ROOT / "benchmarks" / "peer_loop.py"), *TINY_PEER]
    command += ["--batch-size=32", "--rounds=1"]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    rows = [line for line in out.splitlines() if line.startswith("| peer") or "| ours" in line]
    assert len(rows) == 3, out
    assert "machine:" in out and "load before:" in out
    floor = re.search(r"Compute floor: the learner's update is ([\d.]+) MFLOP", out)
    # Hopper's learner at batch 32: 1/8 of the 263.2 MFLOP the jaxpr counts at batch 256
    assert floor and abs(float(floor.group(1)) - 263.2 / 8) < 0.5, out


def _rates(out: str, pattern: str) -> list[float]:
    return [float(x) for line in out.splitlines() for x in re.findall(pattern, line)]


def _run_benchmark(script: str, *args: str) -> str:
    command = [sys.executable, script, *args]
    return subprocess.run(
        command, cwd=ROOT / "benchmarks", capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.slow
def test_unvmapped_tiny():
    out = _run_benchmark("unvmapped.py", "--updates=2", "--rounds=1")
    rates = _rates(out, r"^(?:vmap|plain) critics, (?:vmap|one) seed\s+(\d+) updates/s")
    assert len(rates) == 3 and all(r > 0 for r in rates), out
    assert "twin_critics=True" in out and "machine:" in out


@pytest.mark.slow
def test_xla_cpu_flags_tiny():
    out = _run_benchmark("xla_cpu_flags.py", "--batches=16", "--updates=2")
    rows = [line for line in out.splitlines() if re.match(r"\| (embed|concat)", line)]
    assert len(rows) == 2, out
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 6 and all(float(c) > 0 for c in cells[2:]), row
