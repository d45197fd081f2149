#!/usr/bin/env bash
# Every GPU measurement of one 15-minute device lease, in one call of the device tool:
#   run(command="bash benchmarks/gpu_run.sh all", carry=[".whl"], timeout_s=540)
# (.whl/ from benchmarks/gpu_wheels.sh). docs/gpu.md says where each figure goes.
#
# Stages, in this order, each under its own `timeout` so a slow compile cannot eat the later
# ones; whatever a stage printed before its timeout is kept. The budgets (seconds; B_*
# variables override them) of the stages in line sum to 455, 476 with each one's 3 s kill grace:
#   install      the .whl/ wheels, when mujoco, gymnasium or tensorboardX are missing  B_INSTALL=25
#   machine      GPU name, memory and driver; jax version and devices                  B_MACHINE=20
#   train        Hopper's gpu: preset, 5 seeds, stopped by --max_minutes=MAX_MINUTES    B_TRAIN=130
#   evaluate     that run in Gymnasium, 10 episodes per seed, on CPU cores in the
#                background while the GPU stages below run                           B_EVALUATE=240
#   env_speed    MJX env steps/s of Hopper and Ant at 2048 and 8192 envs, compile s     B_ENV=100
#   train_speed_1, train_speed_5: the train CLI at 4096 envs with 1, then 5 seeds, beside
#                pure stepping at the same size (one stage each)               B_TRAIN_SPEED=85
#   pack         the report row; the run's records exported and tarred                  B_PACK=10
# `gpu_run.sh STAGE...` runs some of them (evaluate and pack use the newest runs/gpu-* dir).
#
# $OUT (default /tmp/gpu_out) gets at most 7 files, none in a folder: stages.tsv (stage, exit
# status, seconds, budget; 124 = timed out), machine.txt, train.log, evaluate.log, env_speed.md,
# train_speed.md, records.tgz. SMOKE=1 shrinks every size for a check on a 2-core CPU (C MuJoCo
# physics in env_speed, the cpu: preset in train); the size variables below override both.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

if [ "${SMOKE:-0}" = 1 ]; then
  : "${TASKS:=hopper ant}" "${ENVS:=2 4}" "${ENV_BACKEND:=mujoco}" "${MIN_SECONDS:=0.2}"
  : "${SPEED_ENVS:=4}" "${SPEED_SEEDS:=1 2}" "${ITERATIONS:=5}" "${CHUNKS:=3}"
  : "${SEEDS:=2}" "${MAX_MINUTES:=0.1}" "${EPISODES:=2}"
  : "${TRAIN_FLAGS:=--log_every=400 --eval_every=800 --warmup_steps=400 --total_steps=4000}"
  : "${B_INSTALL:=60}" "${B_MACHINE:=60}" "${B_TRAIN:=240}" "${B_EVALUATE:=240}"
  : "${B_ENV:=240}" "${B_TRAIN_SPEED:=300}" "${B_PACK:=60}"
fi
TASKS=${TASKS:-hopper ant}
ENVS=${ENVS:-2048 8192}
ENV_BACKEND=${ENV_BACKEND:-mjx}
MIN_SECONDS=${MIN_SECONDS:-1}
SPEED_ENV=${SPEED_ENV:-hopper}
SPEED_ENVS=${SPEED_ENVS:-4096}
SPEED_SEEDS=${SPEED_SEEDS:-1 5}
ITERATIONS=${ITERATIONS:-50}
CHUNKS=${CHUNKS:-4}
TRAIN_ENV=${TRAIN_ENV:-hopper}
SEEDS=${SEEDS:-5}
MAX_MINUTES=${MAX_MINUTES:-1.75}
# Chunks of 100 vectorised steps, so the chunk that passes the budget overshoots it little.
TRAIN_FLAGS=${TRAIN_FLAGS:---log_every=204800}
EPISODES=${EPISODES:-10}
KILL_AFTER=3 # seconds between a stage's timeout signal and SIGKILL

# Run one stage: stage NAME BUDGET LOG FUNCTION (output appended to $OUT/LOG and echoed). The
# function runs in a child bash (`timeout` runs programs, not functions): see the exports below.
stage() {
  local name=$1 budget=$2 log=$3 signal=TERM start rc
  shift 3
  [ "$name" = train ] && signal=INT # train checkpoints on SIGINT, so a timed-out run is kept
  start=$SECONDS
  echo "== $name (budget ${budget} s) $(date '+%F %T')" | tee -a "$OUT/$log"
  timeout -s "$signal" -k "$KILL_AFTER" "$budget" bash -c "$*" 2>&1 | tee -a "$OUT/$log"
  rc=${PIPESTATUS[0]}
  printf '%s\t%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - start))" "$budget" >>"$OUT/stages.tsv"
  echo "== $name: exit $rc after $((SECONDS - start)) s" | tee -a "$OUT/$log"
  return "$rc"
}

