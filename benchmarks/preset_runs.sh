#!/usr/bin/env bash
# The `cpu:` presets as a user runs them: for each TASK and SEED, the bare command
# `python -m ddpg_jax.train --env=TASK --seed=SEED` (run dir runs/preset-TASK-sSEED), its
# wall-clock, then the Gymnasium score of every seed index (10 episodes) and the records
# exported to results/runs/preset-TASK/. Tasks run one after another, so each has both cores.
#
#   bash benchmarks/preset_runs.sh "hopper walker2d" "0 1 2"
#
# A finished run (evaluation saved) is skipped; a cut-off one is resumed.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benchmarks/run_lib.sh
. benchmarks/run_lib.sh
tasks=${1:?TASKS}; seeds=${2:-0}
for task in $tasks; do
  for seed in $seeds; do
    train_evaluate_export "runs/preset-$task-s$seed" "results/runs/preset-$task" "" \
      --env="$task" --seed="$seed" || exit $?
  done
done
