"""Command line: a hyperparameter sweep in one process, variants vmapped together with seeds.

    python -m ddpg_jax.sweep --env=hopper --num_seeds=5 --grid normalize_obs=true,false
    python -m ddpg_jax.sweep --env=inverted_double_pendulum \\
        --grid noise_type=ou,gaussian --grid noise_decay_mode=episode,step

Several `--grid` flags give their product. The swept fields are traced
(`ddpg_jax.hyperparams`), so all variants x seeds share one compiled chunk whose leading axis
is `variants * num_seeds`; every variant uses the same seed keys (the `--seed` of a plain
train run), so variants differ only by their hyperparameters. Only `hyperparams.TRACEABLE`
fields can be swept; others change shapes or static branches (run train once per value).

Each variant gets a normal run dir `<out>/<field>=<value>[,<field>=<value>...]/` (config.yaml
with the variant's config and a `variant:` key that `ddpg_jax.plot` uses as the line label,
metrics.csv, tb/, checkpoints/), which `ddpg_jax.evaluate`, `ddpg_jax.plot` and
`ddpg_jax.train --resume` read as any other. Every other flag, the presets and the layering
are those of `ddpg_jax.train`. Bad input prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import pathlib
import sys
import typing
from typing import Any

from ddpg_jax import host_loop, hyperparams, memory, run_dir, run_lock, run_setup, settings
from ddpg_jax.checkpoint import CheckpointError
from ddpg_jax.cli import UsageError
from ddpg_jax.cli import run as run_cli
from ddpg_jax.config import Config, ConfigError, field_names
from ddpg_jax.hyperparams import TRACEABLE
from ddpg_jax.run_dir import RunDirError

DESCRIPTION = (
    "Sweep DDPG hyperparameters in one process: the --grid variants are vmapped together with "
    "the seeds (one compiled chunk) and each variant gets its own run dir under --out. Every "
    "train flag works as in python -m ddpg_jax.train."
)


@dataclasses.dataclass(frozen=True)
class GridPoint:
    name: str  # "<field>=<value>[,...]", its run dir's name and plot label
    values: dict[str, Any]  # field -> value
    cfg: Config  # the base config with `values` applied


def build_parser() -> argparse.ArgumentParser:
    parser = settings.build_parser(prog="python -m ddpg_jax.sweep", description=DESCRIPTION)
    parser.add_argument(
        "--grid",
        action="append",
        default=[],
        metavar="FIELD=V1,V2,...",
        help="values of one traceable Config field; several --grid flags give the product. "
        f"Traceable fields: {', '.join(TRACEABLE)}",
    )
    for action in parser._actions:
        if action.dest == "out":  # the sweep's folder, not a run dir
            action.help = "folder of the variants' run dirs (default: runs/<env>-sweep-<date-time>)"
        elif action.dest == "resume":  # rejected: resume a variant with train --resume
            action.help = argparse.SUPPRESS
    return parser


def parse_grid(specs: list[str]) -> list[tuple[str, list[Any]]]:
    """`["tau=0.005,0.01", ...]` -> `[("tau", [0.005, 0.01]), ...]`, each value typed as its
    Config field; raises UsageError on anything else."""
    if not specs:
        raise UsageError("give at least one --grid FIELD=V1,V2,... (e.g. --grid tau=0.005,0.01)")
    hints = typing.get_type_hints(Config)
    grid: list[tuple[str, list[Any]]] = []
    for spec in specs:
        field, sep, text = spec.partition("=")
        field = field.strip().lstrip("-")
        if field not in field_names():
            raise UsageError(
                f"--grid {spec!r}: unknown field {field or '(none)'!r}; traceable Config fields: "
                f"{', '.join(TRACEABLE)}"
            )
        if field not in TRACEABLE:
            raise UsageError(
                f"--grid {spec!r}: {field or '(no field)'!r} cannot be swept in one process; "
                f"traceable fields: {', '.join(TRACEABLE)}"
            )
        items = [t.strip() for t in text.split(",")]
        if not sep or not all(items):
            raise UsageError(f"--grid {spec!r} is invalid: use {field}=V1,V2,... (no empty values)")
        if field in (f for f, _ in grid):
            raise UsageError(f"--grid {field} is given twice; list all its values in one --grid")
        values = [_convert(field, hints[field], t) for t in items]
        if len(set(values)) != len(values):
            raise UsageError(f"--grid {spec!r} repeats a value")
        grid.append((field, values))
    return grid


def _convert(field: str, hint: Any, text: str) -> Any:
    if typing.get_origin(hint) is typing.Literal:
        choices = typing.get_args(hint)
        if text not in choices:
            raise UsageError(
                f"--grid {field}: {text!r} is not one of {', '.join(repr(c) for c in choices)}"
            )
        return text
    try:
        return settings.parse_value(hint, text)
    except argparse.ArgumentTypeError as e:
        raise UsageError(f"--grid {field}: invalid value {text!r} ({e})") from None


def format_value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def variants(cfg: Config, grid: list[tuple[str, list[Any]]]) -> list[GridPoint]:
    """The product of the grid over `cfg`, in the order given (the last field varies fastest)."""
    fields = [f for f, _ in grid]
    result = []
    for combo in itertools.product(*(values for _, values in grid)):
        values = dict(zip(fields, combo, strict=True))
        name = ",".join(f"{f}={format_value(v)}" for f, v in values.items())
        try:
            result.append(GridPoint(name, values, cfg.replace(**values)))
        except ConfigError as e:
            raise UsageError(f"variant {name}: {e}") from None
    return result


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.resume:
        raise UsageError(
            "sweep has no --resume; continue a variant with python -m ddpg_jax.train "
            "--resume <out>/<variant>"
        )
    grid = parse_grid(args.grid)
    namespace = argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "grid"})
    resolved = settings.resolve(namespace, settings.default_device_kind())
    if args.print_config:
        print(settings.describe(resolved))
        return 0
    cfg, run = resolved.cfg, run_setup.fix_intervals(resolved.cfg, resolved.run)
    fields = [f for f, _ in grid]
    overridden = sorted(f for f in fields if getattr(args, f) is not None)
    if overridden:
        raise UsageError(
            f"--{overridden[0]} is also in a --grid; give its values in the --grid only"
        )
    swept = variants(cfg, grid)
    env = run_setup.make_env(run)
    memory.check(cfg.replace(num_seeds=cfg.num_seeds * len(swept)), env, run.eval_episodes)
    try:
        root = _create_root(args.out, run.env)
        directories = [run_dir.create(root / v.name, run.env) for v in swept]
    except (RunDirError, CheckpointError) as e:
        raise UsageError(str(e)) from None
    extra = {**run_setup.run_metadata(run), "sweep_grid": dict(grid)}
    targets = []
    for v, directory in zip(swept, directories, strict=True):
        run_dir.save_config(directory, v.cfg, {**extra, "variant": v.name})
        hp = hyperparams.hyperparams(v.cfg, fields)
        targets.append(run_setup.Variant(directory, v.cfg, label=v.name, hp=hp))
    with contextlib.ExitStack() as locks:
        try:
            for directory in directories:
                locks.enter_context(run_lock.acquire(directory))
        except RunDirError as e:
            raise UsageError(str(e)) from None
        return host_loop.host_loop(cfg, run, targets, env)


def _create_root(out: str | None, env: str) -> pathlib.Path:
    """The sweep's folder: `out` (absent or empty), or a fresh `runs/<env>-sweep-<date>`."""
    if out is None:
        base = run_dir.default_path(f"{env}-sweep")
        root, n = base, 0
        while root.exists():
            n += 1
            root = base.with_name(f"{base.name}-{n}")
    else:
        root = pathlib.Path(out)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise UsageError(f"--out={out} exists and is not an empty folder; choose a new --out")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {root}: {e.strerror or e}") from None
    return root


if __name__ == "__main__":
    sys.exit(main())
