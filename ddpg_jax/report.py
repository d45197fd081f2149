"""Command line: results tables from run dirs, and the tables of RESULTS.md and README.md.

    python -m ddpg_jax.report RUN_OR_FOLDER [...] [--study] [--pool] [--target R] [--export DIR]
    python -m ddpg_jax.report --results-md [--check]
    python -m ddpg_jax.report --figure results/presets_time.png

Each argument is a run dir or a folder holding run dirs (a sweep's `--out`). A run contributes
its `config.yaml` (task, seeds, device, physics), its `metrics.csv` (env steps, wall-clock,
the training loop's noise-free evals) and its saved Gymnasium scores (`evaluations/`, written
by every `python -m ddpg_jax.evaluate`). Without `--study` it prints one row per run in the
format of the reference study's results table, beside its numbers and the best published DDPG
return; with
`--study` one row per variant of a sweep (without it, rows of different variants get a
variant column). `--target R` adds the wall-clock and env steps at which the training loop's
eval return, averaged over seeds, first reached R. `--pool` makes one row of the runs that
differ only in their seed (a preset run once per seed). Markdown on stdout; bad input exits 2.

`--export DIR` also copies each run's records (config.yaml, metrics.csv, evaluations/; not the
checkpoints) to `DIR/<run name>` (`DIR/<sweep>/<variant>` for a sweep's variants): small enough
to commit, and all this module and `ddpg_jax.plot` need. `results/runs/` holds the records
behind RESULTS.md.

`--results-md` rebuilds every table that `results/tables.yaml` defines from the records in
`results/runs/` and writes each between its markers (`<!-- report:NAME -->` and
`<!-- /report:NAME -->`) in RESULTS.md and README.md; with `--check` it writes nothing and exits
1 if a committed table differs from the rebuilt one. `--figure FILE` draws the README's
learning curves (return against wall-clock, one panel per task) from the records of the
`headline` table.

This module is the command line. The work is done in `report_runs` (run dirs to summaries),
`report_tables` (summaries to markdown), `report_export` (records out of run dirs),
`report_spec` (the tables of `results/tables.yaml`), `report_markdown` (their blocks in
RESULTS.md and README.md) and `report_figure`; their public names are importable from here.
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

from ddpg_jax.cli import Parser, UsageError, say
from ddpg_jax.cli import run as run_cli
from ddpg_jax.report_export import export_records
from ddpg_jax.report_figure import headline_figure
from ddpg_jax.report_markdown import MARKDOWN_FILES, fill_blocks, refresh_markdown
from ddpg_jax.report_runs import pool_seeds, run_dirs_named, summarize
from ddpg_jax.report_spec import (
    RECORDS,
    ROOT,
    TABLES_SPEC,
    group_score,
    load_spec,
    records_cell,
    render_tables,
)
from ddpg_jax.report_tables import (
    BEST_PUBLISHED_DDPG_1M,
    REFERENCE_STUDY,
    TASK_ORDER,
    results_table,
    study_table,
)

# What callers use from `ddpg_jax.report`; each is defined in one of the modules above.
__all__ = [
    "BEST_PUBLISHED_DDPG_1M",
    "MARKDOWN_FILES",
    "RECORDS",
    "REFERENCE_STUDY",
    "ROOT",
    "TABLES_SPEC",
    "TASK_ORDER",
    "UsageError",
    "build_parser",
    "export_records",
    "fill_blocks",
    "group_score",
    "headline_figure",
    "load_spec",
    "main",
    "pool_seeds",
    "records_cell",
    "refresh_markdown",
    "render_tables",
    "results_table",
    "run_dirs_named",
    "study_table",
    "summarize",
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="python -m ddpg_jax.report",
        description="Markdown results tables from run dirs: Gymnasium scores saved by "
        "ddpg_jax.evaluate, env steps, wall-clock and device.",
    )
    parser.add_argument(
        "paths", nargs="*", metavar="RUN_OR_FOLDER", help="run dirs or folders of run dirs"
    )
    parser.add_argument(
        "--results-md",
        action="store_true",
        help="rebuild the tables of RESULTS.md and README.md (between their <!-- report:NAME --> "
        "markers) from results/runs/, as results/tables.yaml defines them",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="with --results-md: write nothing; exit 1 if a committed table differs",
    )
    parser.add_argument(
        "--figure",
        metavar="FILE.png",
        help="draw the README's learning curves (return against wall-clock, one panel per task)",
    )
    parser.add_argument(
        "--study", action="store_true", help="one row per sweep variant instead of per task"
    )
    parser.add_argument(
        "--target",
        type=float,
        metavar="R",
        help="add a column: wall-clock and env steps at which the training eval return, "
        "averaged over seeds, first reached R",
    )
    parser.add_argument(
        "--pool",
        action="store_true",
        help="one row per setting: runs that differ only in their seed are pooled (mean ± std "
        "over all their seeds)",
    )
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="also copy each run's config.yaml, metrics.csv and evaluations/ under DIR",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.results_md or args.figure:
        return _markdown_and_figure(args)
    if args.check:
        raise UsageError("--check goes with --results-md")
    if not args.paths:
        raise UsageError("pass run dirs (or --results-md, or --figure FILE)")
    if args.pool and (args.study or args.target is not None):
        raise UsageError(
            "--pool makes the per-task table; it does not combine with --study or --target"
        )
    run_dirs = run_dirs_named(args.paths)
    if args.target is not None and not np.isfinite(args.target):
        raise UsageError(f"--target must be a finite number, got {args.target}")
    summaries = [summarize(p, args.target) for p in run_dirs]
    if args.export:
        for copy in export_records(run_dirs, pathlib.Path(args.export)):
            say(f"exported {copy}")
    if args.pool:
        summaries = pool_seeds(summaries)
    table = study_table if args.study else results_table
    print(table(summaries, args.target))
    return 0


def _markdown_and_figure(args: argparse.Namespace) -> int:
    if args.paths:
        raise UsageError("--results-md and --figure read results/runs/; they take no run dirs")
    if args.figure:
        headline_figure(pathlib.Path(args.figure))
        say(f"wrote {args.figure}")
    if args.results_md:
        changed = refresh_markdown(check=args.check)
        for path in changed:
            say(f"{'differs' if args.check else 'rewrote'}: {path.relative_to(ROOT)}")
        if args.check and changed:
            say("run `python -m ddpg_jax.report --results-md` to rebuild them")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
