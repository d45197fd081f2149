"""Run dir layout, config.yaml round trip and the metrics CSV / TensorBoard logger."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from ddpg_jax import metrics_log, run_dir
from ddpg_jax.config import Config
from ddpg_jax.run_dir import RunDirError

NOW = datetime.datetime(2025, 1, 2, 3, 4, 5)


def test_create_default_path_and_subdirs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rd = run_dir.create(None, "hopper", now=NOW)
    assert rd.root == tmp_path.joinpath("runs", "hopper-20250102-030405").relative_to(tmp_path)
    assert rd.tb_dir.is_dir() and rd.checkpoints_dir.is_dir()
    # A second run in the same second gets a suffix instead of clobbering the first.
    run_dir.save_config(rd, Config(), {"env": "hopper"})
    second = run_dir.create(None, "hopper", now=NOW)
    assert second.root.name == "hopper-20250102-030405-1"


def test_create_refuses_non_empty_dir(tmp_path):
    target = tmp_path / "run"
    rd = run_dir.create(target, "hopper")  # fine: does not exist yet
    (tmp_path / "empty").mkdir()
    run_dir.create(tmp_path / "empty", "hopper")  # fine: exists but empty
    run_dir.save_config(rd, Config(), {})
    with pytest.raises(RunDirError, match="already holds a previous run"):
        run_dir.create(target, "hopper")


def test_open_existing_errors(tmp_path):
    with pytest.raises(RunDirError, match="does not exist"):
        run_dir.open_existing(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunDirError, match="not a run directory"):
        run_dir.open_existing(tmp_path / "plain")
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="is a file"):
        run_dir.open_existing(tmp_path / "file")


def test_config_round_trip(tmp_path):
    cfg = Config(actor_lr=3e-5, tau=0.005, noise_type="ou", twin_critics=True, num_seeds=4)
    extra = {"env": "hopper", "backend": "mjx", "seed": np.int64(7), "path": tmp_path / "x"}
    rd = run_dir.create(tmp_path / "run", "hopper")
    run_dir.save_config(rd, cfg, extra)
    text = rd.config_path.read_text()
    assert text.startswith("run_dir_format: 1\nenv: hopper\n")  # human-readable, metadata first
    opened = run_dir.open_existing(rd.root)
    cfg2, extra2 = run_dir.load_config(opened)
    assert cfg2 == cfg
    assert extra2 == {"env": "hopper", "backend": "mjx", "seed": 7, "path": str(tmp_path / "x")}


def test_load_config_errors(tmp_path):
    rd = run_dir.create(tmp_path / "run", "hopper")
    with pytest.raises(RunDirError, match="missing"):
        run_dir.load_config(rd)
    rd.config_path.write_text("config: {nope: 1}\n")
    with pytest.raises(RunDirError, match="unknown config field"):
        run_dir.load_config(rd)
    rd.config_path.write_text("config: [unclosed\n")
    with pytest.raises(RunDirError, match="cannot read"):
        run_dir.load_config(rd)


def test_metrics_header_once_across_reopen(tmp_path):
    rd = run_dir.create(tmp_path / "run", "hopper")
    columns = ["env_step", "seed", "wall_time", *metrics_log.METRIC_ORDER, "my_metric"]
    with metrics_log.MetricsLogger(rd) as log:
        log.log(10, {"critic_loss": np.array([1.0, 2.0]), "my_metric": np.array([3.0, 4.0])}, 0.5)
        # A metric missing from a later row gives an empty cell; NaN is an empty cell too.
        log.log(20, {"critic_loss": np.array([np.nan, 5.0])}, 1.0)
        assert log.columns == columns
    # Every known metric has its column from the first row on, so the first evaluation,
    # which comes after rows without one, still lands in the CSV.
    with metrics_log.MetricsLogger(rd) as log, pytest.warns(UserWarning, match="late_metric"):
        log.log(
            30, {"critic_loss": np.array([6.0, 7.0]), "eval_return": 1.0, "late_metric": 2.0}, 1.5
        )
    lines = rd.metrics_path.read_text().splitlines()
    assert lines[0] == ",".join(columns)
    assert sum(line.startswith("env_step") for line in lines) == 1
    assert lines[3] == "20,0,1.000" + "," * (len(columns) - 3)
    m = metrics_log.read_metrics(rd)
    np.testing.assert_array_equal(m["env_step"], [10, 10, 20, 20, 30, 30])
    np.testing.assert_array_equal(m["seed"], [0, 1, 0, 1, 0, 1])
    np.testing.assert_array_equal(m["critic_loss"], [1, 2, np.nan, 5, 6, 7])
    np.testing.assert_array_equal(m["eval_return"], [np.nan] * 4 + [1, 1])
    np.testing.assert_array_equal(m["my_metric"], [3, 4, np.nan, np.nan, np.nan, np.nan])
    assert "late_metric" not in m
    assert m["env_step"].dtype == np.int64 and m["wall_time"].dtype == np.float64


def test_metrics_tensorboard_written(tmp_path):
    rd = run_dir.create(tmp_path / "run", "hopper")
    with metrics_log.MetricsLogger(rd) as log:
        log.log(5, {"eval_return": np.array([1.0, 3.0, np.nan])}, 0.1)
    (event_file,) = rd.tb_dir.glob("events.out.tfevents.*")
    scalars = _read_scalars(event_file)
    assert scalars["seed_0/eval_return"] == [(5, 1.0)]
    assert scalars["seed_1/eval_return"] == [(5, 3.0)]
    assert "seed_2/eval_return" not in scalars  # NaN is skipped
    assert scalars["mean/eval_return"] == [(5, 2.0)]


def test_metrics_resume_drops_later_rows_and_partial_line(tmp_path):
    rd = run_dir.create(tmp_path / "run", "hopper")
    with metrics_log.MetricsLogger(rd, tensorboard=False) as log:
        for step in (10, 20, 30):
            log.log(step, {"critic_loss": np.array([float(step)])}, 0.0)
    with open(rd.metrics_path, "a") as f:
        f.write("40,0,0.0,4")  # a crash in the middle of a row
    with metrics_log.MetricsLogger(rd, resume_step=20, tensorboard=False) as log:
        log.log(30, {"critic_loss": np.array([-1.0])}, 0.0)
    m = metrics_log.read_metrics(rd)
    np.testing.assert_array_equal(m["env_step"], [10, 20, 30])
    np.testing.assert_array_equal(m["critic_loss"], [10, 20, -1])


def test_metrics_wall_clock_continues_across_a_resume(tmp_path):
    rd = run_dir.create(tmp_path / "run", "hopper")
    with metrics_log.MetricsLogger(rd, tensorboard=False) as log:
        assert log.wall_offset == 0.0
        for step, wall in ((10, 5.0), (20, 9.5), (30, 14.0)):
            log.log(step, {"critic_loss": np.array([1.0, 2.0])}, wall)
    # Resumed from the checkpoint at 20: the row at 30 is dropped, its time with it.
    with metrics_log.MetricsLogger(rd, resume_step=20, tensorboard=False) as log:
        assert log.wall_offset == 9.5
        log.log(30, {"critic_loss": np.array([3.0, 4.0])}, 2.0)  # 2 s into this process
    m = metrics_log.read_metrics(rd)
    np.testing.assert_array_equal(m["env_step"], [10, 10, 20, 20, 30, 30])
    np.testing.assert_array_equal(m["wall_time"], [5.0, 5.0, 9.5, 9.5, 11.5, 11.5])


def _read_scalars(path) -> dict[str, list[tuple[int, float]]]:
    """Scalars of a TensorBoard event file (TFRecord framing: len, crc, data, crc)."""
    import struct

    from tensorboardX.proto import event_pb2

    data, pos, out = path.read_bytes(), 0, {}
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos : pos + 8])
        event = event_pb2.Event.FromString(data[pos + 12 : pos + 12 + length])
        pos += 12 + length + 4
        for v in event.summary.value:
            out.setdefault(v.tag, []).append((event.step, v.simple_value))
    return out


def test_run_metadata_records_the_machine_and_its_load():
    """A run's wall-clock means something only beside the CPU it ran on and what else ran."""
    from ddpg_jax import run_setup
    from ddpg_jax.settings import RunOptions

    meta = run_setup.run_metadata(RunOptions(env="hopper"))
    assert isinstance(meta["machine"]["avx512f"], bool)
    assert len(meta["machine"]["load_average"]) == 3 and meta["machine"]["cpu"]
