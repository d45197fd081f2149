"""Numbers as the tables and command lines print them: mean ± std."""

from __future__ import annotations


def mean_std(mean: float, std: float, decimals: int = 0) -> str:
    """`1500 ± 500`; with `decimals`, that many digits after the point (`1500.0 ± 500.0`)."""
    return f"{mean:.{decimals}f} ± {std:.{decimals}f}"
