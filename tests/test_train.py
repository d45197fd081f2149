"""`python -m ddpg_jax.train` end to end on InvertedPendulum (CPU): learning, run-dir files,
seeds, kill-and-resume, two-device sharding and every bad input's exit status."""

import os
import shutil
import subprocess
import sys

import chex
import jax
import numpy as np
import pytest

from ddpg_jax import chunk_metrics, host_loop, run_dir, train
from ddpg_jax.checkpoint import CheckpointStore
from ddpg_jax.metrics_log import read_metrics
from ddpg_jax.tracing import TRACE_COUNTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A run that learns visibly in well under a minute of training on 2 cores.
# Seed 1: the untrained policies' returns depend on the init keys; seed 1's are typical of a
# random policy, so "3x better" measures learning rather than a lucky start.
LEARNING_RUN = [
    "--env=inverted_pendulum",
    "--seed=1",
    "--num_envs=8",
    "--num_seeds=2",
    "--total_steps=12000",
    "--hidden_dim=64",
    "--batch_size=128",
    "--actor_lr=1e-3",
    "--critic_lr=1e-3",
    "--tau=0.005",
    "--weight_decay=0",
    "--warmup_steps=1000",
    "--updates_per_step=4",
    "--noise_decay_mode=none",
    "--log_every=1000",
    "--eval_every=3000",
    "--eval_episodes=4",
    "--keep_checkpoints=10",
]
# The same shapes with fewer steps, so kill-and-resume reuses the compiled chunk.
RESUMABLE_RUN = [
    *(a for a in LEARNING_RUN if not a.startswith(("--total_steps", "--eval_every"))),
    "--total_steps=3000",
    "--eval_every=1000",
    "--save_buffer=true",
]
# A tiny run for the two-device check, which compiles its own sharded program; it runs the
# MJX physics (the GPU path), while the runs above use the default on CPU, C MuJoCo.
TINY_RUN = [
    "--env=inverted_pendulum",
    "--backend=mjx",
    "--updates_per_step=1",
    "--eval_every=100",
    "--num_envs=2",
    "--num_seeds=2",
    "--total_steps=200",
    "--hidden_dim=16",
    "--batch_size=16",
    "--warmup_steps=100",
    "--log_every=100",
    "--eval_episodes=2",
    "--episode_length=50",
]


@pytest.fixture(scope="module")
def learning_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("learn") / "run"
    traces_before = TRACE_COUNTS.get("train_chunk", 0)
    assert train.main([*LEARNING_RUN, f"--out={out}"]) == 0
    return out, TRACE_COUNTS.get("train_chunk", 0) - traces_before


def test_short_run_improves_eval_return(learning_run):
    out, _ = learning_run
    metrics = read_metrics(run_dir.open_existing(out))
    evals = metrics["eval_return"]
    steps = metrics["env_step"][np.isfinite(evals)]
    evals = evals[np.isfinite(evals)].reshape(-1, 2)  # [evaluations, seeds]
    assert list(np.unique(steps)) == [0, 3000, 6000, 9000, 12000]  # 0: the untrained policy
    first, last = evals[0].mean(), evals[-1].mean()
    assert last > 3 * first and last > 40, f"eval return went {first:.1f} -> {last:.1f}"


def test_chunk_compiles_once(learning_run):
    _, traces = learning_run
    assert traces == 1  # 12 chunks, one trace


