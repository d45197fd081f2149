#!/usr/bin/env bash
# One stage of the GPU measurements, run on a lent GPU machine by the device tool's `run`
# (command: `bash benchmarks/gpu_run.sh STAGE ...`, carry: [".whl"]). notes/gpu_session.md
# says which stages to run in a 30-minute device budget and where their figures go.
#
#   throughput                   env_speed (MJX, 1..8192 envs) and train_speed (1 vs 5 seeds)
#   train ENV TOTAL_STEPS SEEDS  the task's gpu: preset, evaluated in Gymnasium, records packed
#
# Everything it prints is also in $OUT/<stage>.log; a training stage leaves its run records
# (config.yaml, metrics.csv, evaluations/; `ddpg_jax.report --export`) in $OUT/records.tgz.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
if [ -d .whl ] && ! python3 -c "import mujoco, mujoco.mjx, gymnasium, tensorboardX" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:-$PWD}
stage=${1:?usage: gpu_run.sh throughput | train ENV TOTAL_STEPS SEEDS}
shift
case "$stage" in
  throughput)
    {
      nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null
      python3 benchmarks/env_speed.py --tasks ${TASKS:-hopper ant} \
        --num-envs ${ENVS:-1 64 1024 2048 4096 8192} --min-seconds ${MIN_SECONDS:-2}
      python3 benchmarks/train_speed.py --env ${TRAIN_ENV:-hopper} \
        --num-envs ${TRAIN_ENVS:-2048 8192} --num-seeds 1 5 --iterations ${ITERATIONS:-50}
    } 2>&1 | tee "$OUT/throughput.log"
    ;;
  train)
    env=${1:?ENV}; steps=${2:?TOTAL_STEPS}; seeds=${3:?SEEDS}; shift 3
    run=runs/gpu-$env-$seeds-seeds
    {
      time python3 -m ddpg_jax.train --env="$env" --num_seeds="$seeds" \
        --total_steps="$steps" --out="$run" "$@" \
        && python3 -m ddpg_jax.evaluate "$run" --seed-index all --episodes 10 --no-mjx \
        && python3 -m ddpg_jax.report "$run" --export "$OUT/records"
    } 2>&1 | tee "$OUT/train-$env.log"
    tar czf "$OUT/records.tgz" -C "$OUT" records 2>/dev/null && rm -rf "$OUT/records"
    ;;
  *)
    echo "unknown stage $stage: use throughput or train" >&2
    exit 2
    ;;
esac
