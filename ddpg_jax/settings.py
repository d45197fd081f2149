"""Settings of a training run: the run options, the task presets, the command-line parser, and
the layering `Config` defaults < preset < `--config FILE` < flags, validated, with where each
value came from. Shared by `ddpg_jax.train` and `ddpg_jax.sweep`.

Presets are package data (`ddpg_jax/presets/<env>.yaml`: the repository's `configs/` folder
installed), so an installed package finds them from any working directory.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.resources
import math
import os
import pathlib
import re
import typing
from typing import Any

import yaml

from ddpg_jax import scaling
from ddpg_jax.cli import Parser, UsageError, parse_bool
from ddpg_jax.config import Config, ConfigError, field_docs, type_mismatch

DEFAULT_ENV = "inverted_pendulum"
NOT_SETTINGS = ("config", "out", "resume", "print_config")
"""Parser destinations that are not settings of the run."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a run is driven by the host (not part of the algorithm's `Config`)."""

    env: str = DEFAULT_ENV
    """Task: a name (ant, halfcheetah, hopper, inverted_double_pendulum, inverted_pendulum,
    walker2d) or its Gymnasium id (Hopper-v5)."""
    seed: int = 0
    """Base seed of the run; every seed of the run and its evaluations derive from it."""
    episode_length: int = 1000
    """Time limit in env steps (Gymnasium v5's max_episode_steps)."""
    log_every: int = 0
    """Env steps per seed between log lines; one jitted chunk each. 0: about 1/50 of the run
    (fixed when the run starts, so a resume keeps the same grid)."""
    eval_every: int = 0
    """Env steps per seed between noise-free evaluations. 0: about 1/10 of the run."""
    eval_episodes: int = 10
    """Evaluation episodes per seed (run in parallel on separate envs of the same physics)."""
    checkpoint_every: int = 0
    """Env steps per seed between checkpoints (and one at the end). 0: with each evaluation."""
    keep_checkpoints: int = 3
    """Keep the last K checkpoints (plus the best by eval return)."""
    save_buffer: bool = False
    """Store the replay buffer in checkpoints (needed for a resume identical to an
    uninterrupted run; large)."""
    max_minutes: float = 0.0
    """Wall-clock budget of this invocation in minutes, compile included: the run stops after
    the chunk that passes it, evaluates and checkpoints (resume to continue). 0: no budget."""
    backend: str = "auto"
    """Physics: mjx (MJX, for GPUs), mujoco (C MuJoCo through a callback, fast on CPUs), or
    auto (mjx on a GPU, else mujoco)."""
    impl: str = "jax"
    """MJX implementation: jax, or warp (NVIDIA GPUs with warp-lang)."""
    mesh: str = "auto"
    """Device mesh SEEDSxENVS (1x8, 4x2): seeds over SEEDS devices, each seed's envs, buffer and
    batch over ENVS; the product is the device count. auto: seeds first, the rest on envs."""


CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(Config))
RUN_FIELDS = frozenset(f.name for f in dataclasses.fields(RunOptions))
_HINTS = {**typing.get_type_hints(Config), **typing.get_type_hints(RunOptions)}


# --- values -----------------------------------------------------------------------------------


def parse_count(text: str) -> int:
    """A count: `1000000`, `1_000_000` or `1e6` (an integral value)."""
    cleaned = str(text).strip().replace("_", "")
    try:
        return int(cleaned)
    except ValueError:
        pass
    try:
        value = float(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not math.isfinite(value) or value != int(value):
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}")
    return int(value)


def parse_float(text: str) -> float:
    try:
        return float(str(text).strip().replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


_PARSERS = {int: parse_count, float: parse_float, bool: parse_bool}


def parse_value(hint: type, text: str) -> Any:
    """`text` as a value of type `hint` (int, float or bool); `argparse.ArgumentTypeError`
    says why it is not one."""
    return _PARSERS[hint](text)


def coerce(name: str, value: Any, origin: str) -> Any:
    """A YAML value of setting `name` as its type. PyYAML reads `1e-3` and `1e6` as strings
    (YAML 1.1 wants a dot), so numbers written that way are accepted here."""
    hint = _HINTS.get(name)
    if isinstance(value, str) and hint in _PARSERS:
        try:
            return parse_value(hint, value)
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"{origin}: {name}: {e}") from None
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# --- presets and files ------------------------------------------------------------------------


