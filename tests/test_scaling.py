"""The scale rule: a preset's batch, updates, buffer and warm-up follow `--num_envs`."""

from __future__ import annotations

import pathlib

import pytest
import yaml

from ddpg_jax import scaling, settings, train

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"
TASKS = sorted(p.stem for p in CONFIGS.glob("*.yaml") if p.stem != "seed000")


def _resolve(argv: list[str], device_kind: str) -> settings.Resolved:
    return settings.resolve(settings.build_parser().parse_args(argv), device_kind)


def _section(task: str, name: str) -> dict:
    doc = yaml.safe_load((CONFIGS / f"{task}.yaml").read_text())
    return {**{k: v for k, v in doc.items() if k not in ("cpu", "gpu")}, **doc[name]}


def test_derive_holds_the_replay_ratio_updates_history_and_warmup_per_env():
    base = scaling.Recipe(
        num_envs=16, batch_size=128, updates_per_step=8, buffer_size=160_000, warmup_steps=10_000
    )
    got = scaling.derive(base, 64, total_steps=10_000_000)
    assert got == {
        "batch_size": 512,  # 64 samples per new transition, 8 updates per vectorised step
        "updates_per_step": 8,
        "buffer_size": 640_000,  # 10,000 vectorised steps of history
        "warmup_steps": 40_000,  # 625 vectorised steps of random actions
    }
    ratio = got["batch_size"] * got["updates_per_step"] / 64
    assert ratio == base.replay_ratio == 64


def test_derive_never_sizes_the_buffer_beyond_the_run_unless_the_preset_does():
    base = scaling.Recipe(16, 128, 8, 1_000_000, 10_000)
    assert scaling.derive(base, 2048, total_steps=5_000_000)["buffer_size"] == 5_000_000
    assert scaling.derive(base, 2048, total_steps=100_000)["buffer_size"] == 1_000_000
    small = scaling.derive(base, 2, total_steps=1_000_000)
    assert small["buffer_size"] == 125_000 and small["batch_size"] == 16
    assert small["warmup_steps"] >= small["batch_size"]


def test_nearest_section_by_ratio_with_the_device_on_ties():
    sections = {"cpu": {"num_envs": 16}, "gpu": {"num_envs": 2048}}
    assert scaling.nearest_section(sections, "cpu", 16) == "cpu"
    assert scaling.nearest_section(sections, "cpu", 180) == "cpu"
    assert scaling.nearest_section(sections, "cpu", 182) == "gpu"
    assert scaling.nearest_section(sections, "gpu", 64) == "cpu"
    tie = {"cpu": {"num_envs": 16}, "gpu": {"num_envs": 64}}
    assert scaling.nearest_section(tie, "gpu", 32) == "gpu"
    assert scaling.nearest_section(tie, "cpu", 32) == "cpu"
    assert scaling.nearest_section({"cpu": {}, "gpu": {"num_envs": 8}}, "cpu", 8) == "cpu"


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("device_kind", ["cpu", "gpu"])
def test_each_section_at_its_own_scale_is_unchanged(task, device_kind):
    own = _section(task, device_kind)
    resolved = _resolve([f"--env={task}", f"--num_envs={own['num_envs']}"], device_kind)
    assert resolved.scale_notes == ()
    for name in scaling.SCALED:
        if name in own:
            assert getattr(resolved.cfg, name) == own[name]
            assert resolved.sources[name] == f"preset {task}.yaml ({device_kind})"


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("device_kind", ["cpu", "gpu"])
def test_other_env_counts_follow_the_nearest_section(task, device_kind):
    cpu, gpu = _section(task, "cpu"), _section(task, "gpu")
    for num_envs, base_name in ((2 * cpu["num_envs"], "cpu"), (2 * gpu["num_envs"], "gpu")):
        base = {"cpu": cpu, "gpu": gpu}[base_name]
        resolved = _resolve([f"--env={task}", f"--num_envs={num_envs}"], device_kind)
        cfg = resolved.cfg
        assert cfg.num_envs == num_envs
        recipe = scaling.Recipe.of(base)
        assert cfg.batch_size * cfg.updates_per_step / num_envs == pytest.approx(
            recipe.replay_ratio, rel=1e-3
        )
        assert cfg.updates_per_step == base["updates_per_step"]
        assert cfg.warmup_steps >= min(2 * base["warmup_steps"], cfg.buffer_size)
        assert resolved.sources["batch_size"].startswith("derived from num_envs")
        assert f"({base_name})" in resolved.sources["batch_size"]
        # The rest of the recipe is that section's too, not the device's.
        assert resolved.cfg.n_step == base.get("n_step", 1)
        assert not any(n.startswith("warning") for n in resolved.scale_notes)


def test_flags_win_and_a_far_ratio_is_warned_about_without_stopping():
    resolved = _resolve(["--env=ant", "--num_envs=4096", "--batch_size=16"], "cpu")
    assert resolved.cfg.batch_size == 16 and resolved.sources["batch_size"] == "flag"
    assert resolved.sources["updates_per_step"].startswith("derived from num_envs")
    (warning,) = [n for n in resolved.scale_notes if n.startswith("warning")]
    assert "replay ratio" in warning and "4x" in warning
    # At the section's own env count nothing is derived, and a far batch is still warned about.
    resolved = _resolve(["--env=ant", "--num_envs=2048", "--batch_size=16"], "cpu")
    assert resolved.sources["updates_per_step"] == "preset ant.yaml (gpu)"
    assert resolved.scale_notes[0].startswith("--num_envs=2048: the ant preset's gpu: section")
    assert any(n.startswith("warning") for n in resolved.scale_notes)
    # Within 4x: no warning.
    base = scaling.Recipe.of(_section("ant", "gpu"))
    near = base.batch_size * 4096 // base.num_envs // 2
    resolved = _resolve(["--env=ant", "--num_envs=4096", f"--batch_size={near}"], "cpu")
    assert not any(n.startswith("warning") for n in resolved.scale_notes)


def test_a_file_that_sets_num_envs_and_the_batch_keeps_them(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("num_envs: 32\nbatch_size: 100\n")
    resolved = _resolve([f"--config={path}", "--env=hopper"], "cpu")
    assert resolved.cfg.batch_size == 100
    assert resolved.sources["buffer_size"].startswith("derived from num_envs")


def test_print_config_and_the_run_start_show_the_derived_values(capsys, monkeypatch):
    assert train.main(["--env=hopper", "--num_envs=64", "--print_config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# derived from num_envs=64")
    assert "# derived from num_envs (preset hopper.yaml (cpu) at 16 envs)" in out

    def stop(*_):
        raise settings.UsageError("stopped before training")

    monkeypatch.setattr(train, "check_memory", stop)
    assert train.main(["--env=hopper", "--num_envs=64"]) == 2
    captured = capsys.readouterr()
    assert "derived from num_envs=64 (preset hopper.yaml (cpu) at 16 envs" in captured.err
    assert "batch_size=512" in captured.err
