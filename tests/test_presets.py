"""Every YAML preset in configs/ resolves into a valid Config on both device kinds.

Fast: no training and no env construction (only `envs.canonical_name` / `envs.TASKS`).
"""

from __future__ import annotations

import os
import pathlib

import pytest
import yaml

from ddpg_jax import envs, settings
from ddpg_jax.config import Config

CONFIGS = pathlib.Path(__file__).resolve().parent.parent / "configs"
TASK_PRESETS = sorted(CONFIGS / f"{task}.yaml" for task in envs.TASKS)
ALL_YAML = sorted(CONFIGS.glob("*.yaml"))
OTHER_YAML = sorted(set(ALL_YAML) - set(TASK_PRESETS))
DEVICE_KINDS = ("cpu", "gpu")


def _resolve(argv: list[str], device_kind: str) -> tuple[Config, settings.RunOptions]:
    resolved = settings.resolve(settings.build_parser().parse_args(argv), device_kind)
    return resolved.cfg, resolved.run


def _doc(path: pathlib.Path) -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def test_configs_dir_is_the_one_train_reads():
    assert pathlib.Path(str(settings.presets_dir())).resolve() == CONFIGS


@pytest.mark.parametrize("task", envs.TASKS)
def test_every_task_has_a_preset(task):
    assert (CONFIGS / f"{task}.yaml").is_file(), f"configs/{task}.yaml is missing"


@pytest.mark.parametrize("path", ALL_YAML, ids=lambda p: p.name)
def test_file_starts_with_a_comment_and_has_only_known_keys(path):
    assert path.read_text().startswith("#"), f"{path.name} should open with a comment"
    doc = _doc(path)
    assert isinstance(doc, dict)
    valid = set(settings.build_parser().parse_args([]).__dict__) - set(settings.NOT_SETTINGS)
    for section in DEVICE_KINDS:
        assert isinstance(doc.get(section, {}), dict)
    keys = {k for k in doc if k not in DEVICE_KINDS}
    for section in DEVICE_KINDS:
        keys |= set(doc.get(section) or {})
    assert keys <= valid, f"unknown keys in {path.name}: {sorted(keys - valid)}"


@pytest.mark.parametrize("device_kind", DEVICE_KINDS)
@pytest.mark.parametrize("path", TASK_PRESETS, ids=lambda p: p.name)
def test_task_preset_resolves(path, device_kind):
    task = path.stem
    doc = _doc(path)
    assert "env" not in doc, "the task comes from the file name (--env), not a key"
    assert set(doc) >= {"cpu", "gpu"}, f"{path.name} needs cpu: and gpu: sections"
    cfg, run = _resolve([f"--env={task}"], device_kind)
    assert isinstance(cfg, Config)
    assert run.env == task
    section = doc[device_kind]
    for key, value in {
        **{k: v for k, v in doc.items() if k not in DEVICE_KINDS},
        **section,
    }.items():
        actual = getattr(cfg, key) if hasattr(cfg, key) else getattr(run, key)
        assert actual == value, f"{path.name} [{device_kind}] {key}: {actual!r} != {value!r}"
    # The gym id selects the same preset.
    assert _resolve([f"--env={envs.GYM_IDS[task]}"], device_kind) == (cfg, run)


LOCOMOTION = ("hopper", "walker2d", "halfcheetah", "ant")
PENDULUMS = sorted(set(envs.TASKS) - set(LOCOMOTION))


@pytest.mark.parametrize("path", TASK_PRESETS, ids=lambda p: p.name)
def test_gpu_section_is_labelled_and_parallel(path):
    text = path.read_text()
    gpu_part = " ".join(text[text.index("\ngpu:") :].replace("#", " ").split())
    # Every gpu: section must say that no GPU measured its speed (the label a user needs to
    # read), and the locomotion ones whether their learning at 2048 envs was measured.
    assert "not measured on a GPU" in gpu_part
    if path.stem in LOCOMOTION:
        measured = "Learning measured on CPU at 2048 envs" in gpu_part
        assert measured != ("Learning at 2048 envs not measured yet" in gpu_part)
    cfg, _ = _resolve([f"--env={path.stem}"], "gpu")
    assert 1024 <= cfg.num_envs <= 4096