def presets_dir() -> Any:
    """The folder of the task presets (a `Traversable`: package data when installed)."""
    try:
        return importlib.resources.files("ddpg_jax.presets")
    except ModuleNotFoundError:
        # `ddpg_jax` was imported from a source checkout (Python puts the working directory
        # first on the path, ahead of the installed copy), where the presets are `configs/`.
        return pathlib.Path(__file__).resolve().parent.parent / "configs"


def default_device_kind() -> str:
    import jax

    return "gpu" if jax.default_backend() in ("gpu", "cuda", "rocm") else "cpu"


def load_preset(env: str, device_kind: str, num_envs: int | None = None) -> dict[str, Any]:
    """The preset's shared keys merged with one section ({} if the task has no preset): the
    device's (`cpu:` or `gpu:`), or, when `num_envs` is asked for, the section set nearest
    that env count (`ddpg_jax.scaling.nearest_section`)."""
    values, _ = preset_section(env, device_kind, num_envs)
    return values


def preset_section(
    env: str, device_kind: str, num_envs: int | None = None
) -> tuple[dict[str, Any], str]:
    """`load_preset`'s values and the name of the section they came from."""
    path = presets_dir() / f"{env}.yaml"
    if not path.is_file():
        return {}, device_kind
    doc = _parse_yaml(path.read_text(), str(path))
    section = device_kind
    if isinstance(num_envs, int) and not isinstance(num_envs, bool) and num_envs >= 1:
        sections = {
            name: _resolve_sections(doc, name, str(path))
            for name in ("cpu", "gpu")
            if isinstance(doc.get(name), dict)
        }
        if device_kind in sections:
            section = scaling.nearest_section(sections, device_kind, num_envs)
    return _resolve_sections(doc, section, str(path)), section


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        with open(path) as f:
            text = f.read()
    except FileNotFoundError:
        raise UsageError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"cannot read config file {path}: {str(e).splitlines()[0]}") from None
    return _parse_yaml(text, str(path))


