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
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from ddpg_jax import settings
from ddpg_jax.cli import EXIT_USAGE, UsageError, enable_compilation_cache
from ddpg_jax.cli import run as run_cli
from ddpg_jax.cli import say as _print
from ddpg_jax.config import Config, ConfigError
from ddpg_jax.schedule import Schedule
from ddpg_jax.settings import RunOptions

EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    from ddpg_jax import run_dir
    from ddpg_jax.checkpoint import CheckpointError
    from ddpg_jax.run_dir import RunDirError

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
        directory = run_dir.create(args.out, run.env)
    except (RunDirError, CheckpointError) as e:
        raise UsageError(str(e)) from None
    run_dir.save_config(directory, cfg, run_metadata(run))
    return train(cfg, run, directory, resume=False, env=env)


def _wants_help(argv: list[str]) -> bool:
    return any(a in ("-h", "--help") for a in argv)


def fix_intervals(cfg: Config, run: RunOptions) -> RunOptions:
    """The run options with 0 intervals replaced by the values they resolve to for this total,
    so that config.yaml keeps the grid and a resume with another total stays on it."""
    from ddpg_jax.schedule import resolve_intervals

    log_every, eval_every, checkpoint_every = resolve_intervals(
        cfg.total_steps, run.log_every, run.eval_every, run.checkpoint_every
    )
    return dataclasses.replace(
        run, log_every=log_every, eval_every=eval_every, checkpoint_every=checkpoint_every
    )


def schedule_of(cfg: Config, run: RunOptions) -> Schedule:
    from ddpg_jax.schedule import make_schedule

    run = fix_intervals(cfg, run)
    return make_schedule(cfg, run.log_every, run.eval_every, run.checkpoint_every)


def make_env(run: RunOptions) -> Any:
    import envs

    backend = envs.resolve_backend(run.backend)
    return envs.make(run.env, backend=backend, **({"impl": run.impl} if backend == "mjx" else {}))


def check_memory(cfg: Config, env: Any, run: RunOptions) -> None:
    from ddpg_jax import memory

    memory.check(cfg, env, run.eval_episodes)


