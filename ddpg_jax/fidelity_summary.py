"""A fidelity record as people read it: one markdown row per record under `MARKDOWN_HEADER`,
and the machine it was measured on."""

from __future__ import annotations

from typing import Any

import numpy as np

from ddpg_jax.fidelity_chaos import PERTURBATIONS
from ddpg_jax.formatting import mean_std

MARKDOWN_HEADER = (
    "| task (checkpoint) | C return | C +1e-9 (gap) | C +1e-6 (gap) | MJX f32 (gap) | "
    "MJX f64 (gap) | lengths C / f32 / f64 | first step > 1e-6, f32 / f64 (median) | "
    "one-step error f32 / f64 (max, median) |\n|---|---|---|---|---|---|---|---|---|"
)


def summary_row(record: dict[str, Any]) -> str:
    """One markdown row of `MARKDOWN_HEADER` for a `benchmarks/fidelity.py` record."""

    def ret(key: str) -> str:
        s = record.get(key)
        if s is None:
            return "-"
        gap = f" ({100 * s['gap']:+.1f}%)" if "gap" in s else ""
        return f"{mean_std(s['mean'], s['std'])}{gap}"

    def lengths() -> str:
        keys = ("gym", "mjx_float32", "mjx_float64")
        return " / ".join(f"{record[k]['length_mean']:.0f}" if k in record else "-" for k in keys)

    def steps() -> str:
        out = []
        for p in ("float32", "float64"):
            div = record.get("divergence", {}).get(p)
            if div is None:
                out.append("-")
                continue
            s = [d["step"] for d in div]
            never = sum(x is None for x in s)
            med = np.median([x for x in s if x is not None]) if never < len(s) else None
            out.append(
                ("never" if med is None else f"{med:.0f}")
                + (f" ({never} never)" if never and med is not None else "")
            )
        return " / ".join(out)

    def local() -> str:
        out = []
        for p in ("float32", "float64"):
            e = record.get("local", {}).get(p)
            out.append("-" if e is None else f"{e['max']:.1e}, {e['median']:.1e}")
        return " / ".join(out)

    pert = [f"gym_perturbed_{p:g}" for p in PERTURBATIONS]
    cells = [
        f"{record['gym_id']} ({record['checkpoint_step']})",
        ret("gym"),
        ret(pert[0]),
        ret(pert[1]),
        ret("mjx_float32"),
        ret("mjx_float64"),
        lengths(),
        steps(),
        local(),
    ]
    return "| " + " | ".join(cells) + " |"
