"""Command line: train DDPG on an MJX task, many envs and vmapped seeds in one process.

    python -m ddpg_jax.train --env=hopper --num_envs=2048 --num_seeds=5

Settings are layered: `Config` defaults < the task preset `configs/<env>.yaml` (its `cpu:` or
`gpu:` section by the default JAX device) < `--config FILE` < command-line flags. Bad input
prints one line and exits 2. The host loop between jitted chunks logs, evaluates and
checkpoints; Ctrl-C saves a checkpoint before exiting.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import pathlib
import sys
import time
import typing
from typing import Any

import yaml

from ddpg_jax.cli import Parser, UsageError, parse_bool
from ddpg_jax.cli import run as run_cli
from ddpg_jax.cli import say as _print
from ddpg_jax.config import Config, ConfigError, field_docs

CONFIGS_DIR = pathlib.Path(__file__).resolve().parent.parent / "configs"
DEFAULT_ENV = "inverted_pendulum"
EXIT_NON_FINITE = 3
EXIT_INTERRUPTED = 130


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run is driven by the host (not part of the algorithm's `Config`)."""

    env: str = DEFAULT_ENV
    """Task: a name (ant, halfcheetah, hopper, inverted_double_pendulum, inverted_pendulum,
    walker2d) or its Gymnasium id (Hopper-v5)."""
    seed: int = 0
    """Base seed; seed i of the vmapped seeds uses jax.random.key(seed) split num_seeds ways."""
    episode_length: int = 1000
    """Time limit in env steps (Gymnasium v5's max_episode_steps)."""
    log_every: int = 0
    """Env steps per seed between log lines; one jitted chunk each. 0: about 1/50 of the run."""
    eval_every: int = 0
    """Env steps per seed between noise-free evaluations. 0: about 1/10 of the run."""
    eval_episodes: int = 10
    """Evaluation episodes per seed (run in parallel on separate MJX envs)."""
    checkpoint_every: int = 0
    """Env steps per seed between checkpoints (and one at the end). 0: with each evaluation."""
    keep_checkpoints: int = 3
    """Keep the last K checkpoints (plus the best by eval return)."""
    save_buffer: bool = False
    """Store the replay buffer in checkpoints (needed for a resume identical to an
    uninterrupted run; large)."""
    backend: str = "auto"
    """Physics: mjx (MJX, for GPUs), mujoco (C MuJoCo through a callback, fast on CPUs), or
    auto (mjx on a GPU, else mujoco)."""
    impl: str = "jax"
    """MJX implementation: jax, or warp (NVIDIA GPUs with warp-lang)."""


def _add_fields(group: Any, cls: type, docs: dict[str, str]) -> None:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        kwargs: dict[str, Any] = {
            "default": None,
            "help": f"{docs.get(field.name, '')} (default: {field.default})",
        }
        if typing.get_origin(hint) is typing.Literal:
            kwargs["choices"] = typing.get_args(hint)
        elif hint is bool:
            kwargs["type"], kwargs["metavar"] = parse_bool, "{true,false}"
        else:
            kwargs["type"] = hint
        group.add_argument(f"--{field.name}", **kwargs)


def build_parser(
    prog: str = "python -m ddpg_jax.train",
    description: str = "Train DDPG on a Gymnasium v5 MuJoCo task in MJX: many envs and vmapped "
    "seeds in one process. Flags override --config, which overrides the task preset "
    "configs/<env>.yaml.",
) -> argparse.ArgumentParser:
    """The train CLI's parser (`ddpg_jax.sweep` extends it, with its own prog and text)."""
    parser = Parser(prog=prog, description=description)
    files = parser.add_argument_group("files")
    files.add_argument(
        "--config",
        metavar="FILE",
        help="YAML file with Config fields (and run options), applied over the task preset",
    )
    files.add_argument(
        "--out", metavar="DIR", help="run directory (default: runs/<env>-<date-time>)"
    )
    files.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run in DIR from its latest "
        "checkpoint (its config.yaml is used; --total_steps may extend it)",
    )
    _add_fields(parser.add_argument_group("run"), RunOptions, field_docs(RunOptions))
    _add_fields(parser.add_argument_group("algorithm (Config)"), Config, field_docs())
    return parser


def default_device_kind() -> str:
    import jax

    return "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"


