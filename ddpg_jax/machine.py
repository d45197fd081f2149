"""The machine a result was measured on, for its record: CPU model, AVX-512 or not, cores, load
average, date and library versions. A timing is only comparable with others from the same kind
of machine under the same load, so every record that holds one carries this."""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
from importlib.metadata import version
from typing import Any

import jax


def describe() -> dict[str, Any]:
    """CPU model, AVX-512 or not, cores, load average, date and library versions."""
    cpu, flags = platform.processor() or platform.machine(), ""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        cpu = next(ln.split(":", 1)[1].strip() for ln in text.splitlines() if "model name" in ln)
        flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    except (OSError, StopIteration):
        pass
    versions = {"jax": jax.__version__}
    for name in ("mujoco", "mujoco-mjx", "gymnasium"):
        with contextlib.suppress(Exception):
            versions[name] = version(name)
    return {
        "cpu": cpu,
        "avx512f": "avx512f" in flags.split(),
        "cores": len(os.sched_getaffinity(0)),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "jax_backend": jax.default_backend(),
        "versions": versions,
    }
