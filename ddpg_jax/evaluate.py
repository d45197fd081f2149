"""Command line: evaluate a checkpoint in Gymnasium v5 (C MuJoCo), compare with MJX, record video.

    python -m ddpg_jax.evaluate RUN_DIR [--checkpoint latest|best|STEP] [--seed-index all|I]
        [--episodes 10] [--episode-seed 0] [--video FILE.mp4] [--json]

For each requested seed index the policy runs noise-free in `gymnasium.make("<Task>-v5")`, one
episode per episode seed (`reset(seed=episode_seed + k)`, k < episodes). The same policy then
runs in the MJX env from the same initial states (Gymnasium's reset qpos/qvel, put into MJX
with `env.set_state`; one jitted, episode-vmapped `lax.while_loop`), and the relative gap
`(mjx_mean - gym_mean) / max(|gym_mean|, 1)` is reported. Output: a table on stdout, or one
JSON object with `--json`; progress goes to stderr. The JSON document, with the command and
date, is also saved in the run dir under `evaluations/` (`ddpg_jax.run_dir.save_evaluation`).

`--video` renders the first episode of each requested seed (Gymnasium's
`render_mode="rgb_array"`) into one mp4 (needs `imageio[ffmpeg]`). Headless rendering needs
`MUJOCO_GL=egl` (GPU, or Mesa's EGL) or `MUJOCO_GL=osmesa` (CPU; Debian: `apt-get install
libosmesa6`); when MUJOCO_GL is unset, egl then osmesa are tried. Bad input prints one line on
stderr and exits 2.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import functools
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time
import warnings
from typing import Any

import numpy as np

from ddpg_jax.checkpoint import json_safe
from ddpg_jax.cli import Parser, UsageError
from ddpg_jax.cli import run as run_cli
from ddpg_jax.cli import say as _print

RENDERERS = ("egl", "osmesa")
"""Headless MUJOCO_GL values tried in this order when MUJOCO_GL is unset."""
_GL_MODULES = {"egl": "mujoco.egl", "osmesa": "mujoco.osmesa", "glfw": "mujoco.glfw"}
_RENDER_HINT = (
    "set MUJOCO_GL=egl (NVIDIA GPU or Mesa EGL: apt-get install libegl1) or MUJOCO_GL=osmesa "
    "(CPU: apt-get install libosmesa6)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m ddpg_jax.evaluate",
        description="Evaluate a checkpoint of a run noise-free in Gymnasium v5 (C MuJoCo) and in "
        "MJX from the same initial states; optionally record a video.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by train")
    parser.add_argument(
        "--checkpoint",
        default="latest",
        help="'latest', 'best' (highest eval return) or an env step (default: latest)",
    )
    parser.add_argument(
        "--seed-index",
        default="0",
        help="which of the run's vmapped seeds: an index or 'all' (default: 0)",
    )
    parser.add_argument(
        "--episodes", type=int, default=10, help="episodes per seed index (default: 10)"
    )
    parser.add_argument(
        "--episode-seed",
        type=int,
        default=0,
        help="episode k resets Gymnasium with seed episode_seed + k (default: 0)",
    )
    parser.add_argument(
        "--max-episode-steps",
        type=int,
        default=1000,
        help="time limit, as Gymnasium's max_episode_steps (default: 1000)",
    )
    parser.add_argument(
        "--no-mjx", action="store_true", help="skip the MJX comparison (no JAX env compile)"
    )
    parser.add_argument(
        "--video",
        metavar="FILE.mp4",
        help="render the first episode of each seed index into this mp4",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _checked_args(argv: list[str] | None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for name in ("episodes", "max_episode_steps"):
        if getattr(args, name) < 1:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag}={getattr(args, name)} is invalid: must be >= 1")
    if args.episode_seed < 0:
        raise UsageError(f"--episode-seed={args.episode_seed} is invalid: must be >= 0")
    if args.checkpoint not in ("latest", "best") and not args.checkpoint.isdigit():
        raise UsageError(
            f"--checkpoint={args.checkpoint!r} is invalid: use 'latest', 'best' or an env step"
        )
    if args.seed_index != "all" and not args.seed_index.isdigit():
        raise UsageError(f"--seed-index={args.seed_index!r} is invalid: use 'all' or an index >= 0")
    if args.video:
        video = pathlib.Path(args.video)
        if video.suffix.lower() != ".mp4":
            raise UsageError(f"--video={args.video}: the file name must end in .mp4")
        if not video.parent.is_dir():
            raise UsageError(f"--video={args.video}: folder {video.parent} does not exist")
    return args


def _main(argv: list[str] | None) -> int:
    import absl.logging

    args = _checked_args(argv)
    # stdout carries only the table or JSON: libraries that print on import (mujoco.mjx without
    # warp) go to stderr, and orbax's notices about read-only checkpoint dirs are silenced.
    verbosity = absl.logging.get_verbosity()
    absl.logging.set_verbosity(absl.logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = _run(args)
    finally:
        absl.logging.set_verbosity(verbosity)
    _save(args.run_dir, result, argv)
    if args.json:
        print(json.dumps(json_safe(result)))
    else:
        print(format_table(result))
    return 0


def _save(path: str, result: dict[str, Any], argv: list[str] | None) -> None:
    """Keep the result in the run dir, where `ddpg_jax.report` rebuilds the results tables."""
    from ddpg_jax import run_dir

    args = sys.argv[1:] if argv is None else argv
    doc = {
        **json_safe(result),
        "command": "python -m ddpg_jax.evaluate " + shlex.join(args),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    try:
        saved = run_dir.save_evaluation(run_dir.open_existing(path), doc)
    except run_dir.RunDirError as e:  # the scores are still printed; only the record is lost
        _print(f"warning: {e}")
    else:
        _print(f"saved {saved}")


def _run(args: argparse.Namespace) -> dict[str, Any]:
    from ddpg_jax import policy as policy_lib
    from ddpg_jax.checkpoint import CheckpointError
    from ddpg_jax.run_dir import RunDirError
    from ddpg_jax.train import enable_compilation_cache

    enable_compilation_cache()
    try:
        policies = policy_lib.load_seeds(args.run_dir, args.checkpoint)
        indices = (
            list(range(policies.num_seeds)) if args.seed_index == "all" else [int(args.seed_index)]
        )
        selected = [policies.select(i) for i in indices]
    except (RunDirError, CheckpointError, policy_lib.PolicyError) as e:
        raise UsageError(str(e)) from None
    if args.video:  # before the evaluation, so a missing renderer fails fast
        check_video_writer()
        _print(f"rendering with MUJOCO_GL={choose_renderer()}")
    episode_seeds = [args.episode_seed + k for k in range(args.episodes)]
    result = evaluate(
        selected, episode_seeds, args.max_episode_steps, mjx=not args.no_mjx, progress=_print
    )
    result["checkpoint"] = args.checkpoint
    result["num_seeds"] = policies.num_seeds
    if args.video:
        write_video(selected, args.video, episode_seeds[0], args.max_episode_steps, _print)
        result["video"] = str(args.video)
    return result


# --- evaluation ---


def evaluate(
    policies: list[Any],
    episode_seeds: list[int],
    max_episode_steps: int = 1000,
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
        row: dict[str, Any] = {
            "seed_index": pi.seed_index,
            "gym_returns": gym["returns"].tolist(),
            "gym_lengths": gym["lengths"].tolist(),
            "gym_mean": float(np.mean(gym["returns"])),
            "gym_std": float(np.std(gym["returns"])),
            "gym_length_mean": float(np.mean(gym["lengths"])),
        }
        if mjx:
            t0 = time.time()
            if pi is first:
                say("MJX rollout from the same initial states (the first compiles: 25-60 s on CPU)")
            returns, lengths = run_mjx_episodes(pi, gym["qpos"], gym["qvel"], max_episode_steps)
            row.update(
                mjx_returns=returns.tolist(),
                mjx_lengths=lengths.tolist(),
                mjx_mean=float(np.mean(returns)),
                mjx_std=float(np.std(returns)),
                mjx_length_mean=float(np.mean(lengths)),
                gap=relative_gap(float(np.mean(returns)), row["gym_mean"]),
            )
            say(
                f"seed {pi.seed_index}: MJX in {time.time() - t0:.1f} s, return "
                f"{row['mjx_mean']:.1f}, gap {100 * row['gap']:+.2f}%"
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
    if mjx:
        mjx_means = np.array([r["mjx_mean"] for r in rows])
        doc.update(
            mjx_mean=float(mjx_means.mean()),
            mjx_std=float(mjx_means.std()),
            gap=relative_gap(float(mjx_means.mean()), doc["gym_mean"]),
        )
    return doc


def relative_gap(mjx_mean: float, gym_mean: float) -> float:
    """`(mjx - gym) / max(|gym|, 1)`: relative, and finite when the Gymnasium return is ~0."""
    return (mjx_mean - gym_mean) / max(abs(gym_mean), 1.0)


def make_gym_env(gym_id: str, max_episode_steps: int, render: bool = False) -> Any:
    import gymnasium

    kwargs = {"render_mode": "rgb_array"} if render else {}
    return gymnasium.make(gym_id, max_episode_steps=max_episode_steps, **kwargs)


def run_gym_episodes(pi: Any, episode_seeds: list[int], max_episode_steps: int) -> dict:
    """Noise-free episodes in Gymnasium: returns, lengths and the reset qpos/qvel of each."""
    env = make_gym_env(pi.gym_id, max_episode_steps)
    out: dict[str, list] = {"returns": [], "lengths": [], "qpos": [], "qvel": []}
    try:
        for seed in episode_seeds:
            obs, _ = env.reset(seed=int(seed))
            data = env.unwrapped.data
            out["qpos"].append(data.qpos.copy())
            out["qvel"].append(data.qvel.copy())
            total, length, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(pi.act(obs))
                total += float(reward)
                length += 1
                done = terminated or truncated
            out["returns"].append(total)
            out["lengths"].append(length)
    finally:
        env.close()
    return {k: np.asarray(v) for k, v in out.items()}


@functools.cache
def _mjx_rollout(env_name: str, hidden_dim: int, normalize_obs: bool) -> Any:
    """`(params, qpos [n, nq], qvel [n, nv], max_steps) -> (returns [n], lengths [n])`: jitted
    noise-free MJX episodes from the given initial states, vmapped over episodes. A
    `lax.while_loop`, so it stops once every episode has terminated or hit `max_steps`."""
    import jax
    import jax.numpy as jnp

    import envs
    from ddpg_jax.policy import action

    env = envs.make(env_name)

    def episode(params, qpos, qvel, max_steps):
        state = env.set_state(env.blank_state(), qpos, qvel)  # Gymnasium's reset, then set

        def running(carry):
            _, done, _, length = carry
            return (done == 0) & (length < max_steps)

        def step(carry):
            state, _, total, length = carry
            a = action(params, state.obs, hidden_dim=hidden_dim, normalize_obs=normalize_obs)
            state = env.step(state, a)
            return state, state.done, total + state.reward, length + 1

        zero = jnp.zeros((), state.reward.dtype)
        init = (state, zero, zero, jnp.zeros((), jnp.int32))
        _, _, total, length = jax.lax.while_loop(running, step, init)
        return total, length

    return jax.jit(jax.vmap(episode, in_axes=(None, 0, 0, None)))


def run_mjx_episodes(
    pi: Any, qpos: np.ndarray, qvel: np.ndarray, max_episode_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """Returns and lengths of the same policy in MJX from the given initial states."""
    rollout = _mjx_rollout(pi.env, pi.hidden_dim, pi.normalize_obs)
    returns, lengths = rollout(pi.params, qpos, qvel, np.int32(max_episode_steps))
    return np.asarray(returns, np.float64), np.asarray(lengths).astype(np.int64)


# --- video ---


def check_video_writer() -> None:
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        raise UsageError(
            f"--video needs imageio with ffmpeg ({type(e).__name__}: "
            f"{str(e).splitlines()[0] if str(e) else ''}); pip install "
            "'imageio[ffmpeg]'"
        ) from None


def _probe_renderer(gl: str) -> str | None:
    """None if MuJoCo can render offscreen with MUJOCO_GL=gl (tried in a subprocess, since a
    failed attempt leaves PyOpenGL bound to the wrong platform); else why not."""
    code = (
        "import warnings, mujoco\n"
        "warnings.simplefilter('error')\n"  # glfw only warns when it has no display
        f"from {_GL_MODULES[gl]} import GLContext\n"
        "c = GLContext(16, 16)\nc.make_current()\n"
        "m = mujoco.MjModel.from_xml_string('<mujoco/>')\n"
        "mujoco.MjrContext(m, mujoco.mjtFontScale.mjFONTSCALE_100)\nc.free()\n"
    )
    env = {**os.environ, "MUJOCO_GL": gl}
    try:
        with _fork_exec_ok():
            proc = subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
            )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{type(e).__name__}"
    if proc.returncode == 0:
        return None
    text = proc.stderr.split("Exception ignored in")[0]  # noise from __del__ after the error
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:200] if lines else f"exit status {proc.returncode}"


def choose_renderer() -> str:
    """The MUJOCO_GL to render with: the user's, or the first of RENDERERS that works (then
    set in os.environ for Gymnasium). Raises UsageError saying what to set or install."""
    requested = os.environ.get("MUJOCO_GL")
    if requested:
        if requested not in _GL_MODULES:
            raise UsageError(f"--video: MUJOCO_GL={requested!r} is not a renderer; {_RENDER_HINT}")
        why = _probe_renderer(requested)
        if why is not None:
            raise UsageError(
                f"--video: rendering with MUJOCO_GL={requested} fails ({why}); {_RENDER_HINT}"
            )
        return requested
    reasons = []
    for gl in RENDERERS:
        why = _probe_renderer(gl)
        if why is None:
            os.environ["MUJOCO_GL"] = gl
            return gl
        reasons.append(f"{gl}: {why}")
    raise UsageError(f"--video: no headless renderer works ({'; '.join(reasons)}); {_RENDER_HINT}")


def write_video(
    policies: list[Any], path: str, episode_seed: int, max_episode_steps: int, say: Any
) -> None:
    """One episode per policy (reset seed `episode_seed`), frames streamed into one mp4."""
    path_obj = pathlib.Path(path)
    t0 = time.time()
    env = None
    try:
        with _fork_exec_ok():
            env = make_gym_env(policies[0].gym_id, max_episode_steps, render=True)
            fps = env.metadata.get("render_fps") or round(1.0 / env.unwrapped.dt)
            frames = _write_frames(env, policies, path_obj, fps, episode_seed, say)
    except Exception as e:  # noqa: BLE001 - GL and ffmpeg fail in many ways
        path_obj.unlink(missing_ok=True)
        text = str(e).strip().splitlines()
        raise UsageError(
            f"--video: writing {path} failed ({type(e).__name__}: "
            f"{text[0][:200] if text else ''}); {_RENDER_HINT}"
        ) from None
    finally:
        if env is not None:
            env.close()
    say(f"video: {frames} frames at {fps} fps in {time.time() - t0:.1f} s -> {path}")


def _write_frames(
    env: Any, policies: list[Any], path: pathlib.Path, fps: int, episode_seed: int, say: Any
) -> int:
    import imageio.v2 as imageio

    frames = 0
    with imageio.get_writer(
        path, format="FFMPEG", mode="I", fps=fps, codec="libx264", macro_block_size=16
    ) as writer:
        for pi in policies:
            obs, _ = env.reset(seed=int(episode_seed))
            writer.append_data(env.render())
            total, done, frames = 0.0, False, frames + 1
            while not done:
                obs, reward, terminated, truncated, _ = env.step(pi.act(obs))
                writer.append_data(env.render())
                total += float(reward)
                frames += 1
                done = terminated or truncated
            say(f"video: seed {pi.seed_index}, episode seed {episode_seed}, return {total:.1f}")
    return frames


@contextlib.contextmanager
def _fork_exec_ok():
    """Silences JAX's os.fork warning: ffmpeg and the renderer probe fork and exec at once."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        yield