install_wheels() {
  if python3 -c "import mujoco, mujoco.mjx, gymnasium, tensorboardX, tqdm" 2>/dev/null; then
    echo "mujoco, mujoco.mjx, gymnasium, tensorboardX, tqdm: already installed"
    return 0
  fi
  # One pip call: mujoco, mujoco-core and mujoco-mjx share the `mujoco/` folder.
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl
}

machine() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  python3 -c "import sys; sys.path.insert(0, 'benchmarks'); import jax; from machine import \
describe; print(describe()); print('jax', jax.__version__, 'devices', jax.devices())"
  echo "cpus: $(nproc)"
}

has_max_minutes() { python3 -m ddpg_jax.train --help 2>/dev/null | grep -q -- --max_minutes; }

latest_run() { ls -d runs/gpu-"$TRAIN_ENV"-* 2>/dev/null | tail -n 1; }

train() {
  local run budget_flag=()
  run=runs/gpu-$TRAIN_ENV-${SEEDS}seeds-$(date +%Y%m%d-%H%M%S)
  if has_max_minutes; then
    budget_flag=(--max_minutes="$MAX_MINUTES")
  else
    echo "train has no --max_minutes yet: the stage timeout (SIGINT, checkpoint) stops it"
  fi
  # shellcheck disable=SC2086 # TRAIN_FLAGS is a list of flags
  python3 -m ddpg_jax.train --env="$TRAIN_ENV" --num_seeds="$SEEDS" --out="$run" \
    "${budget_flag[@]}" $TRAIN_FLAGS
}

evaluate() {
  local run cores=()
  run=$(latest_run)
  [ -n "$run" ] || { echo "no runs/gpu-$TRAIN_ENV-* dir"; return 1; }
  # Gymnasium and the policy on the CPU, on the upper half of the cores, so the GPU and the
  # host threads of the stages running meanwhile stay free.
  if [ "$(nproc)" -ge 8 ] && command -v taskset >/dev/null; then
    cores=(taskset -c "$(($(nproc) / 2))-$(($(nproc) - 1))")
  fi
  JAX_PLATFORMS=cpu "${cores[@]}" python3 -m ddpg_jax.evaluate "$run" --seed-index all \
    --episodes "$EPISODES" --no-mjx
}

env_speed() {
  # shellcheck disable=SC2086 # TASKS and ENVS are lists
  python3 benchmarks/env_speed.py --tasks $TASKS --num-envs $ENVS --min-seconds "$MIN_SECONDS" \
    --backend "$ENV_BACKEND"
}

train_speed() { # SEEDS
  # shellcheck disable=SC2086 # SPEED_ENVS is a list
  python3 benchmarks/train_speed.py --env "$SPEED_ENV" --num-envs $SPEED_ENVS \
    --num-seeds "$1" --iterations "$ITERATIONS" --chunks "$CHUNKS"
}

pack() {
  local run
  run=$(latest_run)
  [ -n "$run" ] || { echo "no runs/gpu-$TRAIN_ENV-* dir"; return 1; }
  rm -rf "$OUT/records"
  python3 -m ddpg_jax.report "$run" --export "$OUT/records" || true
  tar czf "$OUT/records.tgz" -C "$OUT" records && rm -rf "$OUT/records"
}

run_stage() {
  case "$1" in
    install) stage install "${B_INSTALL:-25}" machine.txt install_wheels ;;
    machine) stage machine "${B_MACHINE:-20}" machine.txt machine ;;
    train) stage train "${B_TRAIN:-130}" train.log train ;;
    evaluate) stage evaluate "${B_EVALUATE:-240}" evaluate.log evaluate ;;
    env_speed) stage env_speed "${B_ENV:-100}" env_speed.md env_speed ;;
    train_speed_[0-9]*)
      stage "$1" "${B_TRAIN_SPEED:-85}" train_speed.md "train_speed ${1#train_speed_}"
      ;;
    pack) stage pack "${B_PACK:-10}" evaluate.log pack ;;
    *)
      echo "unknown stage $1: all, install, machine, train, evaluate, env_speed," \
        "train_speed_<seeds>, pack" >&2
      return 2
      ;;
  esac
}

export -f install_wheels machine has_max_minutes latest_run train evaluate env_speed train_speed pack
export OUT TASKS ENVS ENV_BACKEND MIN_SECONDS SPEED_ENV SPEED_ENVS SPEED_SEEDS ITERATIONS CHUNKS \
  TRAIN_ENV SEEDS MAX_MINUTES TRAIN_FLAGS EPISODES
# The wheels go to /tmp/site on this machine; every later stage (and its subprocesses) sees them.
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
[ $# -gt 0 ] || set -- all
if [ "$*" = all ]; then
  run_stage install
  run_stage machine
  run_stage train
  run_stage evaluate >/dev/null & # its log is $OUT/evaluate.log
  evaluating=$!
  run_stage env_speed
  for seeds in $SPEED_SEEDS; do run_stage "train_speed_$seeds"; done
  wait "$evaluating"
  run_stage pack
  echo "== stages (name, exit, seconds, budget); total $SECONDS s"
  cat "$OUT/stages.tsv"
else
  for name in "$@"; do run_stage "$name"; done
fi
exit 0
