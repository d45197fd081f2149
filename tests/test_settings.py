"""Settings: counts written as 1e6 or 1_000_000, both flag spellings, YAML numbers PyYAML reads
as strings, `--print_config` with the origin of every value, and `--help` showing the values the
run will use. Fast: no training."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from ddpg_jax import settings, train
from ddpg_jax.cli import UsageError


def _resolve(argv: list[str], device_kind: str = "cpu") -> settings.Resolved:
    return settings.resolve(settings.build_parser().parse_args(argv), device_kind)


@pytest.mark.parametrize("text", ["1000000", "1_000_000", "1e6", "1.0e6"])
def test_counts_accept_scientific_and_underscores(text):
    assert _resolve([f"--total_steps={text}"]).cfg.total_steps == 1_000_000


@pytest.mark.parametrize("text", ["1.5", "1e-3", "many", "inf"])
def test_counts_refuse_non_integers(text):
    with pytest.raises(UsageError, match="expected an integer"):
        settings.build_parser().parse_args([f"--total_steps={text}"])


def test_both_spellings_of_a_flag():
    a = _resolve(["--num_envs=3", "--warmup-steps=10"])
    b = _resolve(["--num-envs=3", "--warmup_steps=10"])
    assert a.cfg == b.cfg and a.cfg.num_envs == 3 and a.cfg.warmup_steps == 10


def test_yaml_numbers_pyyaml_reads_as_strings(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("tau: 1e-3\ntotal_steps: 2e5\nactor_lr: 3e-4\n")
    cfg = _resolve([f"--config={path}"]).cfg
    assert (cfg.tau, cfg.total_steps, cfg.actor_lr) == (1e-3, 200_000, 3e-4)
    path.write_text("tau: fast\n")
    with pytest.raises(UsageError, match=r"tau: expected a number, got 'fast'"):
        _resolve([f"--config={path}"])


def test_sources_name_default_preset_file_and_flag(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("gamma: 0.98\n")
    resolved = _resolve(["--env=hopper", f"--config={path}", "--tau=0.02"])
    assert resolved.sources["tau"] == "flag"
    assert resolved.sources["gamma"] == f"file {path}"
    assert resolved.sources["batch_size"] == "preset hopper.yaml (cpu)"
    assert resolved.sources["ou_dt"] == "default"
    text = settings.describe(resolved)
    assert "tau:" in text and "# flag" in text and "# preset hopper.yaml (cpu)" in text


def test_bad_value_from_a_file_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("gamma: 1.5\n")
    with pytest.raises(UsageError, match=rf"gamma=1.5 is invalid.*\(from file {path}\)"):
        _resolve([f"--config={path}"])


def test_print_config_prints_and_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert train.main(["--env=hopper", "--print_config"]) == 0
    out = capsys.readouterr().out
    assert "hidden_dim:" in out and "preset hopper.yaml" in out
    assert not (tmp_path / "runs").exists()


def test_help_shows_the_presets_values():
    shown = settings.help_defaults(["--env=hopper"], "cpu")
    preset = settings.load_preset("hopper", "cpu")
    assert shown["batch_size"] == (preset["batch_size"], "preset hopper.yaml (cpu)")
    out = subprocess.run(
        [sys.executable, "-m", "ddpg_jax.train", "--env=hopper", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert f"(default: {preset['batch_size']}, from preset hopper.yaml" in " ".join(out.split())
    assert "task in MJX" not in out and "C MuJoCo (CPU)" in " ".join(out.split())


def test_count_parser_is_argparse_friendly():
    with pytest.raises(argparse.ArgumentTypeError):
        settings.parse_count("2.5")
    assert settings.parse_count(" 3_000 ") == 3000
