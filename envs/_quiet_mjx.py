"""Imports `mujoco.mjx` once without its import-time notice about a missing warp.

mujoco-mjx 3.17 prints "Failed to import warp: ..." (and "... mujoco_warp ...") to STDOUT when
warp-lang is not installed (`mujoco/mjx/warp/__init__.py` uses `print`). Warp is optional (only
`impl="warp"` needs it, and `envs.base.put_model` says so when asked for it), so the notice is
dropped: on stdout it would corrupt our CLIs' `--json`, and on stderr it would break their
one-line errors. Any other import-time output still goes to stderr. `envs/__init__.py` imports
this module before anything else touches mjx; later imports hit the module cache.
"""

import contextlib
import io
import sys

_captured = io.StringIO()
with contextlib.redirect_stdout(_captured):
    from mujoco import mjx

for _line in _captured.getvalue().splitlines():
    if not _line.startswith(("Failed to import warp:", "Failed to import mujoco_warp:")):
        print(_line, file=sys.stderr)

__all__ = ["mjx"]
