"""A run's records (config.yaml, metrics.csv, evaluations/; not its checkpoints) copied out
of its run dir: small enough to commit, and all the results tables and plots need."""

from __future__ import annotations

import pathlib
import shutil

from ddpg_jax import run_dir
from ddpg_jax.cli import UsageError


def export_records(run_dirs: list[pathlib.Path], dest: pathlib.Path) -> list[pathlib.Path]:
    """Copy the records of each run (not its checkpoints) under `dest`, at `dest/<run name>`
    (`dest/<sweep>/<variant>` for a sweep's variant); returns the copies."""
    copies = []
    for root in run_dirs:
        rd = run_dir.open_existing(root)
        _, extra = run_dir.load_config(rd)
        name = pathlib.Path(root.parent.name, root.name) if extra.get("variant") else root.name
        target = run_dir.RunDir(dest / name)
        if target.root.exists():
            raise UsageError(f"{target.root} already exists; export into an empty folder")
        target.root.mkdir(parents=True)
        shutil.copy2(rd.config_path, target.config_path)
        if rd.metrics_path.is_file():
            shutil.copy2(rd.metrics_path, target.metrics_path)
        if rd.evaluations_dir.is_dir():
            shutil.copytree(rd.evaluations_dir, target.evaluations_dir)
        copies.append(target.root)
    return copies