def test_run_dir_holds_what_it_claims(learning_run):
    out, _ = learning_run
    directory = run_dir.open_existing(out)
    cfg, extra = run_dir.load_config(directory)
    assert extra["env"] == "inverted_pendulum"
    assert extra["backend"] == "mujoco"  # auto on a CPU
    assert (cfg.num_envs, cfg.num_seeds, cfg.total_steps, cfg.hidden_dim) == (8, 2, 12000, 64)
    assert extra["run"]["eval_every"] == 3000

    metrics = read_metrics(directory)
    assert list(np.unique(metrics["env_step"])) == list(range(0, 12001, 1000))
    assert sorted(set(metrics["seed"])) == [0, 1]
    for name in ("critic_loss", "actor_loss", "q_mean", "train_episode_return"):
        assert np.isfinite(metrics[name][metrics["env_step"] >= 2000]).all(), name

    events = [f for f in os.listdir(directory.tb_dir) if "tfevents" in f]
    assert events and os.path.getsize(directory.tb_dir / events[0]) > 1000

    with CheckpointStore(directory, read_only=True) as store:
        assert store.latest_step() == 12000
        assert store.all_steps()[-1] == 12000
        policy, meta = store.restore_policy("latest")
        best = store.best_step()
    assert meta["env"] == "inverted_pendulum" and meta["env_step"] == 12000
    assert len(meta["eval_returns"]) == 2
    last_evals = metrics["eval_return"][metrics["env_step"] == 12000]
    np.testing.assert_allclose(meta["eval_returns"], last_evals, rtol=1e-6)
    assert best in store.all_steps()
    kernel = policy.actor_params["params"]["hidden_0"]["kernel"]
    assert kernel.shape[0] == 2  # leading seed axis


def test_seeds_differ(learning_run):
    out, _ = learning_run
    with CheckpointStore(run_dir.open_existing(out), read_only=True) as store:
        policy, _ = store.restore_policy("latest")
    for leaf in jax.tree.leaves(policy.actor_params):
        assert not np.allclose(leaf[0], leaf[1])
    metrics = read_metrics(run_dir.open_existing(out))
    losses = metrics["critic_loss"].reshape(-1, 2)
    assert not np.allclose(losses[-1, 0], losses[-1, 1])


def _final_train_params(directory):
    with CheckpointStore(directory, read_only=True) as store:
        policy, meta = store.restore_policy("latest")
    return meta["env_step"], policy


def test_kill_and_resume_equals_uninterrupted_run(tmp_path):
    whole = tmp_path / "whole"
    assert train.main([*RESUMABLE_RUN, f"--out={whole}"]) == 0
    # A run killed right after its first checkpoint: later checkpoints never got written.
    killed = tmp_path / "killed"
    shutil.copytree(whole, killed)
    for step in ("2000", "3000"):
        shutil.rmtree(killed / "checkpoints" / step)
    assert train.main([f"--resume={killed}"]) == 0

    step_a, policy_a = _final_train_params(run_dir.open_existing(whole))
    step_b, policy_b = _final_train_params(run_dir.open_existing(killed))
    assert step_a == step_b == 3000
    chex.assert_trees_all_equal(policy_a, policy_b)
    rows_a = read_metrics(run_dir.open_existing(whole))
    rows_b = read_metrics(run_dir.open_existing(killed))
    np.testing.assert_array_equal(rows_a["env_step"], rows_b["env_step"])  # no duplicates
    np.testing.assert_array_equal(rows_a["critic_loss"], rows_b["critic_loss"])


