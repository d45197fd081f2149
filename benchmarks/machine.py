"""One line describing the machine a benchmark ran on, for the record next to its figures."""

from __future__ import annotations

import datetime
import os
import platform


def describe() -> str:
    """CPU model and cores, accelerator, library versions, date and load average."""
    import jax
    import mujoco

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    device = jax.devices()[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {cores} cores; jax {jax.__version__} on {device.platform} "
        f"({device.device_kind}); mujoco {mujoco.__version__}; python "
        f"{platform.python_version()}; {datetime.datetime.now():%Y-%m-%d %H:%M}; "
        f"load average {load}"
    )