@pytest.mark.parametrize("task", LOCOMOTION)
def test_locomotion_gpu_section_is_the_many_envs_recipe(task):
    # The cpu: section's algorithm (TD3's switches, per-env noise) at
    # 2048 envs with 16 updates of batch 1024 per vectorised step (8 samples per new
    # transition), with the many-envs stabilisers (observation normalisation, a layer-normalised
    # C51 critic, 3-step returns), larger steps per update (Adam 1e-3, tau 0.01), 1000
    # vectorised steps of history and 100 of warm-up.
    cfg, run = _resolve([f"--env={task}"], "gpu")
    cpu_cfg, _ = _resolve([f"--env={task}"], "cpu")
    assert (cfg.num_envs, cfg.updates_per_step, cfg.batch_size) == (2048, 16, 1024)
    assert (cfg.actor_lr, cfg.critic_lr, cfg.tau) == (1e-3, 1e-3, 0.01)
    assert cfg.updates_per_step * cfg.batch_size / cfg.num_envs == 8
    assert cfg.n_step == 3 and cfg.normalize_obs and cfg.critic_layer_norm and cfg.distributional
    scale = ("num_envs", "updates_per_step", "batch_size", "buffer_size", "warmup_steps")
    differs = {
        name
        for name, value in cfg.to_dict().items()
        if value != getattr(cpu_cfg, name) and name not in scale
    }
    stabilisers = {
        "n_step",
        "normalize_obs",
        "critic_layer_norm",
        "distributional",
        "v_min",
        "v_max",
    }
    steps = {"actor_lr", "critic_lr", "tau", "total_steps", "lr_decay_to"}
    assert differs <= stabilisers | steps, differs
    assert cfg.lr_decay_to == 1.0  # the learning rates stay constant over a 20M-step run
    assert cfg.buffer_size == 1000 * cfg.num_envs and cfg.warmup_steps == 100 * cfg.num_envs
    assert cfg.total_steps == 20_000_000 and run.max_minutes == 90


@pytest.mark.parametrize("task", PENDULUMS)
def test_pendulum_cpu_section_is_small(task):
    cfg, run = _resolve([f"--env={task}"], "cpu")
    assert cfg.num_envs <= 8
    assert cfg.num_envs * cfg.num_seeds <= 16
    assert cfg.total_steps <= 50_000
    assert cfg.hidden_dim * cfg.batch_size <= 256 * 256
    assert run.eval_every >= cfg.total_steps // 10  # evaluations cost 1000 steps each


@pytest.mark.parametrize("task", LOCOMOTION)
def test_locomotion_cpu_section_fits_30_minutes(task):
    # `train --env=TASK` alone ends within 30 minutes on a 2-core CPU. The budget
    # stops it after the chunk that passes 27 minutes; a chunk (log_every env steps) must stay
    # short beside the 3 minutes left, and the evaluations few.
    cfg, run = _resolve([f"--env={task}"], "cpu")
    assert cfg.num_seeds == 1
    assert 0 < run.max_minutes <= 27
    assert run.log_every <= 25_000  # ~1 min at the slowest rate measured (RESULTS.md)
    assert cfg.total_steps // run.eval_every <= 10
    assert cfg.twin_critics and cfg.policy_delay == 2  # the TD3 switches the study chose
    assert cfg.critic_arch == "concat"  # TD3's critic: it beat embed on all four (RESULTS.md)


def test_default_command_is_the_inverted_pendulum_cpu_preset():
    cfg, run = _resolve([], "cpu")
    assert run.env == "inverted_pendulum" == settings.DEFAULT_ENV
    assert (cfg, run) == _resolve(["--env=inverted_pendulum"], "cpu")
    assert cfg.num_seeds == 2 and cfg.updates_per_step / cfg.num_envs >= 1


@pytest.mark.parametrize("device_kind", DEVICE_KINDS)
@pytest.mark.parametrize("path", OTHER_YAML, ids=lambda p: p.name)
def test_other_yaml_resolves_as_config_file_for_every_task(path, device_kind):
    for task in envs.TASKS:
        cfg, run = _resolve([f"--config={path}", f"--env={task}"], device_kind)
        assert isinstance(cfg, Config)
        assert run.env == task


