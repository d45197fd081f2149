"""Command line: score a checkpoint in Gymnasium v5 (C MuJoCo), compare with MJX, record video.

    python -m ddpg_jax.evaluate RUN_DIR|SWEEP_DIR [--checkpoint latest|best|STEP]
        [--seed-index all|I] [--episodes 10] [--episode-seed 0] [--max-episode-steps N]
        [--no-mjx] [--video FILE.mp4] [--json]

Every seed (or `--seed-index I`) runs noise-free in `gymnasium.make("<Task>-v5")`, one episode
per episode seed (`reset(seed=episode_seed + k)`), with the run's `episode_length` as time
limit. The same policy then runs in MJX from the same initial states (one jitted,
episode-vmapped `lax.while_loop`); the gap between the mean returns is absolute where the
Gymnasium return is near zero (a percentage would mislead), else in percent. A SWEEP_DIR (a
folder of run dirs, as `ddpg_jax.sweep` makes) evaluates every variant. Output: a table, or
JSON with `--json` (a list for a sweep), on stdout; progress on stderr. Each result is also
saved under the run dir's `evaluations/`. `--video`: see `ddpg_jax.video`. Bad input prints
one line on stderr and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import pathlib
import shlex
import sys
import time
from typing import Any

import numpy as np

from ddpg_jax import machine, video
from ddpg_jax.checkpoint import json_safe
from ddpg_jax.cli import Parser, UsageError
from ddpg_jax.cli import run as run_cli
from ddpg_jax.cli import say as _print
from ddpg_jax.episodes import run_gym_episodes, run_mjx_episodes
from ddpg_jax.formatting import mean_std

DEFAULT_EPISODE_LENGTH = 1000
"""Time limit of a run dir that records no `run.episode_length`: Gymnasium's own."""
ABSOLUTE_GAP_BELOW = 100.0
"""Below this |Gymnasium mean return| the MJX gap is shown in return units, not percent."""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m ddpg_jax.evaluate",
        description="Evaluate a checkpoint of a run (or of every variant of a sweep) noise-free "
        "in Gymnasium v5 (C MuJoCo) and in MJX from the same initial states; optionally record "
        "a video.",
    )
    parser.add_argument(
        "run_dir", metavar="RUN_DIR", help="a run directory made by train, or a sweep's folder"
    )

    def flag(name: str, *aliases: str, **kwargs: Any) -> None:  # --a-b and --a_b both work
        names = dict.fromkeys([f"--{name}", f"--{name.replace('-', '_')}", *aliases])
        parser.add_argument(*names, dest=name.replace("-", "_"), **kwargs)

    flag(
        "checkpoint",
        default="latest",
        help="'latest', 'best' (highest eval return) or an env step (default: latest)",
    )
    flag(
        "seed-index",
        default="all",
        help="which of the run's vmapped seeds: an index or 'all' (default: all)",
    )
    flag(
        "episodes",
        "--num_episodes",
        "--num-episodes",
        type=int,
        default=10,
        help="episodes per seed (default: 10)",
    )
    flag(
        "episode-seed",
        type=int,
        default=0,
        help="episode k resets Gymnasium with seed episode_seed + k (default: 0)",
    )
    flag(
        "max-episode-steps",
        type=int,
        default=None,
        help="time limit, as Gymnasium's max_episode_steps (default: the run's episode_length)",
    )
    flag("no-mjx", action="store_true", help="skip the MJX comparison (no JAX env compile)")
    flag("video", metavar="FILE.mp4", help="render the first episode of each seed into this mp4")
    flag("json", action="store_true", help="print JSON (a list for a sweep) instead of a table")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _checked_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name in ("episodes", "max_episode_steps"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')}={value} is invalid: must be >= 1")
    if args.episode_seed < 0:
        raise UsageError(f"--episode-seed={args.episode_seed} is invalid: must be >= 0")
    if args.checkpoint not in ("latest", "best") and not args.checkpoint.isdigit():
        raise UsageError(
            f"--checkpoint={args.checkpoint!r} is invalid: use 'latest', 'best' or an env step"
        )
    if args.seed_index != "all" and not args.seed_index.isdigit():
        raise UsageError(f"--seed-index={args.seed_index!r} is invalid: use 'all' or an index >= 0")
    if args.video:
        path = pathlib.Path(args.video)
        if path.suffix.lower() != ".mp4":
            raise UsageError(f"--video={args.video}: the file name must end in .mp4")
        if not path.parent.is_dir():
            raise UsageError(f"--video={args.video}: folder {path.parent} does not exist")
    return args


def run_dirs_of(path: str) -> list[pathlib.Path]:
    """`[path]` for a run dir; a sweep folder's run dirs (its subfolders with a config.yaml)."""
    from ddpg_jax import run_dir

    # Not a run dir, nor a folder of them: loading it says what is wrong with it.
    return run_dir.run_dirs_under(path) or [pathlib.Path(path)]


def _main(argv: list[str] | None) -> int:
    args = _checked_args(argv)
    paths = run_dirs_of(args.run_dir)
    sweep = paths != [pathlib.Path(args.run_dir)]
    if args.video and sweep:
        raise UsageError(f"--video takes one run dir; {args.run_dir} is a sweep of {len(paths)}")
    results = []
    # stdout carries only the table or JSON: libraries that print on import (mujoco.mjx
    # without warp) go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        for path in paths:
            if sweep:
                _print(f"variant {path.name}")
            results.append(_run(args, path))
    for path, result in zip(paths, results, strict=True):
        _save(path, result, argv)
    if sweep:
        text = json.dumps(json_safe(results)) if args.json else format_sweep_table(results)
    else:
        text = json.dumps(json_safe(results[0])) if args.json else format_table(results[0])
    print(text)
    return 0


def _save(path: pathlib.Path, result: dict[str, Any], argv: list[str] | None) -> None:
    """Keep the result in the run dir, where `ddpg_jax.report` rebuilds the results tables."""
    from ddpg_jax import run_dir

    args = sys.argv[1:] if argv is None else argv
    doc = {
        **json_safe(result),
        "command": "python -m ddpg_jax.evaluate " + shlex.join(args),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine.describe(),
    }
    try:
        saved = run_dir.save_evaluation(run_dir.open_existing(path), doc)
    except run_dir.RunDirError as e:  # the scores are still printed; only the record is lost
        _print(f"warning: {e}")
    else:
        _print(f"saved {saved}")


def _run(args: argparse.Namespace, path: pathlib.Path) -> dict[str, Any]:
    from ddpg_jax import policy as policy_lib
    from ddpg_jax import run_dir
    from ddpg_jax.checkpoint import CheckpointError
    from ddpg_jax.cli import enable_compilation_cache

    enable_compilation_cache()
    try:
        policies = policy_lib.load_seeds(path, args.checkpoint)
        indices = (
            list(range(policies.num_seeds)) if args.seed_index == "all" else [int(args.seed_index)]
        )
        selected = [policies.select(i) for i in indices]
        _, extra = run_dir.load_config(run_dir.open_existing(path))
    except (run_dir.RunDirError, CheckpointError, policy_lib.PolicyError) as e:
        raise UsageError(str(e)) from None
    limit = args.max_episode_steps or int(
        policies.run.get("episode_length") or DEFAULT_EPISODE_LENGTH
    )
    if args.video:  # before the evaluation, so a missing renderer fails fast
        with _about("--video"):
            video.check_video_writer()
            _print(f"rendering with MUJOCO_GL={video.choose_renderer()}")
    episode_seeds = [args.episode_seed + k for k in range(args.episodes)]
    result = evaluate(selected, episode_seeds, limit, mjx=not args.no_mjx, progress=_print)
    result.update(
        checkpoint=args.checkpoint,
        num_seeds=policies.num_seeds,
        run_dir=str(path),
        label=run_dir.label(run_dir.open_existing(path), extra),
    )
    if args.video:
        with _about("--video"):
            video.write_video(selected, args.video, episode_seeds[0], limit, _print)
        result["video"] = str(args.video)
    return result


@contextlib.contextmanager
def _about(flag: str):
    """Prefixes a UsageError's one line with the flag it is about."""
    try:
        yield
    except UsageError as e:
        raise UsageError(f"{flag}: {e}") from None


# --- evaluation ---


def evaluate(
    policies: list[Any],
    episode_seeds: list[int],
    max_episode_steps: int = DEFAULT_EPISODE_LENGTH,
    mjx: bool = True,
    progress: Any = None,
) -> dict[str, Any]:
    """Gymnasium (and MJX) returns of each `policy.LoadedPolicy` over the episode seeds.

    Returns the JSON document described in the module docstring (plain Python types)."""
    say = progress or (lambda _: None)
    first = policies[0]
    rows = []
    for pi in policies:
        t0 = time.time()
        gym = run_gym_episodes(pi, episode_seeds, max_episode_steps)
        say(
            f"seed {pi.seed_index}: {len(episode_seeds)} Gymnasium episode(s) in "
            f"{time.time() - t0:.1f} s, return {np.mean(gym['returns']):.1f} ± "
            f"{np.std(gym['returns']):.1f}"
        )
        row = {"seed_index": pi.seed_index, **_stats("gym", gym["returns"], gym["lengths"])}
        if "distances" in gym:
            row.update(_distance_stats(gym["distances"]))
        if mjx:
            t0 = time.time()
            if pi is first:
                say("MJX rollout from the same initial states (the first one compiles)")
            returns, lengths = run_mjx_episodes(pi, gym["qpos"], gym["qvel"], max_episode_steps)
            row.update(_stats("mjx", returns, lengths))
            row.update(_gaps(row["mjx_mean"], row["gym_mean"]))
            say(
                f"seed {pi.seed_index}: MJX in {time.time() - t0:.1f} s, return "
                f"{row['mjx_mean']:.1f}, gap {format_gap(row)}"
            )
        rows.append(row)
    means = np.array([r["gym_mean"] for r in rows])
    doc: dict[str, Any] = {
        "env": first.env,
        "gym_id": first.gym_id,
        "checkpoint_step": first.step,
        "episode_seeds": list(episode_seeds),
        "max_episode_steps": max_episode_steps,
        "seeds": rows,
        "gym_mean": float(means.mean()),
        "gym_std": float(means.std()),
        "gym_length_mean": float(np.mean([r["gym_length_mean"] for r in rows])),
    }
    if all("gym_distance_mean" in r for r in rows):
        distances = np.array([r["gym_distance_mean"] for r in rows])
        doc.update(
            gym_distance_mean=float(distances.mean()), gym_distance_std=float(distances.std())
        )
    if mjx:
        mjx_means = np.array([r["mjx_mean"] for r in rows])
        doc.update(
            mjx_mean=float(mjx_means.mean()),
            mjx_std=float(mjx_means.std()),
            **_gaps(float(mjx_means.mean()), doc["gym_mean"]),
        )
    return doc


def _stats(prefix: str, returns: np.ndarray, lengths: np.ndarray) -> dict[str, Any]:
    """A row's episodes and their mean ± std return and mean length, as plain Python."""
    return {
        f"{prefix}_returns": returns.tolist(),
        f"{prefix}_lengths": lengths.tolist(),
        f"{prefix}_mean": float(np.mean(returns)),
        f"{prefix}_std": float(np.std(returns)),
        f"{prefix}_length_mean": float(np.mean(lengths)),
    }


def _distance_stats(distances: np.ndarray) -> dict[str, Any]:
    """Forward distance per episode (root x at the end minus at the reset): a walking policy
    and one that stands still can score alike (Ant's ~1000 for surviving)."""
    return {
        "gym_distances": distances.tolist(),
        "gym_distance_mean": float(np.mean(distances)),
        "gym_distance_std": float(np.std(distances)),
    }


def relative_gap(mjx_mean: float, gym_mean: float) -> float:
    """`(mjx - gym) / max(|gym|, 1)`: relative, and finite when the Gymnasium return is ~0."""
    return (mjx_mean - gym_mean) / max(abs(gym_mean), 1.0)


def _gaps(mjx_mean: float, gym_mean: float) -> dict[str, float]:
    return {"gap": relative_gap(mjx_mean, gym_mean), "gap_abs": mjx_mean - gym_mean}


def format_gap(row: dict[str, Any]) -> str:
    """The MJX gap of a result row: absolute when |Gymnasium mean| < ABSOLUTE_GAP_BELOW
    (a few return units on a return near zero are not a large percentage), else percent."""
    if abs(row["gym_mean"]) < ABSOLUTE_GAP_BELOW:
        return f"{row['mjx_mean'] - row['gym_mean']:+.2f}"
    return f"{100 * row['gap']:+.2f}%"


# --- output ---

_GAP_NOTE = (
    f"gap: MJX - Gymnasium mean return, in % of the Gymnasium return (absolute where "
    f"|Gymnasium| < {ABSOLUTE_GAP_BELOW:g})"
)


def format_table(result: dict[str, Any]) -> str:
    """One run's result as a table: a row per seed, and their mean ± std when 2 or more."""
    seeds = result["episode_seeds"]
    mjx = "mjx_mean" in result
    walks = "gym_distance_mean" in result
    which = result.get("checkpoint")
    which = f" ({which})" if which and which != str(result["checkpoint_step"]) else ""
    lines = [
        f"{result['gym_id']}, checkpoint step {result['checkpoint_step']}{which}, "
        f"{len(seeds)} episode(s) per seed, episode seeds {seeds[0]}..{seeds[-1]}, "
        f"time limit {result['max_episode_steps']}",
        f"{'seed':>4}  {'Gymnasium return':>18}  {'length':>8}"
        + (f"  {'forward x':>14}" if walks else "")
        + (f"  {'MJX return':>18}  {'gap':>8}" if mjx else ""),
    ]
    rows = [(str(r["seed_index"]), r) for r in result["seeds"]]
    if len(result["seeds"]) > 1:
        rows.append(("all", result))
    for name, r in rows:
        gym = mean_std(r["gym_mean"], r["gym_std"], 1)
        line = f"{name:>4}  {gym:>18}  {r['gym_length_mean']:>8.1f}"
        if walks:
            line += f"  {mean_std(r['gym_distance_mean'], r['gym_distance_std'], 1):>14}"
        if mjx:
            line += f"  {mean_std(r['mjx_mean'], r['mjx_std'], 1):>18}  {format_gap(r):>8}"
        lines.append(line + ("   (mean ± std over seeds)" if name == "all" else ""))
    return "\n".join(lines + ([_GAP_NOTE] if mjx else []))


def format_sweep_table(results: list[dict[str, Any]]) -> str:
    """A sweep's results: one row per variant, mean ± std over its seeds."""
    mjx = all("mjx_mean" in r for r in results)
    first = results[0]
    seeds = first["episode_seeds"]
    width = max(len("variant"), *(len(r["label"]) for r in results))
    lines = [
        f"{first['gym_id']}, {len(results)} variants, {len(seeds)} episode(s) per seed, episode "
        f"seeds {seeds[0]}..{seeds[-1]}; returns are mean ± std over each variant's seeds",
        f"{'variant':<{width}}  {'step':>9}  {'seeds':>5}  {'Gymnasium return':>18}  "
        f"{'length':>8}" + (f"  {'MJX return':>18}  {'gap':>8}" if mjx else ""),
    ]
    for r in results:
        line = (
            f"{r['label']:<{width}}  {r['checkpoint_step']:>9}  {len(r['seeds']):>5}  "
            f"{mean_std(r['gym_mean'], r['gym_std'], 1):>18}  {r['gym_length_mean']:>8.1f}"
        )
        if mjx:
            line += f"  {mean_std(r['mjx_mean'], r['mjx_std'], 1):>18}  {format_gap(r):>8}"
        lines.append(line)
    return "\n".join(lines + ([_GAP_NOTE] if mjx else []))


if __name__ == "__main__":
    sys.exit(main())
