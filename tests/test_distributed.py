"""The `(seeds, envs)` device mesh on forced CPU devices: meshes that split a seed's envs agree
with one device to float32 rounding, a 2x2 mesh trains two seeds end to end, and a bad
`--mesh` is one line and exit status 2.

XLA fixes the CPU device count when jax is first imported, so every run on four devices is a
subprocess with `XLA_FLAGS=--xla_force_host_platform_device_count=4` (`tests/mesh_probe.py` or
the train command line).
"""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from ddpg_jax import Config, mesh
from ddpg_jax.cli import UsageError

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROBE = ROOT / "tests" / "mesh_probe.py"

# Meshes that split a seed the same way (the same shards) draw the same batches and random
# numbers, and differ only in how float32 sums are grouped: a gradient averaged over devices
# (pmean) against one device's mean over the whole batch. Those roundings (~1e-7 relative)
# feed back through later updates and actions, so the bound is a few orders looser than one
# rounding while far below any change a wrong shard, key or average would make (>1e-2).
TOLERANCE = 1e-5


def _env(devices: int = 4) -> dict[str, str]:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    env["JAX_PLATFORMS"] = "cpu"
    return env


def _probe(tmp_path: pathlib.Path, spec: str, shards: int, seeds: int, n_step: int = 1):
    out = tmp_path / f"{spec}-{shards}-{seeds}-{n_step}.npz"
    args = [sys.executable, str(PROBE), spec, str(shards), str(seeds), str(out), str(n_step)]
    done = subprocess.run(args, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(out))


@pytest.mark.slow  # subprocesses that each compile a training run
@pytest.mark.parametrize("n_step", [1, 3])
def test_one_seed_split_over_1_2_or_4_devices_learns_the_same(tmp_path, n_step):
    """One seed, four replay shards, on 1, 2 and 4 devices along `envs`: the same actor
    after 168 updates, the same train returns and critic loss."""
    runs = {
        spec: _probe(tmp_path, spec, shards=4, seeds=1, n_step=n_step)
        for spec in ("1x1", "1x2", "1x4")
    }
    assert [int(r["devices"]) for r in runs.values()] == [1, 2, 4]
    one = runs["1x1"]
    assert np.all(np.isfinite(one["actor"]))
    for spec in ("1x2", "1x4"):
        np.testing.assert_allclose(
            runs[spec]["actor"], one["actor"], rtol=TOLERANCE, atol=TOLERANCE
        )
        np.testing.assert_allclose(runs[spec]["critic_loss"], one["critic_loss"], rtol=TOLERANCE)
        np.testing.assert_allclose(runs[spec]["returns"], one["returns"], rtol=TOLERANCE)


@pytest.mark.slow  # subprocesses that each compile a training run
def test_two_seeds_on_a_2x2_mesh_match_the_seeds_on_one_row(tmp_path):
    """Splitting the seeds over devices changes nothing: 2x2 equals 1x2 (same shards), and
    the two seeds differ from each other."""
    square = _probe(tmp_path, "2x2", shards=2, seeds=2)
    row = _probe(tmp_path, "1x2", shards=2, seeds=2)
    assert int(square["devices"]) == 4
    np.testing.assert_allclose(square["actor"], row["actor"], rtol=TOLERANCE, atol=TOLERANCE)
    assert not np.allclose(square["actor"][0], square["actor"][1])


TINY = [
    "--env=inverted_pendulum",
    "--num_seeds=2",
    "--num_envs=4",
    "--batch_size=32",
    "--buffer_size=4096",
    "--hidden_dim=16",
    "--warmup_steps=256",
    "--updates_per_step=1",
    "--total_steps=2000",
    "--log_every=1000",
    "--eval_every=1000",
    "--eval_episodes=2",
    "--episode_length=100",
]


def _train(*args: str, devices: int = 4) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ddpg_jax.train", *args]
    return subprocess.run(
        command, env=_env(devices), cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow  # subprocesses that each compile a training run
def test_the_train_command_on_a_2x2_mesh_logs_and_checkpoints_both_seeds(tmp_path):
    done = _train(*TINY, "--mesh=2x2", f"--out={tmp_path / 'run'}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "mesh 2x2 (seeds x envs, --mesh=2x2)" in done.stderr
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    assert any(line.startswith("2000,") for line in rows)
    assert (tmp_path / "run" / "checkpoints" / "2000").is_dir()


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--mesh=3x1", "--mesh=3x1 is invalid: 3x1 = 3 devices, but there are 4"),
        ("--mesh=4x1", "--mesh=4x1 is invalid: 2 seed(s) do not divide by 4"),
        ("--mesh=1x4 --num_envs=6", "--mesh=1x4 is invalid: num_envs=6 does not divide by 4"),
        ("--mesh=two", "--mesh='two' is invalid: must be SEEDSxENVS (e.g. 1x8, 4x2) or auto"),
    ],
)
def test_a_bad_mesh_is_one_line_and_exit_2(tmp_path, flag, message):
    done = _train(*TINY, *flag.split(), f"--out={tmp_path / 'run'}")
    assert done.returncode == 2
    # Before it, only the notes on how the tiny run departs from its preset's recipe.
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == f"error: {message}"
    assert all(line.startswith(("note:", "warning:")) for line in lines[:-1])
    assert not (tmp_path / "run").exists()


# --- choosing a layout (no devices needed: any objects stand in for them) ---------------------

CFG = Config(num_envs=8, batch_size=64, buffer_size=4096, num_seeds=2)


@pytest.mark.parametrize(
    "devices, seeds, expected",
    [(1, 2, (1, 1)), (4, 2, (2, 2)), (8, 2, (2, 4)), (4, 1, (1, 4)), (16, 1, (1, 8))],
)
def test_auto_puts_seeds_first_and_the_rest_on_envs(devices, seeds, expected):
    layout = mesh.choose("auto", seeds, CFG, devices=list(range(devices)))
    assert (layout.seeds, layout.envs) == expected
    assert layout.shards == layout.envs and layout.size <= devices


def test_one_device_is_the_single_device_program():
    layout = mesh.choose("1x1", 2, CFG, devices=[0])
    assert layout.size == 1 and not layout.splits_envs


def test_an_explicit_mesh_uses_every_device():
    with pytest.raises(UsageError, match="1x2 = 2 devices, but there are 4"):
        mesh.choose("1x2", 2, CFG, devices=list(range(4)))
