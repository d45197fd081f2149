"""Numbers as the tables and command lines print them: mean ± std, env steps, wall-clock."""

from __future__ import annotations

import math


def mean_std(mean: float, std: float, decimals: int = 0) -> str:
    """`1500 ± 500`; with `decimals`, that many digits after the point (`1500.0 ± 500.0`)."""
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"


def env_steps(n: int, most: int | None = None) -> str:
    """`n` env steps as 520k or 1M; with a different `most`, the range (400k-540k)."""
    if most is not None and most != n:
        return f"{env_steps(n)}-{env_steps(most)}"
    return f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"


def wall_clock(seconds: float, most: float | None = None) -> str:
    """Seconds as 42 s, 2.5 min or 28 min; with a different `most`, the range."""
    if most is not None and wall_clock(most) != wall_clock(seconds):
        return f"{wall_clock(seconds)} to {wall_clock(most)}"
    if not math.isfinite(seconds):
        return "?"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes = seconds / 60
    return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