# --- output ---


def format_table(result: dict[str, Any]) -> str:
    seeds = result["episode_seeds"]
    mjx = "mjx_mean" in result
    lines = [
        f"{result['gym_id']}, checkpoint step {result['checkpoint_step']} "
        f"({result.get('checkpoint', '')}), {len(seeds)} episode(s) per seed index, episode "
        f"seeds {seeds[0]}..{seeds[-1]}, time limit {result['max_episode_steps']}",
        f"{'seed':>4}  {'Gymnasium return':>18}  {'length':>8}"
        + (f"  {'MJX return':>18}  {'gap':>7}" if mjx else ""),
    ]
    for r in result["seeds"]:
        line = (
            f"{r['seed_index']:>4}  {_pm(r['gym_mean'], r['gym_std']):>18}  "
            f"{r['gym_length_mean']:>8.1f}"
        )
        if mjx:
            line += f"  {_pm(r['mjx_mean'], r['mjx_std']):>18}  {100 * r['gap']:>+6.2f}%"
        lines.append(line)
    if len(result["seeds"]) > 1:
        line = (
            f"{'all':>4}  {_pm(result['gym_mean'], result['gym_std']):>18}  "
            f"{result['gym_length_mean']:>8.1f}"
        )
        if mjx:
            line += (
                f"  {_pm(result['mjx_mean'], result['mjx_std']):>18}  {100 * result['gap']:>+6.2f}%"
            )
        lines.append(line + "   (mean ± std over seed indices)")
    return "\n".join(lines)


def _pm(mean: float, std: float) -> str:
    return f"{mean:.1f} ± {std:.1f}"


if __name__ == "__main__":
    sys.exit(main())