def _parse_yaml(text: str, origin: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UsageError(f"cannot read config file {origin}: {str(e).splitlines()[0]}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise UsageError(f"config file {origin} must hold a mapping of field: value")
    return doc


def _resolve_sections(doc: dict[str, Any], device_kind: str, origin: str) -> dict[str, Any]:
    merged = {k: v for k, v in doc.items() if k not in ("cpu", "gpu")}
    section = doc.get(device_kind) or {}
    if not isinstance(section, dict):
        raise UsageError(f"{origin}: section {device_kind!r} must be a mapping")
    merged.update(section)
    return {k: coerce(k, v, origin) for k, v in merged.items()}


# --- layering ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Resolved:
    """Validated settings and the origin of each value ("default", "preset <file> (cpu)",
    "file <path>", "flag", "derived from num_envs ..."), and the lines a run prints about how
    its scale was derived (`scale_notes`)."""

    cfg: Config
    run: RunOptions
    sources: dict[str, str]
    scale_notes: tuple[str, ...] = ()


def layers(args: argparse.Namespace, device_kind: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The merged settings (preset < --config FILE < flags) and each one's origin; the scale
    settings a flag or file does not give follow its `num_envs` (`ddpg_jax.scaling`)."""
    settings, sources, _ = _layers(args, device_kind)
    return settings, sources


def _layers(
    args: argparse.Namespace, device_kind: str
) -> tuple[dict[str, Any], dict[str, str], tuple[str, ...]]:
    from ddpg_jax import envs

    config_file = getattr(args, "config", None)
    from_file = (
        _resolve_sections(read_yaml(config_file), device_kind, config_file) if config_file else {}
    )
    flags = {k: v for k, v in vars(args).items() if v is not None and k not in NOT_SETTINGS}
    env_name = flags.get("env") or from_file.get("env") or DEFAULT_ENV
    try:
        env_name = envs.canonical_name(str(env_name))
    except ValueError as e:
        raise UsageError(str(e)) from None
    asked_envs = flags.get("num_envs", from_file.get("num_envs"))
    preset, section = preset_section(env_name, device_kind, asked_envs)
    sources: dict[str, str] = {}
    for name in preset:
        sources[name] = f"preset {env_name}.yaml ({section})"
    for name in from_file:
        sources[name] = f"file {config_file}"
    for name in flags:
        sources[name] = "flag"
    settings = {**preset, **from_file, **flags, "env": env_name}
    notes = _scale(settings, sources, preset, f"{env_name}.yaml ({section})")
    if section != device_kind:
        notes = (
            f"--num_envs={settings['num_envs']}: the {env_name} preset's {section}: section "
            f"(set for {preset['num_envs']} envs) is nearer that count than its "
            f"{device_kind}: section",
            *notes,
        )
    return settings, sources, notes


def _scale(
    settings: dict[str, Any], sources: dict[str, str], preset: dict[str, Any], origin: str
) -> tuple[str, ...]:
    """Derive the scale settings no flag or file gave from the preset's recipe when `num_envs`
    is not the preset's, in place; the lines to print about it."""
    base = scaling.Recipe.of(preset)
    num_envs = settings.get("num_envs")
    if base is None or not isinstance(num_envs, int) or isinstance(num_envs, bool):
        return ()
    if num_envs < 1:
        return ()
    notes: list[str] = []
    if num_envs != base.num_envs:
        total = settings.get("total_steps", Config.total_steps)
        total = total if isinstance(total, int) and total >= 1 else Config.total_steps
        derived = scaling.derive(base, num_envs, total)
        chosen = {
            k: v for k, v in derived.items() if sources.get(k, "default").startswith("preset")
        }
        for name, value in chosen.items():
            settings[name] = value
            sources[name] = f"{scaling.DERIVED} (preset {origin} at {base.num_envs} envs)"
        if chosen:
            listed = ", ".join(f"{k}={v}" for k, v in chosen.items())
            notes.append(
                f"{scaling.DERIVED}={num_envs} (preset {origin} at {base.num_envs} envs, "
                f"replay ratio {base.replay_ratio:g}): {listed}"
            )
    resolved = scaling.Recipe.of(settings)
    warning = resolved and scaling.ratio_warning(base, resolved)
    if warning:
        notes.append(warning)
    return tuple(notes)


def resolve(args: argparse.Namespace, device_kind: str) -> Resolved:
    """Layer defaults, preset, --config and flags into a validated Config and RunOptions."""
    settings, sources, notes = _layers(args, device_kind)
    unknown = sorted(set(settings) - CONFIG_FIELDS - RUN_FIELDS)
    if unknown:
        raise UsageError(
            f"unknown setting(s) {', '.join(unknown)}; valid: "
            f"{', '.join(sorted(CONFIG_FIELDS | RUN_FIELDS))}"
        )
    try:
        cfg = Config.from_dict({k: v for k, v in settings.items() if k in CONFIG_FIELDS})
    except ConfigError as e:
        raise UsageError(_config_message(str(e), sources)) from None
    try:
        run = RunOptions(**{k: v for k, v in settings.items() if k in RUN_FIELDS})
    except TypeError as e:
        raise UsageError(str(e)) from None
    check_run_options(run)
    every = {name: "default" for name in CONFIG_FIELDS | RUN_FIELDS}
    return Resolved(cfg, run, {**every, **sources}, notes)


def _config_message(message: str, sources: dict[str, str]) -> str:
    """A Config error with where the bad value came from, when it did not come from a flag."""
    match = re.match(r"config field (\w+)=", message)
    origin = sources.get(match.group(1)) if match else None
    if origin and origin != "flag":
        return f"{message} (from {origin})"
    return message


def check_run_options(run: RunOptions) -> None:
    """Run options outside their range are a `UsageError` naming the flag."""
    from ddpg_jax import envs, mesh

    for name in ("episode_length", "eval_episodes", "keep_checkpoints"):
        _check_type(name, getattr(run, name))
        if getattr(run, name) < 1:
            raise UsageError(f"--{name}={getattr(run, name)} is invalid: must be >= 1")
    for name in ("seed", "log_every", "eval_every", "checkpoint_every"):
        _check_type(name, getattr(run, name))
        if name != "seed" and getattr(run, name) < 0:
            raise UsageError(
                f"--{name}={getattr(run, name)} is invalid: must be >= 0 (0 picks a default)"
            )
    for name in ("max_minutes", "save_buffer"):
        _check_type(name, getattr(run, name))
    if not (math.isfinite(run.max_minutes) and run.max_minutes >= 0):
        raise UsageError(f"--max_minutes={run.max_minutes} is invalid: must be >= 0 (0: no budget)")
    try:
        envs.resolve_backend(run.backend)
    except ValueError as e:
        raise UsageError(f"--backend={run.backend!r} is invalid: {e}") from None
    if run.impl not in ("jax", "warp"):
        raise UsageError(f"--impl={run.impl!r} is invalid: must be one of 'jax', 'warp'")
    mesh.parse(run.mesh)


def _check_type(name: str, value: Any) -> None:
    allowed = type_mismatch(value, _HINTS[name], finite=False)
    if allowed is not None:
        raise UsageError(f"--{name}={value!r} is invalid: must be {allowed}")


# --- the parser -------------------------------------------------------------------------------


def build_parser(
    prog: str = "python -m ddpg_jax.train",
    description: str = "Train DDPG on a Gymnasium v5 MuJoCo task: many envs and vmapped seeds "
    "in one process, physics in MJX (GPU) or C MuJoCo (CPU). Settings are layered: Config "
    "defaults < the task preset < --config FILE < flags; the defaults shown are what the run "
    "would use with the flags given so far (--env, --config).",
    shown: dict[str, tuple[Any, str]] | None = None,
) -> argparse.ArgumentParser:
    """The train CLI's parser (`ddpg_jax.sweep` extends it). `shown` maps a setting to the
    value and origin `--help` shows as its default (see `help_defaults`)."""
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
        help="continue the run in DIR from its newest good checkpoint (its config.yaml is used; "
        "only --total_steps and --max_minutes may be given with it)",
    )
    files.add_argument(
        "--print_config",
        "--print-config",
        action="store_true",
        help="print the resolved settings, each with where it came from, and exit",
    )
    _add_fields(parser.add_argument_group("run"), RunOptions, field_docs(RunOptions), shown)
    _add_fields(parser.add_argument_group("algorithm (Config)"), Config, field_docs(), shown)
    return parser


def _add_fields(
    group: Any, cls: type, docs: dict[str, str], shown: dict[str, tuple[Any, str]] | None
) -> None:
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        value, origin = (shown or {}).get(field.name, (field.default, "default"))
        where = "" if origin == "default" else f", from {origin}"
        kwargs: dict[str, Any] = {
            "default": None,
            "help": f"{docs.get(field.name, '')} (default: {value}{where})",
        }
        if typing.get_origin(hint) is typing.Literal:
            kwargs["choices"] = typing.get_args(hint)
        elif hint is bool:
            kwargs["type"], kwargs["metavar"] = parse_bool, "{true,false}"
        else:
            kwargs["type"] = _PARSERS.get(hint, hint)
            kwargs["metavar"] = {int: "N", float: "X"}.get(hint, "VALUE")
        names = [f"--{field.name}"]
        if "_" in field.name:
            names.append(f"--{field.name.replace('_', '-')}")
        group.add_argument(*names, dest=field.name, **kwargs)


def help_defaults(argv: list[str], device_kind: str) -> dict[str, tuple[Any, str]]:
    """What `--help` shows as each setting's default: the value the run would use given the
    `--env`/`--config` in `argv` (preset and file applied), and where it comes from. Falls back
    to the plain defaults when those flags are themselves wrong (the run reports that)."""
    pre = Parser(add_help=False)
    pre.add_argument("--env", default=None)
    pre.add_argument("--config", default=None)
    try:
        known, _ = pre.parse_known_args(argv)
        settings, sources = layers(known, device_kind)
    except UsageError:
        return {}
    return {name: (value, sources.get(name, "default")) for name, value in settings.items()}


def describe(resolved: Resolved) -> str:
    """The resolved settings as YAML-like lines `name: value  # origin`, run options first."""
    lines = [f"# {note}" for note in resolved.scale_notes]
    lines.append("# run options")
    run = dataclasses.asdict(resolved.run)
    width = max(len(n) for n in (*run, *resolved.cfg.to_dict()))
    for name, value in run.items():
        lines.append(f"{name + ':':<{width + 1}} {value!s:<14} # {resolved.sources[name]}")
    lines.append("# algorithm (Config)")
    for name, value in resolved.cfg.to_dict().items():
        lines.append(f"{name + ':':<{width + 1}} {value!s:<14} # {resolved.sources[name]}")
    return "\n".join(lines)