def run_metadata(run: RunOptions) -> dict[str, Any]:
    """What config.yaml records beside the Config: the task, the resolved physics backend, the
    run options, and the device and start time that results tables report."""
    import datetime

    import jax

    import envs

    device = jax.devices()[0]
    return {
        "env": run.env,
        "backend": envs.resolve_backend(run.backend),
        "run": dataclasses.asdict(dataclasses.replace(run, max_minutes=0.0)),
        "device": f"{jax.default_backend()}: {len(jax.devices())} x {device.device_kind}",
        "cpu_count": os.cpu_count(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


RESUME_OVERRIDES = ("total_steps", "max_minutes")


def _resume(args: argparse.Namespace) -> int:
    import envs
    from ddpg_jax import run_dir

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


@dataclasses.dataclass(frozen=True)
class Variant:
    """A run dir fed by one block of `cfg.num_seeds` consecutive seeds of the vmapped axis.

    A plain run has one variant; a sweep (`ddpg_jax.sweep`) one per grid point, each with its
    traced hyperparameters. Every variant uses the same seed keys, so variants differ only by
    their hyperparameters.
    """

    directory: Any  # run_dir.RunDir
    cfg: Config
    """The variant's own config (as in its config.yaml; stored in checkpoint meta)."""
    label: str = ""
    """Names a sweep's variant in messages ("" for a plain run)."""
    hp: Any = None
    """`hyperparams.Hyperparams` of a sweep's variant; None for a plain run (nothing traced)."""


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
    from ddpg_jax import run_dir
    from ddpg_jax.run_dir import RunDirError

    try:
        lock = run_dir.lock(directory)
    except RunDirError as e:
        raise UsageError(str(e)) from None
    with lock:
        if lock.note:
            _print(f"note: {lock.note}")
        if new_total is not None:
            cfg = _extend_total(cfg, directory, new_total, extra or {})
        return host_loop(cfg, run, [Variant(directory, cfg)], resume=resume, env=env)


def _extend_total(cfg: Config, directory: Any, new_total: int, extra: dict[str, Any]) -> Config:
    """A resumed run's new total, refused below the step it resumes from."""
    from ddpg_jax import run_dir
    from ddpg_jax.checkpoint import CheckpointStore

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


class Interrupts:
    """SIGINT and SIGTERM while training: the first is answered at once and honoured at the end
    of the running chunk (which is then checkpointed); a second one stops at once."""

    def __init__(self) -> None:
        self.received: str | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        _print(
            f"\n{self.received} received: stopping at the end of the running chunk and saving "
            "a checkpoint there (send it again to stop at once, keeping only the last "
            "checkpoint)"
        )

    @property
    def exit_code(self) -> int:
        return 128 + signal.Signals[self.received].value if self.received else 0


_ABANDONED = threading.Event()


def _computed(work: Callable[[], Any]) -> Any:
    """`work()` with every array it returns computed, run in a worker thread while this (main)
    thread waits in short joins, so that a signal handler runs within a fraction of a second.
    Waiting on the arrays alone is not enough: on the CPU a program with host callbacks (the C
    MuJoCo backend) runs inside the dispatching call, not after it."""
    import jax

    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = jax.block_until_ready(work())
        except BaseException as e:  # re-raised in the main thread
            outcome["error"] = e

    # A daemon, so that a second signal (KeyboardInterrupt here) can end the process at once.
    worker = threading.Thread(target=target, name="ddpg-jax-chunk", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.05)
    except BaseException:  # a second signal: the work goes on, unwanted
        _ABANDONED.set()
        raise
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


class HostLoop:
    """Trains every variant in one process: one compiled chunk over `len(variants) *
    cfg.num_seeds` vmapped seeds (seed `v * num_seeds + s` is seed s of variant v).

    `run()` reads as the steps of the loop: restore or init, then per chunk: run it, check
    finiteness, evaluate/log/save, and stop on the total, the time budget or an interrupt.
    A variant whose seeds go non-finite stops being logged and saved; the run stops (exit 3)
    when none is left, else it finishes the others and exits 3. Resuming works for one variant.
    """

    def __init__(self, cfg: Config, run: RunOptions, variants: list[Variant], env: Any = None):
        import jax

        import envs
        from ddpg_jax import loop
        from ddpg_jax.checkpoint import CheckpointStore

        self.cfg, self.opts, self.variants = cfg, run, variants
        self.seeds_per_variant = cfg.num_seeds
        self.num_seeds = cfg.num_seeds * len(variants)
        jax.config.update("jax_default_matmul_precision", "float32")
        enable_compilation_cache()
        self.backend = envs.resolve_backend(run.backend)
        self.env = env if env is not None else make_env(run)
        check_memory(cfg.replace(num_seeds=self.num_seeds), self.env, run)
        self.schedule = schedule_of(cfg, run)
        self.trainer = loop.make_train(
            cfg, self.env, self.schedule.chunk_iterations, run.episode_length, run.eval_episodes
        )
        self.stores = [
            CheckpointStore(v.directory, keep_last=run.keep_checkpoints) for v in variants
        ]
        self.init_root, self.eval_root = run_keys(run.seed)
        self.active = list(range(len(variants)))
        self.latest_eval: dict[str, Any] = {}
        self.loggers: list[Any] = []
        self.carry: Any = None
        self.iteration = 0
        self.warmup_end = self.trainer.warmup_iterations

    # --- keys and blocks of the vmapped axis --------------------------------------------

    def seed_keys(self, key: Any) -> Any:
        """`num_seeds` keys split from `key`, the same for every variant."""
        import jax
        import numpy as np

        keys = jax.random.split(key, self.seeds_per_variant)
        if len(self.variants) == 1:
            return keys
        return keys[np.tile(np.arange(self.seeds_per_variant), len(self.variants))]

    def block(self, tree: Any, v: int) -> Any:
        """Variant v's seeds of a tree with a leading seeds axis."""
        import jax

        if len(self.variants) == 1:
            return tree
        n = self.seeds_per_variant
        return jax.tree.map(lambda x: x[v * n : (v + 1) * n], tree)

    # --- the steps ----------------------------------------------------------------------

    def restore_or_init(self, resume: bool) -> None:
        """A fresh carry, or the newest good checkpoint's (falling back past damaged ones)."""
        import jax
        import numpy as np

        from ddpg_jax import hyperparams
        from ddpg_jax.metrics_log import MetricsLogger

        keys = self.seed_keys(self.init_root)
        if all(v.hp is None for v in self.variants):
            self.carry = self.trainer.init_seeds(keys)
        else:
            stacked = hyperparams.stack([v.hp for v in self.variants])
            repeat = self.seeds_per_variant
            self.carry = self.trainer.init_seeds(
                keys, jax.tree.map(lambda x: np.repeat(x, repeat, axis=0), stacked)
            )
        resume_step = None
        if resume:
            resume_step = self._restore()
            self.iteration = int(np.asarray(self.carry.iteration).reshape(-1)[0])
            if not self.opts.save_buffer:
                self.warmup_end = self.iteration + self.trainer.warmup_iterations
                _print(
                    "note: checkpoints hold no replay buffer (--save_buffer false): warm-up "
                    f"restarts ({self.trainer.warmup_iterations * self.cfg.num_envs} env steps of "
                    "random actions refill it), so the resumed run differs from an "
                    "uninterrupted one"
                )
            _print(f"resumed from env step {resume_step}")
        sharding = _seed_sharding(self.num_seeds)
        if sharding is not None:
            self.carry = jax.device_put(self.carry, sharding)
        self.loggers = [MetricsLogger(v.directory, resume_step=resume_step) for v in self.variants]

    def _restore(self) -> int:
        from ddpg_jax import loop
        from ddpg_jax.checkpoint import CheckpointError

        store = self.stores[0]
        step, skipped = store.latest_good_step()
        for bad, reason in skipped:
            _print(f"warning: skipping the damaged checkpoint at env step {bad}: {reason}")
        if step is None:
            raise UsageError(
                f"{self.variants[0].directory} has no "
                f"{'good ' if skipped else ''}checkpoint to resume from; start a new run"
            )
        target = loop.checkpoint_item(self.carry)
        target = target if self.opts.save_buffer else target.replace(buffer=None)
        while True:
            try:
                restored = store.restore_train(step, target)
                break
            except CheckpointError as e:  # unreadable, e.g. an unverified (older) checkpoint
                earlier = [s for s in store.all_steps() if s < step and store.verify(s) is None]
                if not earlier:
                    raise UsageError(str(e)) from None
                _print(f"warning: skipping the unreadable checkpoint at env step {step}")
                step = earlier[-1]
        restored = loop.from_checkpoint_item(restored, self.carry)
        self.carry = (
            restored if self.opts.save_buffer else restored.replace(buffer=self.carry.buffer)
        )
        return step

    def phases_ahead(self) -> set[str]:
        """The programs the next chunk runs: "warm-up", "learning" or both."""
        from ddpg_jax import loop

        length = self.schedule.chunk_length(self.iteration)
        return loop.phases(self.iteration, length, self.warmup_end)

    def run_chunk(self) -> tuple[dict[str, Any], int]:
        """The next chunk of every seed; returns its per-seed metrics (on the host) and its
        length in vectorised steps."""
        from ddpg_jax import loop

        length = self.schedule.chunk_length(self.iteration)
        self.carry, parts = _computed(
            lambda: self.trainer.dispatch_chunk(
                self.carry, self.iteration, length, warmup_end=self.warmup_end
            )
        )
        self.iteration += length
        return loop.summarise(parts), length

    def check_finite(self, env_step: int, metrics: dict[str, Any]) -> None:
        """Stops logging and saving a variant whose seeds are no longer finite."""
        from ddpg_jax import loop

        bad = loop.non_finite_seeds(self.carry, metrics)
        n = self.seeds_per_variant
        for v in [v for v in self.active if any(v * n <= i < (v + 1) * n for i in bad)]:
            kept = self.variants[v].directory.checkpoints_dir
            if len(self.variants) == 1:
                _print(
                    f"error: non-finite loss or parameters at env step {env_step} in "
                    f"seed(s) {bad}; stopped. The last good checkpoint is kept in {kept}"
                )
            else:
                local = [i - v * n for i in bad if v * n <= i < (v + 1) * n]
                _print(
                    f"error: non-finite loss or parameters at env step {env_step} in "
                    f"variant {self.variants[v].label} seed(s) {local}; that variant stopped. "
                    f"Its last good checkpoint is kept in {kept}"
                )
            self.active.remove(v)

    def evaluate_policies(self, env_step: int) -> dict[str, Any]:
        """Noise-free returns of every seed's policy, mean and spread over its episodes."""
        import jax

        keys = self.seed_keys(jax.random.fold_in(self.eval_root, env_step))
        result = jax.device_get(
            _computed(lambda: self.trainer.evaluate_seeds(self.carry.train_state, keys))
        )
        self.latest_eval = {
            "eval_return": result["eval_returns"].mean(axis=1),
            "eval_return_std": result["eval_returns"].std(axis=1),
            "eval_length": result["eval_lengths"].mean(axis=1),
        }
        return self.latest_eval

    def log(self, env_step: int, row: dict[str, Any], elapsed: float) -> None:
        for v in self.active:
            self.loggers[v].log(env_step, self.block(row, v), elapsed)

    def save(self, env_step: int, evaluated: bool) -> None:
        from ddpg_jax import loop
        from ddpg_jax.checkpoint import Policy

        returns = self.latest_eval.get("eval_return") if evaluated else None
        for v in self.active:
            item = self.block(self.carry, v)
            train_item = loop.checkpoint_item(item)  # no traced hp: a plain run's checkpoint
            self.stores[v].save(
                env_step,
                Policy.from_train_state(item.train_state),
                train_item if self.opts.save_buffer else train_item.replace(buffer=None),
                eval_returns=None if returns is None else self.block(returns, v),
                meta={
                    "env": self.opts.env,
                    "gym_id": self.env.gym_id,
                    "config": self.variants[v].cfg.to_dict(),
                },
            )

    def close(self) -> None:
        for closeable in (*self.loggers, *self.stores):
            closeable.close()

    # --- the loop -----------------------------------------------------------------------

    def run(self, resume: bool) -> int:
        import numpy as np

        from ddpg_jax.checkpoint import CheckpointError
        from ddpg_jax.progress import Progress

        t_start = time.time()
        cfg, schedule = self.cfg, self.schedule
        self.restore_or_init(resume)
        self._announce()
        progress = Progress(schedule.total_env_steps, self.iteration * cfg.num_envs)
        exit_code = 0
        budget = self.opts.max_minutes * 60
        stopped_by = None
        try:
            with Interrupts() as interrupts:
                if not resume:  # the untrained policy, so every curve starts from its baseline
                    first = self.evaluate_policies(0)
                    self.log(0, {**first, "env_steps_per_s": np.full(self.num_seeds, np.nan)}, 0.0)
                    progress.update(0, first["eval_return"])
                compiled: set[str] = set()
                saved_at = None if not resume else self.iteration * cfg.num_envs
                while self.iteration < schedule.total_iterations and interrupts.received is None:
                    t0 = time.time()
                    phases = self.phases_ahead()
                    metrics, length = self.run_chunk()
                    env_step = self.iteration * cfg.num_envs
                    seconds = time.time() - t0
                    if phases - compiled:
                        new = sorted(phases - compiled, reverse=True)
                        compiled |= phases
                        progress.note(
                            f"chunk ending at env step {env_step}: {seconds:.1f} s, compile of "
                            f"the {' and '.join(new)} program{'s' if len(new) > 1 else ''} "
                            "included"
                        )
                    self.check_finite(env_step, metrics)
                    if not self.active:
                        exit_code = EXIT_NON_FINITE
                        break
                    over_budget = budget > 0 and time.time() - t_start >= budget
                    last = self.iteration >= schedule.total_iterations
                    stopping = last or over_budget or interrupts.received is not None
                    steps_per_s = length * cfg.num_envs * self.num_seeds / max(seconds, 1e-9)
                    row = {k: np.asarray(v) for k, v in metrics.items()}
                    row["env_steps_per_s"] = np.full(self.num_seeds, steps_per_s)
                    evaluated = schedule.evaluates_at(env_step) or stopping
                    if evaluated:
                        row.update(self.evaluate_policies(env_step))
                    self.log(env_step, row, time.time() - t_start)
                    if schedule.checkpoints_at(env_step) or stopping:
                        self.save(env_step, evaluated)
                        saved_at = env_step
                    progress.update(
                        env_step,
                        self.latest_eval.get("eval_return"),
                        row.get("train_episode_return"),
                        steps_per_s,
                    )
                    if over_budget and not last:
                        stopped_by = "budget"
                        break
                if interrupts.received is not None and exit_code == 0:
                    exit_code = interrupts.exit_code
                    stopped_by = "interrupt"
                    env_step = self.iteration * cfg.num_envs
                    if env_step != saved_at:  # e.g. a signal during the first evaluation
                        self.save(env_step, evaluated=False)
        except CheckpointError as e:  # e.g. the disk is full: one line, earlier ones are kept
            progress.note(f"error: {e}")
            exit_code = EXIT_USAGE
        except KeyboardInterrupt:
            exit_code = EXIT_INTERRUPTED
            latest = self.stores[0].latest_step()
            kept = self.variants[0].directory.checkpoints_dir
            progress.note(
                "stopped at once; no checkpoint was saved yet"
                if latest is None
                else f"stopped at once; the latest checkpoint (env step {latest}) is kept in {kept}"
            )
        finally:
            progress.close()
            self.close()
        env_step = self.iteration * cfg.num_envs
        directory = self.variants[0].directory
        if stopped_by == "interrupt":
            _print(
                f"interrupted: checkpoint saved at env step {env_step}; continue with "
                f"python -m ddpg_jax.train --resume {directory}"
            )
        elif stopped_by == "budget":
            _print(
                f"stopped at the --max_minutes={self.opts.max_minutes:g} budget at env step "
                f"{env_step} of {schedule.total_env_steps} (checkpointed); continue with "
                f"python -m ddpg_jax.train --resume {directory}"
            )
        if exit_code == 0:
            _print(
                _summary(
                    self.variants,
                    self.active,
                    self.latest_eval.get("eval_return"),
                    time.time() - t_start,
                )
            )
            if len(self.active) < len(self.variants):
                exit_code = EXIT_NON_FINITE
        return exit_code

    def _announce(self) -> None:
        import jax

        cfg, n = self.cfg, len(self.variants)
        where = self.variants[0].directory if n == 1 else self.variants[0].directory.root.parent
        _print(
            f"ddpg-jax: {self.env.gym_id}, physics {self.backend} (--backend={self.opts.backend}), "
            f"learner on {jax.default_backend()} ({jax.devices()[0].device_kind}),"
            f"{f' {n} variants x' if n > 1 else ''}"
            f" {cfg.num_seeds} seed(s) x {cfg.num_envs} env(s), {cfg.total_steps} env steps per "
            f"seed, run dir{'s under' if n > 1 else ''} {where}"
        )
        total = self.schedule.total_env_steps
        if total != cfg.total_steps:
            _print(
                f"note: --total_steps={cfg.total_steps} is not a multiple of --num_envs="
                f"{cfg.num_envs}; the run does {total} env steps per seed (whole vectorised steps)"
            )


def run_keys(seed: int) -> tuple[Any, Any]:
    """The run's two root keys, one split of `key(seed)`: the seeds' initial keys come from
    the first, every evaluation's keys from the second, so the two never coincide."""
    import jax

    init_root, eval_root = jax.random.split(jax.random.key(seed))
    return init_root, eval_root


def host_loop(
    cfg: Config, run: RunOptions, variants: list[Variant], resume: bool = False, env: Any = None
) -> int:
    """Train `variants` (see `HostLoop`); returns the exit status."""
    if resume and len(variants) != 1:
        raise ValueError("resuming works for a single variant")
    loop = HostLoop(cfg, run, variants, env)
    return loop.run(resume)


def _summary(variants: list[Variant], active: list[int], returns: Any, seconds: float) -> str:
    """The closing message: eval return, where the run dirs are, and what to run next."""
    import numpy as np

    if len(variants) == 1:
        directory = variants[0].directory
        text = ""
        if returns is not None:
            spread = f" ± {np.std(returns):.1f} over seeds" if np.size(returns) > 1 else ""
            text = f", eval return {np.mean(returns):.1f}{spread}"
        return (
            f"done in {seconds:.0f} s{text}; run dir {directory}\n"
            f"next: python -m ddpg_jax.evaluate {directory}   (scores the latest checkpoint in "
            "Gymnasium; --checkpoint best: the one with the highest training eval)\n"
            f"      python -m ddpg_jax.plot {directory} --out {directory}/curves.png"
        )
    seeds = len(returns) // len(variants) if returns is not None else 0
    lines = [f"done in {seconds:.0f} s; eval return (mean ± std over seeds) per variant:"]
    for v, o in enumerate(variants):
        if v not in active:
            lines.append(f"  {o.label}: stopped (non-finite)")
        elif returns is not None:
            r = returns[v * seeds : (v + 1) * seeds]
            lines.append(f"  {o.label}: {np.mean(r):.1f} ± {np.std(r):.1f}")
    root = variants[0].directory.root.parent
    lines.append(
        f"run dirs under {root}\n"
        f"next: python -m ddpg_jax.plot {root} --out {root}/curves.png\n"
        f"      python -m ddpg_jax.evaluate {root}   (every variant)"
    )
    return "\n".join(lines)


def _seed_sharding(num_seeds: int) -> Any:
    """Shards the leading seeds axis over devices when there is more than one and it divides."""
    import jax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    devices = jax.devices()
    if len(devices) < 2:
        return None
    if num_seeds % len(devices):
        _print(f"note: {num_seeds} seeds do not divide over {len(devices)} devices; using one")
        return None
    mesh = Mesh(devices, ("seeds",))
    _print(f"seeds sharded over {len(devices)} devices")
    return NamedSharding(mesh, PartitionSpec("seeds"))


def _exit(code: int) -> None:
    """Ends the process with `code`. After a second signal the abandoned chunk may still be
    computing, or XLA's threads may still be in host callbacks: a normal interpreter exit then
    aborts (SIGABRT in the finaliser), so the process leaves at once (its files are closed)."""
    if _ABANDONED.is_set():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    _exit(main())
