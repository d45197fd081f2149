#!/usr/bin/env bash
# Every (task, seed, library) run of the peer comparison, one after another so each has the
# cores to itself, then its scoring; finished runs are skipped, so it resumes after a stop.
#
#   bash benchmarks/peers/run_all.sh ["TASKS"] ["SEEDS"] ["LIBRARIES"]
#
# Defaults: tasks "hopper halfcheetah walker2d ant" (in that order), seeds "0 1 2", libraries
# "ddpg-jax sbx-td3 sbx-sac sb3-td3 cleanrl-td3". Environment:
#   PEER_VENVS   the venvs of install.sh (default /work/peer-venvs)
#   PEER_RUNS    run dirs and logs, outside the repository (default /work/peer-runs):
#                $PEER_RUNS/<library>/<task>/seed<S>/, $PEER_RUNS/logs/, $PEER_RUNS/run_all.log
#   PEER_SCORES  score.py's CSVs (default benchmarks/peers/scores)
#   PEER_OURS    where ddpg-jax's run records are exported (default benchmarks/peers/ours)
#   PEER_MINUTES the wall-clock budget of every run (default 27)
#   PEER_EXTRA   extra flags for the peer drivers (smoke tests: "--steps 300 ...")
#
# A peer run is done when its CSV exists and its run.json says finished. A peer run that was
# cut off cannot resume (the peers save no replay buffer), and a resumed clock would not be
# comparable anyway: its dir is moved aside (*.cut-<time>) and the run starts again. The same
# goes for ddpg-jax (done: its Gymnasium evaluation is saved). ddpg-jax runs at its `cpu:`
# preset, the bare `python -m ddpg_jax.train --env=TASK --seed=S`, with the same budget.
#
# The load average before and after every run goes to run_all.log (and into each run's
# records); a 1-minute load above 0.5 before a run is flagged there, since the comparison
# needs the cores free.
set -uo pipefail
cd "$(dirname "$0")/../.."

TASKS=${1:-hopper halfcheetah walker2d ant}
SEEDS=${2:-0 1 2}
LIBRARIES=${3:-ddpg-jax sbx-td3 sbx-sac sb3-td3 cleanrl-td3}
PEER_VENVS=${PEER_VENVS:-/work/peer-venvs}
PEER_RUNS=${PEER_RUNS:-/work/peer-runs}
PEER_SCORES=${PEER_SCORES:-benchmarks/peers/scores}
PEER_OURS=${PEER_OURS:-benchmarks/peers/ours}
PEER_MINUTES=${PEER_MINUTES:-27}
PEER_EXTRA=${PEER_EXTRA:-}
LOG=$PEER_RUNS/run_all.log
mkdir -p "$PEER_RUNS/logs"

say() { echo "$(date -u +%FT%TZ) $*" | tee -a "$LOG"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

check_load() {
  local one
  one=$(cut -d' ' -f1 /proc/loadavg)
  if awk -v l="$one" 'BEGIN { exit !(l > 0.5) }'; then
    say "   WARNING: load $(load) before the run: the cores are not free"
  fi
}

move_aside() {  # DIR: a cut-off run, kept for the record
  local dest
  dest="$1.cut-$(date -u +%Y%m%dT%H%M%S)"
  mv "$1" "$dest"
  say "   $1 was cut off; moved to $dest, starting again"
}

venv_of() {
  case $1 in
    sbx-td3 | sbx-sac) echo sbx ;;
    sb3-td3) echo sb3 ;;
    cleanrl-td3) echo cleanrl ;;
    *) return 1 ;;
  esac
}

run_peer() {  # LIBRARY TASK SEED
  local lib=$1 task=$2 seed=$3 venv py dir csv log
  venv=$(venv_of "$lib") || { say "unknown library $lib"; return 2; }
  py=$PEER_VENVS/$venv/bin/python
  dir=$PEER_RUNS/$lib/$task/seed$seed
  csv=$PEER_SCORES/$lib/$task-seed$seed.csv
  log=$PEER_RUNS/logs/$lib-$task-seed$seed.log
  if [ ! -f "$PEER_VENVS/$venv/.installed" ]; then
    say "== $lib $task seed $seed: venv $PEER_VENVS/$venv missing (bash benchmarks/peers/install.sh)"
    return 2
  fi
  if [ -f "$csv" ] && grep -q '"finished": true' "$dir/run.json" 2>/dev/null; then
    say "== $lib $task seed $seed: done"
    return 0
  fi
  if grep -q '"finished": true' "$dir/run.json" 2>/dev/null; then
    say "== $lib $task seed $seed: trained, scoring"
  else
    [ -e "$dir" ] && move_aside "$dir"
    check_load
    say "== $lib $task seed $seed: training, load $(load)"
    # shellcheck disable=SC2086
    "$py" "benchmarks/peers/${lib//-/_}.py" --task "$task" --seed "$seed" --out "$dir" \
      --minutes "$PEER_MINUTES" $PEER_EXTRA > "$log" 2>&1 || { say "   failed: see $log"; return 1; }
    say "   trained, load $(load)"
  fi
  "$py" benchmarks/peers/score.py "$dir" --csv "$csv" >> "$log" 2>&1 \
    || { say "   scoring failed: see $log"; return 1; }
  say "   scored: $csv, load $(load)"
}

run_ours() {  # TASK SEED
  local task=$1 seed=$2 dir log
  dir=$PEER_RUNS/ddpg-jax/$task/seed$seed
  log=$PEER_RUNS/logs/ddpg-jax-$task-seed$seed.log
  if ls "$dir/evaluations"/*.json > /dev/null 2>&1; then
    say "== ddpg-jax $task seed $seed: done"
    return 0
  fi
  [ -e "$dir" ] && move_aside "$dir"
  check_load
  say "== ddpg-jax $task seed $seed: training, load $(load)"
  .venv/bin/python -m ddpg_jax.train --env="$task" --seed="$seed" --out="$dir" \
    --max_minutes="$PEER_MINUTES" > "$log" 2>&1 || { say "   failed: see $log"; return 1; }
  say "   trained, load $(load)"
  .venv/bin/python -m ddpg_jax.evaluate "$dir" --seed-index all --episodes 10 --no-mjx \
    >> "$log" 2>&1 || { say "   evaluation failed: see $log"; return 1; }
  mkdir -p "$PEER_OURS/preset-$task"
  .venv/bin/python -m ddpg_jax.report "$dir" --export "$PEER_OURS/preset-$task" >> "$log" 2>&1 \
    || { say "   export failed: see $log"; return 1; }
  say "   evaluated and exported to $PEER_OURS/preset-$task, load $(load)"
}

say "run_all: tasks '$TASKS', seeds '$SEEDS', libraries '$LIBRARIES', $PEER_MINUTES min;" \
  "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //');" \
  "avx512f: $(grep -q -m1 avx512f /proc/cpuinfo && echo yes || echo no); $(nproc) cores"
status=0
for task in $TASKS; do
  for seed in $SEEDS; do
    for lib in $LIBRARIES; do
      if [ "$lib" = ddpg-jax ]; then run_ours "$task" "$seed"; else run_peer "$lib" "$task" "$seed"; fi \
        || status=1
    done
  done
done
say "run_all: finished (status $status), load $(load)"
exit $status
