#!/usr/bin/env bash
# The `cpu:` presets as a user runs them (issue 12): for each TASK and SEED, the bare command
# `python -m ddpg_jax.train --env=TASK --seed=SEED` (run dir runs/preset-TASK-sSEED), its
# wall-clock, then the Gymnasium score of every seed index (10 episodes) and the records
# exported to results/runs/preset-TASK/. Tasks run one after another, so each has both cores.
#
#   bash benchmarks/preset_runs.sh "hopper walker2d" "0 1 2"
#
# A finished run (evaluation saved) is skipped; a cut-off one is resumed.
set -uo pipefail
cd "$(dirname "$0")/.."
tasks=${1:?TASKS}; seeds=${2:-0}
for task in $tasks; do
  for seed in $seeds; do
    run=runs/preset-$task-s$seed
    if ls "$run/evaluations"/*.json >/dev/null 2>&1; then echo "== $task seed $seed: done"; continue; fi
    echo "== $task seed $seed: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s)
    if [ -f "$run/config.yaml" ]; then
      python -m ddpg_jax.train --resume="$run" || exit $?
    else
      python -m ddpg_jax.train --env="$task" --seed="$seed" --out="$run" || exit $?
    fi
    echo "== $task seed $seed: train wall-clock $(( $(date +%s) - start )) s, ended $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
    python -m ddpg_jax.evaluate "$run" --seed-index all --episodes 10 --no-mjx || exit $?
    mkdir -p "results/runs/preset-$task"
    python -m ddpg_jax.report "$run" --export "results/runs/preset-$task" >/dev/null || exit $?
  done
done
