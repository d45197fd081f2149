"""The host loop of a run: jitted chunks of training and, between them, finiteness checks,
evaluation, logging and checkpoints, for one run dir or a sweep's variants at once.

`HostLoop.run` reads as its steps: `restore_or_init`, then per chunk `train_chunk` (which runs
`run_chunk`, `check_finite`, `evaluate_policies`, `log` and `save`), until the total, the
`--max_minutes` budget or an interrupt (`ddpg_jax.interrupts`) stops it; then `finish`.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from ddpg_jax import chunk_metrics, envs, hyperparams, loop, mesh
from ddpg_jax.agent import Policy
from ddpg_jax.checkpoint import CheckpointError, CheckpointStore
from ddpg_jax.cli import EXIT_USAGE, UsageError, enable_compilation_cache
from ddpg_jax.cli import say as _print
from ddpg_jax.config import Config
from ddpg_jax.interrupts import Interrupts, computed
from ddpg_jax.metrics_log import MetricsLogger
from ddpg_jax.progress import Progress
from ddpg_jax.run_setup import Variant, run_keys, schedule_of
from ddpg_jax.settings import RunOptions

EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130


def host_loop(
    cfg: Config, run: RunOptions, variants: list[Variant], env: Any, resume: bool = False
) -> int:
    """Train `variants` (see `HostLoop`) on `env`; returns the exit status."""
    if resume and len(variants) != 1:
        raise ValueError("resuming works for a single variant")
    return HostLoop(cfg, run, variants, env).run(resume)


class HostLoop:
    """Trains every variant in one process: one compiled chunk over `len(variants) *
    cfg.num_seeds` vmapped seeds (seed `v * num_seeds + s` is seed s of variant v).

    A variant whose seeds go non-finite stops being logged and saved; the run stops (exit 3)
    when none is left, else it finishes the others and exits 3. Resuming works for one variant.
    """

    def __init__(self, cfg: Config, run: RunOptions, variants: list[Variant], env: Any):
        self.cfg, self.opts, self.variants, self.env = cfg, run, variants, env
        self.seeds_per_variant = cfg.num_seeds
        self.num_seeds = cfg.num_seeds * len(variants)
        jax.config.update("jax_default_matmul_precision", "float32")
        enable_compilation_cache()
        self.schedule = schedule_of(cfg, run)
        self.layout = mesh.choose(run.mesh, self.num_seeds, cfg)
        self.trainer = loop.make_train(
            cfg,
            env,
            self.schedule.chunk_iterations,
            run.episode_length,
            run.eval_episodes,
            layout=self.layout,
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
        self.started = time.time()
        self.progress: Any = None
        self.interrupts: Any = None
        self.compiled: set[str] = set()
        self.saved_at: int | None = None
        self.stopped_by: str | None = None  # "budget" or "interrupt"
        self.exit_code = 0

    @property
    def env_step(self) -> int:
        """Env steps per seed done so far."""
        return self.iteration * self.cfg.num_envs

    # --- blocks of the vmapped axis ------------------------------------------------------

    def seed_keys(self, key: Any) -> Any:
        """`num_seeds` keys split from `key`, the same for every variant."""
        keys = jax.random.split(key, self.seeds_per_variant)
        if len(self.variants) == 1:
            return keys
        return keys[np.tile(np.arange(self.seeds_per_variant), len(self.variants))]

    def block(self, tree: Any, v: int) -> Any:
        """Variant v's seeds of a tree with a leading seeds axis."""
        if len(self.variants) == 1:
            return tree
        n = self.seeds_per_variant
        return jax.tree.map(lambda x: x[v * n : (v + 1) * n], tree)

    def seeds_by_variant(self, seeds: list[int]) -> dict[int, list[int]]:
        """Seed indices of the vmapped axis grouped by variant, as indices within it."""
        grouped: dict[int, list[int]] = {}
        for i in seeds:
            v, local = divmod(i, self.seeds_per_variant)
            grouped.setdefault(v, []).append(local)
        return grouped

    # --- the loop ------------------------------------------------------------------------

    def run(self, resume: bool) -> int:
        self.started = time.time()
        self.restore_or_init(resume)
        self.announce()
        self.progress = Progress(self.schedule.total_env_steps, self.env_step)
        try:
            with Interrupts() as self.interrupts:
                if not resume:
                    self.evaluate_untrained()
                else:
                    self.saved_at = self.env_step
                while self.iteration < self.schedule.total_iterations:
                    if self.interrupts.received is not None or not self.train_chunk():
                        break
                self.save_on_interrupt()
        except CheckpointError as e:  # e.g. the disk is full: one line, earlier ones are kept
            self.progress.note(f"error: {e}")
            self.exit_code = EXIT_USAGE
        except KeyboardInterrupt:
            self.stopped_at_once()
        finally:
            self.progress.close()
            self.close()
        return self.finish()

    # --- the steps -----------------------------------------------------------------------

    def restore_or_init(self, resume: bool) -> None:
        """A fresh carry, or the newest good checkpoint's (falling back past damaged ones)."""
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
        self.carry = mesh.place(self.layout, self.carry)
        self.loggers = [MetricsLogger(v.directory, resume_step=resume_step) for v in self.variants]

    def _restore(self) -> int:
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
            except CheckpointError as e:  # unreadable, e.g. an unverified checkpoint
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

    def evaluate_untrained(self) -> None:
        """The untrained policy's row at env step 0, so every curve starts from its baseline."""
        first = self.evaluate_policies(0)
        self.log(0, {**first, "env_steps_per_s": np.full(self.num_seeds, np.nan)}, 0.0)
        self.progress.update(0, first["eval_return"])

    def train_chunk(self) -> bool:
        """One chunk and what follows it (check, evaluate, log, save); False when the run stops
        here (no finite variant left, or the time budget spent)."""
        t0 = time.time()
        phases = self.phases_ahead()
        metrics, length = self.run_chunk()
        seconds = time.time() - t0
        env_step = self.env_step
        self.note_compiles(phases, env_step, seconds)
        self.check_finite(env_step, metrics)
        if not self.active:
            self.exit_code = EXIT_NON_FINITE
            return False
        budget = self.opts.max_minutes * 60
        over_budget = budget > 0 and time.time() - self.started >= budget
        last = self.iteration >= self.schedule.total_iterations
        stopping = last or over_budget or self.interrupts.received is not None
        steps_per_s = length * self.cfg.num_envs * self.num_seeds / max(seconds, 1e-9)
        row = {k: np.asarray(v) for k, v in metrics.items()}
        row["env_steps_per_s"] = np.full(self.num_seeds, steps_per_s)
        evaluated = self.schedule.evaluates_at(env_step) or stopping
        if evaluated:
            row.update(self.evaluate_policies(env_step))
        self.log(env_step, row, time.time() - self.started)
        if self.schedule.checkpoints_at(env_step) or stopping:
            self.save(env_step, evaluated)
        self.progress.update(
            env_step,
            self.latest_eval.get("eval_return"),
            row.get("train_episode_return"),
            steps_per_s,
        )
        if over_budget and not last:
            self.stopped_by = "budget"
            return False
        return True

    def phases_ahead(self) -> set[str]:
        """The programs the next chunk runs: "warm-up", "learning" or both."""
        length = self.schedule.chunk_length(self.iteration)
        return loop.phases(self.iteration, length, self.warmup_end)

    def run_chunk(self) -> tuple[dict[str, Any], int]:
        """The next chunk of every seed; returns its per-seed metrics (on the host) and its
        length in vectorised steps."""
        length = self.schedule.chunk_length(self.iteration)
        self.carry, metrics = computed(
            lambda: self.trainer.train_chunk_seeds(
                self.carry, self.iteration, length, warmup_end=self.warmup_end
            )
        )
        self.iteration += length
        return metrics, length

    def note_compiles(self, phases: set[str], env_step: int, seconds: float) -> None:
        """Says which chunk's time included the compile of a program run for the first time."""
        new = sorted(phases - self.compiled, reverse=True)
        if new:
            self.compiled |= phases
            self.progress.note(
                f"chunk ending at env step {env_step}: {seconds:.1f} s, compile of "
                f"the {' and '.join(new)} program{'s' if len(new) > 1 else ''} included"
            )

    def check_finite(self, env_step: int, metrics: dict[str, Any]) -> None:
        """Stops logging and saving a variant whose seeds are no longer finite."""
        bad = chunk_metrics.non_finite_seeds(self.carry, metrics)
        for v, local in self.seeds_by_variant(bad).items():
            if v not in self.active:
                continue
            kept = self.variants[v].directory.checkpoints_dir
            if len(self.variants) == 1:
                _print(
                    f"error: non-finite loss or parameters at env step {env_step} in "
                    f"seed(s) {bad}; stopped. The last good checkpoint is kept in {kept}"
                )
            else:
                _print(
                    f"error: non-finite loss or parameters at env step {env_step} in "
                    f"variant {self.variants[v].label} seed(s) {local}; that variant stopped. "
                    f"Its last good checkpoint is kept in {kept}"
                )
            self.active.remove(v)

    def evaluate_policies(self, env_step: int) -> dict[str, Any]:
        """Noise-free returns of every seed's policy, mean and spread over its episodes."""
        keys = self.seed_keys(jax.random.fold_in(self.eval_root, env_step))
        result = jax.device_get(
            computed(lambda: self.trainer.evaluate_seeds(self.carry.train_state, keys))
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
        self.saved_at = env_step

    def save_on_interrupt(self) -> None:
        """After an interrupt honoured between chunks: a checkpoint where the run stopped."""
        if self.interrupts.received is None or self.exit_code != 0:
            return
        self.exit_code = self.interrupts.exit_code
        self.stopped_by = "interrupt"
        if self.env_step != self.saved_at:  # e.g. a signal during the first evaluation
            self.save(self.env_step, evaluated=False)

    def stopped_at_once(self) -> None:
        """A second interrupt: says which checkpoint is kept."""
        self.exit_code = EXIT_INTERRUPTED
        latest = self.stores[0].latest_step()
        kept = self.variants[0].directory.checkpoints_dir
        self.progress.note(
            "stopped at once; no checkpoint was saved yet"
            if latest is None
            else f"stopped at once; the latest checkpoint (env step {latest}) is kept in {kept}"
        )

    def close(self) -> None:
        for closeable in (*self.loggers, *self.stores):
            closeable.close()

    def finish(self) -> int:
        """The closing message; returns the exit status."""
        directory = self.variants[0].directory
        resume = f"continue with python -m ddpg_jax.train --resume {directory}"
        if self.stopped_by == "interrupt":
            _print(f"interrupted: checkpoint saved at env step {self.env_step}; {resume}")
        elif self.stopped_by == "budget":
            _print(
                f"stopped at the --max_minutes={self.opts.max_minutes:g} budget at env step "
                f"{self.env_step} of {self.schedule.total_env_steps} (checkpointed); {resume}"
            )
        if self.exit_code == 0:
            _print(self.summary(time.time() - self.started))
            if len(self.active) < len(self.variants):
                self.exit_code = EXIT_NON_FINITE
        return self.exit_code

    def announce(self) -> None:
        cfg, n = self.cfg, len(self.variants)
        where = self.variants[0].directory if n == 1 else self.variants[0].directory.root.parent
        backend = envs.resolve_backend(self.opts.backend)
        _print(
            f"ddpg-jax: {self.env.gym_id}, physics {backend} (--backend={self.opts.backend}), "
            f"learner on {jax.default_backend()} ({jax.devices()[0].device_kind}),"
            f"{f' {n} variants x' if n > 1 else ''}"
            f" {cfg.num_seeds} seed(s) x {cfg.num_envs} env(s), {cfg.total_steps} env steps per "
            f"seed, run dir{'s under' if n > 1 else ''} {where}"
        )
        self.announce_mesh()
        total = self.schedule.total_env_steps
        # Rounding up to whole vectorised steps is worth a line only where it changes the run.
        if total - cfg.total_steps > 0.001 * cfg.total_steps:
            _print(
                f"note: --total_steps={cfg.total_steps} is not a multiple of --num_envs="
                f"{cfg.num_envs}; the run does {total} env steps per seed (whole vectorised steps)"
            )

    def announce_mesh(self) -> None:
        """Which devices hold what, when there is more than one."""
        layout, count = self.layout, len(jax.devices())
        if count == 1:
            return
        unused = f" ({count - layout.size} of {count} left idle)" if layout.size < count else ""
        split = f", each seed's envs and replay buffer in {layout.envs} parts" * (layout.envs > 1)
        _print(f"mesh {layout.describe()} (seeds x envs, --mesh={self.opts.mesh}){split}{unused}")

    def summary(self, seconds: float) -> str:
        """The closing message: eval return, where the run dirs are, and what to run next."""
        returns = self.latest_eval.get("eval_return")
        if len(self.variants) == 1:
            directory = self.variants[0].directory
            text = ""
            if returns is not None:
                spread = f" ± {np.std(returns):.1f} over seeds" if np.size(returns) > 1 else ""
                text = f", eval return {np.mean(returns):.1f}{spread}"
            return (
                f"done in {seconds:.0f} s{text}; run dir {directory}\n"
                f"next: python -m ddpg_jax.evaluate {directory}   (scores the latest checkpoint "
                "in Gymnasium; --checkpoint best: the one with the highest training eval)\n"
                f"      python -m ddpg_jax.plot {directory} --out {directory}/curves.png"
            )
        lines = [f"done in {seconds:.0f} s; eval return (mean ± std over seeds) per variant:"]
        for v, variant in enumerate(self.variants):
            if v not in self.active:
                lines.append(f"  {variant.label}: stopped (non-finite)")
            elif returns is not None:
                r = self.block(returns, v)
                lines.append(f"  {variant.label}: {np.mean(r):.1f} ± {np.std(r):.1f}")
        root = self.variants[0].directory.root.parent
        lines.append(
            f"run dirs under {root}\n"
            f"next: python -m ddpg_jax.plot {root} --out {root}/curves.png\n"
            f"      python -m ddpg_jax.evaluate {root}   (every variant)"
        )
        return "\n".join(lines)