def test_resume_rejects_changed_settings(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("run_dir_format: 1\nenv: hopper\nconfig: {}\n")
    assert train.main([f"--resume={out}", "--tau=0.5"]) == 2
    assert "only --total_steps and --max_minutes may be given" in capsys.readouterr().err


def _one_line_error(capsys, argv):
    code = train.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--env=humanoid"], "Valid names"),
        (["--env=Hopper-v4"], "'hopper' ('Hopper-v5')"),
        (["--num_envs=0"], "num_envs=0"),
        (["--noise_type=pink"], "invalid choice: 'pink' (choose from"),
        (["--tau=fast"], "argument --tau: expected a number, got 'fast'"),
        (["--normalize_obs=maybe"], "expected true or false"),
        (["--bogus=1"], "unrecognized arguments: --bogus=1"),
        (["--eval_every=-5"], "--eval_every=-5 is invalid"),
        (["--config=/nonexistent/preset.yaml"], "does not exist"),
        (["--resume=/nonexistent/run"], "does not exist"),
        (["--buffer_size=200000000000", "--num_seeds=50"], "lower --buffer_size"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, expected):
    assert expected in _one_line_error(capsys, argv)


def test_bad_config_file_and_missing_checkpoint(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tau: [1, 2\n")
    assert "cannot read config file" in _one_line_error(capsys, [f"--config={bad}"])
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("learning_rate: 0.1\n")
    assert "unknown setting(s) learning_rate" in _one_line_error(capsys, [f"--config={unknown}"])
    no_ckpt = tmp_path / "no_ckpt"
    run_dir.save_config(
        run_dir.create(no_ckpt, "inverted_pendulum"),
        train.Config(),
        {"env": "inverted_pendulum", "run": {}},
    )
    assert "no checkpoint to resume" in _one_line_error(capsys, [f"--resume={no_ckpt}"])


def test_cli_process_exit_status_and_help():
    env = {**os.environ, "PYTHONPATH": ROOT}
    bad = subprocess.run(
        [sys.executable, "-m", "ddpg_jax.train", "--env=nope"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "Valid names" in bad.stderr
    helped = subprocess.run(
        [sys.executable, "-m", "ddpg_jax.train", "--help"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert helped.returncode == 0
    for flag in (
        "--env",
        "--num_envs",
        "--num_seeds",
        "--total_steps",
        "--out",
        "--config",
        "--resume",
        "--ou_theta",
        "--critic_arch",
        "--save_buffer",
    ):
        assert flag in helped.stdout


@pytest.mark.slow  # a fresh process compiling for two devices; the suite budget (BENCHMARKS.md)
def test_two_devices_shard_the_seeds(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    result = subprocess.run(
        [sys.executable, "-m", "ddpg_jax.train", *TINY_RUN, f"--out={tmp_path / 'run'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "seeds sharded over 2 devices" in result.stderr
    assert "physics mjx" in result.stderr
    with CheckpointStore(run_dir.open_existing(tmp_path / "run"), read_only=True) as store:
        policy, _ = store.restore_policy("latest")
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(policy))


@pytest.mark.slow  # test_non_finite_detection_names_the_seed checks the detection itself
def test_non_finite_run_stops_with_exit_3_and_keeps_good_checkpoints(tmp_path, capsys, monkeypatch):
    real = chunk_metrics.non_finite_seeds
    calls = []

    def goes_bad_at_second_chunk(carry, metrics):
        calls.append(1)
        return [1] if len(calls) >= 2 else real(carry, metrics)

    monkeypatch.setattr(chunk_metrics, "non_finite_seeds", goes_bad_at_second_chunk)
    out = tmp_path / "run"
    assert train.main([*RESUMABLE_RUN, f"--out={out}"]) == host_loop.EXIT_NON_FINITE
    err = capsys.readouterr().err
    assert "non-finite loss or parameters at env step 2000 in seed(s) [1]" in err
    with CheckpointStore(run_dir.open_existing(out), read_only=True) as store:
        assert store.all_steps() == [1000]  # the bad chunk was never saved


def test_non_finite_detection_names_the_seed():
    # A fake carry: only the train state's parameters are read.
    params = {"w": np.ones((3, 4), np.float32)}
    params["w"][2, 1] = np.nan
    fake = type("Carry", (), {})()
    fake.train_state = type("TS", (), {"actor_params": params, "critic_params": params})()
    finite = {
        name: np.zeros(3, np.float32)
        for name in ("critic_loss", "actor_loss", "q_mean", "target_q_mean")
    }
    assert chunk_metrics.non_finite_seeds(fake, finite) == [2]
    finite["critic_loss"][0] = np.inf
    assert chunk_metrics.non_finite_seeds(fake, finite) == [0, 2]


def test_print_config_into_a_closed_pipe_ends_quietly():
    """`train --print_config | head -1` is how people skim the settings: the closed pipe must
    not become a traceback."""
    out = subprocess.run(
        f"{sys.executable} -m ddpg_jax.train --env=hopper --print_config | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.stdout == "# run options\n"
    assert "Traceback" not in out.stderr and "BrokenPipe" not in out.stderr, out.stderr