def load_preset(env: str, device_kind: str) -> dict[str, Any]:
    """The preset's shared keys merged with its `cpu:` or `gpu:` section."""
    path = CONFIGS_DIR / f"{env}.yaml"
    if not path.is_file():
        return {}
    return _resolve_sections(_read_yaml(path), device_kind, str(path))


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path) as f:
            doc = yaml.safe_load(f)
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except (OSError, yaml.YAMLError) as e:
        raise UsageError(f"cannot read config file {path}: {str(e).splitlines()[0]}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UsageError(f"config file {path} must hold a mapping of field: value")
    return doc


def _resolve_sections(doc: dict[str, Any], device_kind: str, origin: str) -> dict[str, Any]:
    merged = {k: v for k, v in doc.items() if k not in ("cpu", "gpu")}
    section = doc.get(device_kind) or {}
    if not isinstance(section, dict):
        raise UsageError(f"{origin}: section {device_kind!r} must be a mapping")
    merged.update(section)
    return merged


def resolve_settings(args: argparse.Namespace, device_kind: str) -> tuple[Config, RunOptions]:
    """Layer defaults, preset, --config and flags into a validated Config and RunOptions."""
    import envs

    from_file = (
        _resolve_sections(_read_yaml(args.config), device_kind, args.config) if args.config else {}
    )
    flags = {
        k: v
        for k, v in vars(args).items()
        if v is not None and k not in ("config", "out", "resume")
    }
    env_name = flags.get("env") or from_file.get("env") or DEFAULT_ENV
    try:
        env_name = envs.canonical_name(str(env_name))
    except ValueError as e:
        raise UsageError(str(e)) from None
    settings = {**load_preset(env_name, device_kind), **from_file, **flags, "env": env_name}
    config_fields = {f.name for f in dataclasses.fields(Config)}
    run_fields = {f.name for f in dataclasses.fields(RunOptions)}
    unknown = sorted(set(settings) - config_fields - run_fields)
    if unknown:
        raise UsageError(
            f"unknown setting(s) {', '.join(unknown)}; valid: "
            f"{', '.join(sorted(config_fields | run_fields))}"
        )
    try:
        cfg = Config.from_dict({k: v for k, v in settings.items() if k in config_fields})
    except ConfigError as e:
        raise UsageError(str(e)) from None
    run = RunOptions(**{k: v for k, v in settings.items() if k in run_fields})
    _check_run_options(run, cfg)
    return cfg, run


def _check_run_options(run: RunOptions, cfg: Config) -> None:
    positive = ("episode_length", "eval_episodes", "keep_checkpoints")
    for name in positive:
        if getattr(run, name) < 1:
            raise UsageError(f"--{name}={getattr(run, name)} is invalid: must be >= 1")
    for name in ("log_every", "eval_every", "checkpoint_every"):
        if getattr(run, name) < 0:
            raise UsageError(
                f"--{name}={getattr(run, name)} is invalid: must be >= 0 (0 picks a default)"
            )
    if run.backend not in ("auto", "mjx", "mujoco"):
        raise UsageError(
            f"--backend={run.backend!r} is invalid: must be one of 'auto', 'mjx', 'mujoco'"
        )
    if run.impl not in ("jax", "warp"):
        raise UsageError(f"--impl={run.impl!r} is invalid: must be one of 'jax', 'warp'")


@dataclasses.dataclass(frozen=True)
class Schedule:
    """Chunk size and intervals, all in env steps per seed (multiples of a chunk)."""

    chunk_iterations: int
    chunk_env_steps: int
    eval_every: int
    checkpoint_every: int
    total_iterations: int


def make_schedule(cfg: Config, run: RunOptions) -> Schedule:
    total_iterations = math.ceil(cfg.total_steps / cfg.num_envs)
    log_every = run.log_every or max(1, cfg.total_steps // 50)
    chunk_iterations = max(1, min(total_iterations, round(log_every / cfg.num_envs)))
    chunk = chunk_iterations * cfg.num_envs

    def in_chunks(every: int, fallback: int) -> int:
        steps = every or fallback
        return max(1, round(steps / chunk)) * chunk

    eval_every = in_chunks(run.eval_every, max(1, cfg.total_steps // 10))
    return Schedule(
        chunk_iterations=chunk_iterations,
        chunk_env_steps=chunk,
        eval_every=eval_every,
        checkpoint_every=in_chunks(run.checkpoint_every, eval_every),
        total_iterations=total_iterations,
    )


def estimate_memory_bytes(cfg: Config, env: Any, run: RunOptions) -> dict[str, int]:
    """Rough device memory of one run: buffers, env states and networks for all seeds."""
    import jax
    import numpy as np

    obs, act = env.observation_size, env.action_size
    buffer = cfg.buffer_size * (2 * obs + act + 2) * 4
    state = jax.eval_shape(env.reset, jax.random.key(0))
    env_bytes = sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(state))
    # The training scan holds a few copies of the env state (before/after step, auto-reset).
    envs_total = env_bytes * (cfg.num_envs * 4 + run.eval_episodes * 2)
    h = cfg.hidden_dim
    actor = obs * h + h * h + h * act + 2 * h + act
    critic = (obs * h + (h + act) * h + h + 2 * h + 1) * (2 if cfg.twin_critics else 1)
    # params, targets, two Adam moments, gradients; activations of a batch.
    networks = (actor + critic) * 5 * 4 + cfg.batch_size * (4 * h + obs + act) * 4 * 3
    per_seed = {"replay buffer": buffer, "envs": envs_total, "networks": networks}
    return {k: v * cfg.num_seeds for k, v in per_seed.items()}


def device_memory_bytes() -> int | None:
    import jax

    device = jax.devices()[0]
    try:
        stats = device.memory_stats()
    except Exception:  # noqa: BLE001 - not every backend reports memory
        stats = None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(cfg: Config, env: Any, run: RunOptions) -> None:
    estimate = estimate_memory_bytes(cfg, env, run)
    available = device_memory_bytes()
    total = sum(estimate.values())
    if available is not None and total > 0.9 * available:
        parts = ", ".join(f"{k} {v / 2**30:.1f} GiB" for k, v in estimate.items())
        raise UsageError(
            f"this run needs about {total / 2**30:.1f} GiB ({parts}) but the device has "
            f"{available / 2**30:.1f} GiB; lower --buffer_size, --num_envs or --num_seeds"
        )


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    from ddpg_jax import run_dir
    from ddpg_jax.checkpoint import CheckpointError
    from ddpg_jax.run_dir import RunDirError

    try:
        if args.resume:
            return _resume(args)
        device_kind = default_device_kind()
        cfg, run = resolve_settings(args, device_kind)
        directory = run_dir.create(args.out, run.env)
    except (RunDirError, CheckpointError) as e:
        raise UsageError(str(e)) from None
    extra = run_metadata(run)
    run_dir.save_config(directory, cfg, extra)
    return train(cfg, run, directory, resume=False)


def run_metadata(run: RunOptions) -> dict[str, Any]:
    """What config.yaml records beside the Config: the task, the resolved physics backend, the
    run options, and the device and start time that results tables report."""
    import datetime

    import jax

    device = jax.devices()[0]
    return {
        "env": run.env,
        "backend": envs_backend(run.backend),
        "run": dataclasses.asdict(run),
        "device": f"{jax.default_backend()}: {len(jax.devices())} x {device.device_kind}",
        "cpu_count": os.cpu_count(),
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


def envs_backend(choice: str) -> str:
    """The physics backend `choice` ("auto", "mjx", "mujoco") resolves to on this machine."""
    from envs.base import resolve_backend

    return resolve_backend(choice)


def _resume(args: argparse.Namespace) -> int:
    from ddpg_jax import run_dir

    directory = run_dir.open_existing(args.resume)
    cfg, extra = run_dir.load_config(directory)
    saved = {**extra.get("run", {}), "env": extra["env"]}
    if extra.get("backend"):  # the resolved physics: its env state is what the checkpoint holds
        saved["backend"] = extra["backend"]
    run = RunOptions(**saved)
    overrides = {
        k: v
        for k, v in vars(args).items()
        if v is not None and k not in ("resume", "config", "out")
    }
    if set(overrides) - {"total_steps"}:
        raise UsageError(
            f"--resume continues the saved config; only --total_steps may change "
            f"(got {', '.join('--' + k for k in sorted(overrides))})"
        )
    if "total_steps" in overrides:
        try:
            cfg = cfg.replace(total_steps=overrides["total_steps"])
        except ConfigError as e:
            raise UsageError(str(e)) from None
        run_dir.save_config(directory, cfg, extra)
    return train(cfg, run, directory, resume=True)


@dataclasses.dataclass(frozen=True)
class Output:
    """A run dir fed by one block of `cfg.num_seeds` consecutive lanes of the vmapped axis.

    A plain run has one output; a sweep (`ddpg_jax.sweep`) one per variant, each with its
    traced hyperparameters. Every block uses the same seed keys, so variants differ only by
    their hyperparameters.
    """

    directory: Any  # run_dir.RunDir
    cfg: Config
    """The output's own config (as in its config.yaml; stored in checkpoint meta)."""
    label: str = ""
    """Names a sweep's variant in messages ("" for a plain run)."""
    hp: Any = None
    """`hyperparams.Hyperparams` of a sweep's variant; None for a plain run (nothing traced)."""


def train(cfg: Config, run: RunOptions, directory: Any, resume: bool) -> int:
    """The host loop: compile, then chunks of training with logging, eval and checkpoints."""
    return host_loop(cfg, run, [Output(directory, cfg)], resume=resume)


def host_loop(cfg: Config, run: RunOptions, outputs: list[Output], resume: bool = False) -> int:
    """Train every output in one process: one compiled chunk over `len(outputs) *
    cfg.num_seeds` vmapped lanes (lane `v * num_seeds + s` is seed s of output v), with
    logging, evaluation and checkpoints into each output's run dir.

    `cfg` is the static config all outputs share (their traced fields aside). Resuming works
    for a single output. An output whose seeds go non-finite stops being logged and saved; the
    run stops (exit 3) when none is left, else it finishes the others and exits 3.
    """
    import jax
    import numpy as np

    import envs
    from ddpg_jax import hyperparams, loop
    from ddpg_jax.checkpoint import CheckpointError, CheckpointStore, Policy
    from ddpg_jax.metrics_log import MetricsLogger

    if resume and len(outputs) != 1:
        raise ValueError("resuming works for a single output")
    seeds, num_outputs = cfg.num_seeds, len(outputs)
    lanes = seeds * num_outputs
    lane_cfg = cfg.replace(num_seeds=lanes)
    stores = [CheckpointStore(o.directory, keep_last=run.keep_checkpoints) for o in outputs]
    resume_step = stores[0].latest_step() if resume else None
    if resume and resume_step is None:
        stores[0].close()
        raise UsageError(
            f"{outputs[0].directory} has no checkpoint to resume from; start a new run"
        )
    jax.config.update("jax_default_matmul_precision", "float32")
    enable_compilation_cache()
    backend = envs_backend(run.backend)
    env = envs.make(run.env, backend=backend, **({"impl": run.impl} if backend == "mjx" else {}))
    check_memory(lane_cfg, env, run)
    schedule = make_schedule(cfg, run)
    trainer = loop.make_train(
        cfg, env, schedule.chunk_iterations, run.episode_length, run.eval_episodes
    )
    where = outputs[0].directory if num_outputs == 1 else outputs[0].directory.root.parent
    _print(
        f"ddpg-jax: {env.gym_id}, physics {backend} (--backend={run.backend}), learner on "
        f"{jax.default_backend()} ({jax.devices()[0].device_kind}),"
        f"{f' {num_outputs} variants x' if num_outputs > 1 else ''}"
        f" {cfg.num_seeds} seed(s) x {cfg.num_envs} env(s), {cfg.total_steps} env steps per "
        f"seed, run dir{'s under' if num_outputs > 1 else ''} {where}"
    )

    def lane_keys(key: jax.Array) -> jax.Array:
        """`num_seeds` keys split from `key`, repeated for every output."""
        keys = jax.random.split(key, seeds)
        return keys if num_outputs == 1 else keys[np.tile(np.arange(seeds), num_outputs)]

    def block(tree: Any, v: int) -> Any:
        """Output v's lanes of a tree with a leading lane axis."""
        if num_outputs == 1:
            return tree
        return jax.tree.map(lambda x: x[v * seeds : (v + 1) * seeds], tree)

    sharding = _seed_sharding(lanes)
    seed_keys = lane_keys(jax.random.key(run.seed))
    if all(o.hp is None for o in outputs):
        carry = trainer.init_seeds(seed_keys)
    else:
        stacked = hyperparams.stack([o.hp for o in outputs])
        carry = trainer.init_seeds(
            seed_keys, jax.tree.map(lambda x: np.repeat(x, seeds, axis=0), stacked)
        )
    start_iteration = 0
    if resume:
        step = resume_step
        target = loop.checkpoint_item(carry)
        target = target if run.save_buffer else target.replace(buffer=None)
        try:
            restored = stores[0].restore_train(step, target)
        except CheckpointError as e:
            raise UsageError(str(e)) from None
        restored = loop.from_checkpoint_item(restored, carry)
        carry = restored if run.save_buffer else restored.replace(buffer=carry.buffer)
        if not run.save_buffer:
            _print(
                "note: checkpoints hold no replay buffer (--save_buffer false); it refills "
                "from empty, so the resumed run differs from an uninterrupted one"
            )
        start_iteration = int(np.asarray(carry.iteration).reshape(-1)[0])
        _print(f"resumed from env step {step}")
    if sharding is not None:
        carry = jax.device_put(carry, sharding)

    loggers = [
        MetricsLogger(o.directory, resume_step=start_iteration * cfg.num_envs if resume else None)
        for o in outputs
    ]
    eval_key = jax.random.fold_in(jax.random.key(run.seed), 1)
    progress = _Progress(cfg.total_steps, start_iteration * cfg.num_envs)
    latest_eval: dict[str, np.ndarray] = {}
    iteration = start_iteration
    active = list(range(num_outputs))  # outputs still logged and saved (all seeds finite)
    t_start = time.time()

    def save(v: int, env_step: int, eval_returns: Any) -> None:
        item = block(carry, v)
        train_item = loop.checkpoint_item(item)  # no traced hp: a plain run's checkpoint
        stores[v].save(
            env_step,
            Policy.from_train_state(item.train_state),
            train_item if run.save_buffer else train_item.replace(buffer=None),
            eval_returns=eval_returns,
            meta={"env": run.env, "gym_id": env.gym_id, "config": outputs[v].cfg.to_dict()},
        )

    def evaluate(env_step: int) -> dict[str, np.ndarray]:
        keys = lane_keys(jax.random.fold_in(eval_key, env_step))
        result = jax.device_get(trainer.evaluate_seeds(carry.train_state, keys))
        return {
            "eval_return": result["eval_returns"].mean(axis=1),
            "eval_return_std": result["eval_returns"].std(axis=1),
            "eval_length": result["eval_lengths"].mean(axis=1),
        }

    def log(env_step: int, row: dict[str, np.ndarray]) -> None:
        for v in active:
            loggers[v].log(env_step, block(row, v), time.time() - t_start)

    if not resume:  # the untrained policy, so every curve starts from its baseline
        latest_eval = evaluate(0)
        log(0, latest_eval)
        progress.update(0, latest_eval["eval_return"], {})

    exit_code = 0
    try:
        while iteration < schedule.total_iterations:
            t0 = time.time()
            carry, metrics = trainer.train_chunk_seeds(carry)
            metrics = jax.device_get(metrics)
            iteration += schedule.chunk_iterations
            env_step = iteration * cfg.num_envs
            if iteration == start_iteration + schedule.chunk_iterations:
                _print(
                    f"first chunk (compile + {schedule.chunk_env_steps} env steps per seed) "
                    f"took {time.time() - t0:.1f} s"
                )
            bad = loop.non_finite_seeds(carry, metrics)
            for v in [v for v in active if any(v * seeds <= i < (v + 1) * seeds for i in bad)]:
                kept = outputs[v].directory.checkpoints_dir
                if num_outputs == 1:
                    _print(
                        f"error: non-finite loss or parameters at env step {env_step} in "
                        f"seed(s) {bad}; stopped. The last good checkpoint is kept in {kept}"
                    )
                else:
                    local = [i - v * seeds for i in bad if v * seeds <= i < (v + 1) * seeds]
                    _print(
                        f"error: non-finite loss or parameters at env step {env_step} in "
                        f"variant {outputs[v].label} seed(s) {local}; that variant stopped. "
                        f"Its last good checkpoint is kept in {kept}"
                    )
                active.remove(v)
            if not active:
                exit_code = EXIT_NON_FINITE
                break
            row = {k: np.asarray(v) for k, v in metrics.items()}
            done = iteration >= schedule.total_iterations
            evaluated = env_step % schedule.eval_every == 0 or done
            if evaluated:
                latest_eval = evaluate(env_step)
                row.update(latest_eval)
            log(env_step, row)
            if env_step % schedule.checkpoint_every == 0 or done:
                for v in active:
                    returns = latest_eval.get("eval_return") if evaluated else None
                    save(v, env_step, None if returns is None else block(returns, v))
            all_steps_per_s = schedule.chunk_env_steps * lanes / (time.time() - t0)
            progress.update(env_step, latest_eval.get("eval_return"), row, all_steps_per_s)
    except KeyboardInterrupt:
        exit_code = EXIT_INTERRUPTED
        try:  # the carry may be a chunk ahead of `iteration`; its own counter is the truth
            env_step = int(np.asarray(carry.iteration).reshape(-1)[0]) * cfg.num_envs
            unsaved = [v for v in active if env_step not in stores[v].all_steps()]
            if unsaved:
                _print(f"\ninterrupted: saving a checkpoint at env step {env_step}")
            for v in unsaved:
                save(v, env_step, None)
        except (RuntimeError, ValueError, CheckpointError) as e:  # e.g. a donated, freed carry
            latest = stores[0].latest_step()
            _print(
                f"\ninterrupted mid-chunk ({str(e).splitlines()[0]}); the latest checkpoint "
                f"(env step {latest}) is kept"
            )
    finally:
        progress.close()
        for closeable in (*loggers, *stores):
            closeable.close()
    if exit_code == 0:
        _print(_summary(outputs, active, latest_eval.get("eval_return"), time.time() - t_start))
        if len(active) < num_outputs:
            exit_code = EXIT_NON_FINITE
    return exit_code


def _summary(outputs: list[Output], active: list[int], returns: Any, seconds: float) -> str:
    """The closing message: eval return, where the run dirs are, and what to run next."""
    import numpy as np

    if len(outputs) == 1:
        directory = outputs[0].directory
        text = (
            ""
            if returns is None
            else (f", eval return {np.mean(returns):.1f} ± {np.std(returns):.1f} over seeds")
        )
        return (
            f"done in {seconds:.0f} s{text}; run dir {directory}\n"
            f"next: python -m ddpg_jax.evaluate {directory}   (scores it in Gymnasium)\n"
            f"      python -m ddpg_jax.plot {directory} --out {directory}/curves.png"
        )
    seeds = len(returns) // len(outputs) if returns is not None else 0
    lines = [f"done in {seconds:.0f} s; eval return (mean ± std over seeds) per variant:"]
    for v, o in enumerate(outputs):
        if v not in active:
            lines.append(f"  {o.label}: stopped (non-finite)")
        elif returns is not None:
            r = returns[v * seeds : (v + 1) * seeds]
            lines.append(f"  {o.label}: {np.mean(r):.1f} ± {np.std(r):.1f}")
    root = outputs[0].directory.root.parent
    dirs = " ".join(str(o.directory) for o in outputs)
    lines.append(
        f"run dirs under {root}\n"
        f"next: python -m ddpg_jax.plot {dirs} --out {root}/curves.png\n"
        f"      python -m ddpg_jax.evaluate {outputs[0].directory}   (and each other variant)"
    )
    return "\n".join(lines)


def enable_compilation_cache() -> None:
    """Persistent XLA cache, so a second run of the same shapes skips most of the compile."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return  # the user's (or a test's) choice
    cache = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
    jax.config.update("jax_compilation_cache_dir", str(cache / "ddpg_jax" / "jax_cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def _seed_sharding(num_seeds: int) -> Any:
    """Shards the leading seed axis over devices when there is more than one and it divides."""
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


class _Progress:
    """A tqdm bar over env steps per seed (its rate and ETA), with the env steps/s of all seeds
    together, the latest eval return (mean ± std over seeds) and the train episode return."""

    def __init__(self, total: int, initial: int):
        from tqdm import tqdm

        self._bar = tqdm(
            total=total,
            initial=min(initial, total),
            unit="step",
            unit_scale=True,
            dynamic_ncols=True,
            file=sys.stderr,
            mininterval=0,
            smoothing=0.3,
        )
        self._last = initial

    def update(
        self,
        env_step: int,
        eval_return: Any,
        row: dict[str, Any],
        all_steps_per_s: float | None = None,
    ) -> None:
        import numpy as np

        postfix = {}
        if all_steps_per_s is not None:  # every env of every seed, last chunk
            postfix["all-seeds sps"] = f"{all_steps_per_s:,.0f}"
        if eval_return is not None:
            postfix["eval"] = f"{np.mean(eval_return):.1f}±{np.std(eval_return):.1f}"
        train_return = row.get("train_episode_return")
        if train_return is not None and np.isfinite(train_return).any():
            postfix["train"] = f"{np.nanmean(train_return):.1f}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(min(env_step, self._bar.total) - self._last)
        self._last = min(env_step, self._bar.total)

    def close(self) -> None:
        self._bar.close()


if __name__ == "__main__":
    sys.exit(main())
