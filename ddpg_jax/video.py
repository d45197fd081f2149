"""Videos of a policy in Gymnasium: pick a headless OpenGL renderer, then stream frames to mp4.

Rendering offscreen needs `MUJOCO_GL=egl` (an NVIDIA GPU, or Mesa's EGL) or `MUJOCO_GL=osmesa`
(CPU only; Debian/Ubuntu package `libosmesa6`). `choose_renderer` probes before anything is
rendered, so a missing library is one line naming the package to install instead of a PyOpenGL
traceback in the middle of an episode: the user's `MUJOCO_GL` if set, else egl then osmesa.
Every failure is a `UsageError` (one line, exit 2 on the command line).
"""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import pathlib
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from ddpg_jax.cli import UsageError
from ddpg_jax.episodes import make_gym_env

RENDERERS = ("egl", "osmesa")
"""Headless MUJOCO_GL values tried in this order when MUJOCO_GL is unset."""

_GL_MODULES = {"egl": "mujoco.egl", "osmesa": "mujoco.osmesa", "glfw": "mujoco.glfw"}
# The shared library PyOpenGL loads for each renderer (looked up as PyOpenGL does, with
# ctypes.util.find_library), and the Debian/Ubuntu package that provides it.
_LIBRARIES = {"egl": ("EGL", "libegl1"), "osmesa": ("OSMesa", "libosmesa6")}
_RENDER_HINT = (
    "set MUJOCO_GL=egl (NVIDIA GPU or Mesa EGL: apt-get install libegl1) or MUJOCO_GL=osmesa "
    "(CPU: apt-get install libosmesa6)"
)


def install_hint(gl: str) -> str:
    """What to install for renderer `gl`, or how to choose one when `gl` is not headless."""
    if gl not in _LIBRARIES:
        return _RENDER_HINT
    lib, package = _LIBRARIES[gl]
    return f"MUJOCO_GL={gl} needs lib{lib}: install it (Debian/Ubuntu: apt-get install {package})"


def probe_renderer(gl: str) -> str | None:
    """None if MuJoCo can render offscreen with MUJOCO_GL=gl, else why not (one short line).

    A real GL context is made in a subprocess, since a failed attempt in this process would
    leave PyOpenGL bound to the wrong platform. When it fails and the renderer's library is
    missing (the usual case: OSMesa not installed), that is the reason given, rather than the
    PyOpenGL error it causes."""
    why = _probe_in_subprocess(gl)
    if why is not None and gl in _LIBRARIES and _find_library(_LIBRARIES[gl][0]) is None:
        return f"lib{_LIBRARIES[gl][0]} not found"
    return why


def _find_library(name: str) -> str | None:
    return ctypes.util.find_library(name)


def _probe_in_subprocess(gl: str) -> str | None:
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
            raise UsageError(f"MUJOCO_GL={requested!r} is not a renderer; {_RENDER_HINT}")
        why = probe_renderer(requested)
        if why is not None:
            raise UsageError(f"cannot render ({why}); {install_hint(requested)}")
        return requested
    reasons = []
    for gl in RENDERERS:
        why = probe_renderer(gl)
        if why is None:
            os.environ["MUJOCO_GL"] = gl
            return gl
        reasons.append(f"{gl}: {why}")
    raise UsageError(f"no headless renderer works ({'; '.join(reasons)}); {_RENDER_HINT}")


def check_video_writer() -> None:
    """Raises UsageError unless imageio can write mp4 through ffmpeg."""
    try:
        import imageio  # noqa: F401
        import imageio_ffmpeg

        imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise UsageError(
            f"videos need imageio with ffmpeg ({type(e).__name__}: {first}); "
            "pip install 'imageio[ffmpeg]'"
        ) from None


def write_video(
    policies: list[Any],
    path: str | os.PathLike,
    episode_seed: int,
    max_episode_steps: int,
    say: Callable[[str], None],
) -> None:
    """One episode per policy (reset seed `episode_seed`), frames streamed into one mp4.

    Call `choose_renderer` first; a failure here (GL or ffmpeg) removes the partial file and
    raises UsageError."""
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
            f"writing {path} failed ({type(e).__name__}: "
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
