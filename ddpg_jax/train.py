"""Command line: train DDPG on a Gymnasium v5 MuJoCo task, many envs and vmapped seeds in one
process.

    python -m ddpg_jax.train --env=hopper --num_envs=2048 --num_seeds=5

Settings (`ddpg_jax.settings`) are layered: `Config` defaults < the task preset (its `cpu:` or
`gpu:` section by the default JAX device) < `--config FILE` < flags; `--print_config` shows the
result and where each value came from. Bad input prints one line and exits 2.

The host loop runs jitted chunks and, between them, checks finiteness, evaluates, logs and
checkpoints. A run dir is locked while a run uses it. Ctrl-C (or SIGTERM) is answered at once and
honoured at the end of the running chunk, which is then checkpointed; a second Ctrl-C stops at
once. `--max_minutes` stops the same way at a wall-clock budget.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from ddpg_jax import envs, memory, mesh, run_dir, run_lock, settings
from ddpg_jax.checkpoint import CheckpointError, CheckpointStore
from ddpg_jax.cli import UsageError
from ddpg_jax.cli import run as run_cli
from ddpg_jax.cli import say as _print
from ddpg_jax.config import Config, ConfigError
from ddpg_jax.host_loop import host_loop
from ddpg_jax.interrupts import exit_process
from ddpg_jax.run_dir import RunDirError
from ddpg_jax.run_setup import Variant, fix_intervals, make_env, run_metadata
from ddpg_jax.settings import RunOptions


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    device_kind = settings.default_device_kind()
    shown = settings.help_defaults(argv, device_kind) if _wants_help(argv) else None
    args = settings.build_parser(shown=shown).parse_args(argv)
    try:
        if args.resume:
            return _resume(args)
        resolved = settings.resolve(args, device_kind)
        if args.print_config:
            print(settings.describe(resolved))
            return 0
        for note in resolved.scale_notes:
            _print(note)
        cfg, run = resolved.cfg, fix_intervals(resolved.cfg, resolved.run)
        env = make_env(run)
        check_memory(cfg, env, run)  # before anything is written
        mesh.choose(run.mesh, cfg.num_seeds, cfg)
        directory = run_dir.create(args.out, run.env)
    except (RunDirError, CheckpointError) as e:
        raise UsageError(str(e)) from None
    run_dir.save_config(directory, cfg, run_metadata(run))
    return train(cfg, run, directory, resume=False, env=env)


def check_memory(cfg: Config, env: Any, run: RunOptions) -> None:
    """A `UsageError` when the run would not fit in the device's memory (`ddpg_jax.memory`)."""
    memory.check(cfg, env, run.eval_episodes)


def _wants_help(argv: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


RESUME_OVERRIDES = ("total_steps", "max_minutes")


def _resume(args: argparse.Namespace) -> int:
    if args.out or args.config or args.print_config:
        given = [f for f in ("out", "config", "print_config") if getattr(args, f)]
        raise UsageError(
            f"--resume continues DIR with its own config.yaml; "
            f"{', '.join('--' + f for f in given)} cannot be given with it"
        )
    overrides = {
        k: v
        for k, v in vars(args).items()
        if v is not None and k not in ("resume", *settings.NOT_SETTINGS)
    }
    refused = sorted(set(overrides) - set(RESUME_OVERRIDES))
    if refused:
        raise UsageError(
            f"--resume continues the saved config; only --total_steps and --max_minutes may be "
            f"given with it (got {', '.join('--' + k for k in refused)})"
        )
    directory = run_dir.open_existing(args.resume)
    cfg, extra = run_dir.load_config(directory)
    try:
        env_name = envs.canonical_name(str(extra.get("env")))
    except ValueError as e:
        raise UsageError(f"{directory.config_path}: {e}") from None
    saved = {**extra.get("run", {}), "env": env_name, "max_minutes": 0.0}
    if extra.get("backend"):  # the resolved physics: its env state is what the checkpoint holds
        saved["backend"] = extra["backend"]
    try:
        run = RunOptions(**{k: v for k, v in saved.items() if k in settings.RUN_FIELDS})
    except TypeError as e:
        raise UsageError(f"{directory.config_path}: {e}") from None
    settings.check_run_options(run)
    # Intervals fixed by the saved total (runs made before they were saved resolved): a
    # resume with another total keeps the grid.
    run = fix_intervals(cfg, run)
    if "max_minutes" in overrides:
        run = dataclasses.replace(run, max_minutes=overrides["max_minutes"])
        settings.check_run_options(run)
    new_total = None
    if "total_steps" in overrides:
        try:
            new_total = cfg.replace(total_steps=overrides["total_steps"]).total_steps
        except ConfigError as e:
            raise UsageError(str(e)) from None
    return train(cfg, run, directory, resume=True, new_total=new_total, extra=extra)


def train(
    cfg: Config,
    run: RunOptions,
    directory: Any,
    resume: bool,
    env: Any = None,
    new_total: int | None = None,
    extra: dict[str, Any] | None = None,
) -> int:
    """One run dir: lock it, then the host loop (resuming from its newest good checkpoint)."""
    try:
        lock = run_lock.acquire(directory)
    except RunDirError as e:
        raise UsageError(str(e)) from None
    with lock:
        if lock.note:
            _print(f"note: {lock.note}")
        if new_total is not None:
            cfg = _extend_total(cfg, directory, new_total, extra or {})
        if env is None:  # a resume: its env and memory are checked here, under the lock
            env = make_env(run)
            check_memory(cfg, env, run)
        return host_loop(cfg, run, [Variant(directory, cfg)], env, resume=resume)


def _extend_total(cfg: Config, directory: Any, new_total: int, extra: dict[str, Any]) -> Config:
    """A resumed run's new total, refused below the step it resumes from."""
    store = CheckpointStore(directory, read_only=True, async_save=False)
    try:
        latest = store.latest_step()
    finally:
        store.close()
    if latest is not None and new_total <= latest:
        raise UsageError(
            f"--total_steps={new_total} is invalid: the run in {directory} is already at env step "
            f"{latest}; give a larger total to continue it"
        )
    cfg = cfg.replace(total_steps=new_total)
    run_dir.save_config(directory, cfg, extra)
    return cfg


if __name__ == "__main__":
    exit_process(main())
