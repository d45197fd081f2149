"""Imports `mujoco.mjx` once with its import-time prints sent to stderr.

mujoco-mjx 3.17 prints "Failed to import warp: ..." (and "... mujoco_warp ...") to STDOUT when
warp-lang is not installed (`mujoco/mjx/warp/__init__.py` uses `print`). That line would
corrupt machine-readable output such as our CLIs' `--json`. `envs/__init__.py` imports this
module before anything else touches mjx; later imports of `mujoco.mjx` hit the module cache
and print nothing.
"""

import contextlib
import sys

with contextlib.redirect_stdout(sys.stderr):
    from mujoco import mjx

__all__ = ["mjx"]