def test_seed000_is_the_general_model_on_any_task_and_device():
    path = CONFIGS / "seed000.yaml"
    doc = _doc(path)
    assert "env" not in doc and "cpu" not in doc and "gpu" not in doc
    expected = Config().replace(
        hidden_dim=256,
        actor_lr=1e-4,
        critic_lr=1e-3,
        gamma=0.99,
        tau=0.001,
        weight_decay=0.01,
        batch_size=64,
        buffer_size=100_000,
        warmup_steps=1000,
        noise_type="gaussian",
        expl_noise=0.1,
        noise_decay=0.99,
        min_expl_noise=0.01,
        noise_decay_mode="episode",
        num_envs=1,
        critic_arch="embed",
        updates_per_step=1,
        normalize_obs=False,
        twin_critics=False,
        policy_delay=1,
        target_noise=0.0,
        total_steps=1_000_000,
        num_seeds=1,
    )
    # It sets every Config field, so no task preset (cpu or gpu) leaks into it.
    assert set(doc) >= {f for f in Config().to_dict()}
    for task in envs.TASKS:
        for device_kind in DEVICE_KINDS:
            cfg, run = _resolve([f"--config={path}", f"--env={task}"], device_kind)
            assert cfg == expected, (task, device_kind)
            assert run.env == task and run.eval_episodes == 10
    # Flags still win over it.
    cfg, _ = _resolve([f"--config={path}", "--env=hopper", "--num_seeds=5"], "gpu")
    assert cfg == expected.replace(num_seeds=5)


def test_presets_ship_in_the_wheel_and_load_from_a_foreign_directory(tmp_path):
    """`pip install .` (not -e) must carry the presets: build the wheel, import the package from
    it (not from this checkout) in another working directory, and load a preset."""
    import subprocess
    import sys
    import zipfile

    root = CONFIGS.parent
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(root),
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path / "dist"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("ddpg_jax-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {f"ddpg_jax/presets/{p.name}" for p in ALL_YAML} <= names
        # The tasks install inside the package, never as a top-level `envs` that another
        # project's `envs` would collide with.
        assert "ddpg_jax/envs/__init__.py" in names and "ddpg_jax/envs/hopper.py" in names
        assert not [n for n in names if n.startswith("envs/")]
        z.extractall(tmp_path / "site")
    code = (
        "import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
        f"sys.path.insert(0, {str(tmp_path / 'site')!r}); "
        "import ddpg_jax.settings as s; print(s.__file__); "
        "print(s.load_preset('hopper', 'cpu')['batch_size']); "
        "from ddpg_jax import envs; print(envs.__file__)"
    )
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=away, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    where, batch, envs_where = out.stdout.split()
    assert where.startswith(str(tmp_path / "site"))
    assert envs_where == str(tmp_path / "site" / "ddpg_jax" / "envs" / "__init__.py")
    assert int(batch) == _doc(CONFIGS / "hopper.yaml")["cpu"]["batch_size"]

    # From the repository root a plain `python -m` finds this checkout's `ddpg_jax` first, ahead
    # of the installed copy, and it has no `presets` package: the presets must still load, and
    # bad input must still be one line and exit 2.
    run_from_root = (
        "import runpy, sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in "
        f"repr(f)]; sys.path[:0] = ['', {str(tmp_path / 'site')!r}]; "
        "sys.argv = ['ddpg_jax.train'] + sys.argv[1:]; "
        "runpy.run_module('ddpg_jax.train', run_name='__main__', alter_sys=True)"
    )
    for argv, code_expected in (
        (["--env=hopper", "--print_config"], 0),
        (["--env=hopper", "--tau=fast"], 2),
    ):
        out = subprocess.run(
            [sys.executable, "-c", run_from_root, *argv],
            capture_output=True,
            text=True,
            cwd=root,
            env=env,
            timeout=300,
        )
        assert out.returncode == code_expected, (argv, out.stderr[-2000:])
        if code_expected == 0:
            assert "preset hopper.yaml (cpu)" in out.stdout
        else:
            assert len(out.stderr.strip().splitlines()) == 1, out.stderr
