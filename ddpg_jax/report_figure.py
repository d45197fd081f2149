"""The README's figure: each task's eval return against wall-clock, drawn from the records
of the `headline` table of `results/tables.yaml`."""

from __future__ import annotations

import pathlib

from ddpg_jax import plot
from ddpg_jax.report_spec import RECORDS, load_spec
from ddpg_jax.report_tables import gym_id


def headline_figure(out: pathlib.Path, records: pathlib.Path = RECORDS) -> None:
    """The README's figure: each task's eval return against wall-clock, one line per seed."""
    (headline,) = [t for t in load_spec() if t["kind"] == "headline"]
    panels = [
        (
            gym_id(row["env"]).removesuffix("-v5"),
            [plot.load_run(str(records / p)) for p in row["records"]],
        )
        for row in headline["rows"]
    ]
    plot.plot_task_panels(panels, out)
