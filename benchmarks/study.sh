#!/usr/bin/env bash
# The many-envs / large-batch study on the CPU with the C MuJoCo backend: one task,
# several recipes, each run for the same wall-clock budget, evaluated in Gymnasium and its
# records exported to results/runs/study-<task>/<variant>/. RESULTS.md cites the commands and
# the table `python -m ddpg_jax.report results/runs/study-<task> --study --target R` prints.
#
#   bash benchmarks/study.sh TASK MINUTES VARIANT [VARIANT ...]
#   e.g. bash benchmarks/study.sh hopper 7 plain16 plain128 td3_128 stab128
#
# Resumable: a variant whose run dir already holds its evaluation is skipped, one that was cut
# off is resumed (--resume keeps its budget per invocation). Every variant is one seed here
# (the CPU's time goes to env steps); the presets chosen from it are then checked with more.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benchmarks/run_lib.sh
. benchmarks/run_lib.sh
task=${1:?TASK}; minutes=${2:?MINUTES}; shift 2
root=runs/study-$task
mkdir -p "$root" "results/runs/study-$task"

# Shared by every variant: the preset's algorithm (Adam 3e-4, tau 0.005, no critic L2,
# Gaussian noise 0.1), one seed, long enough that the budget, not the total, ends the run.
common=(--env="$task" --num_seeds=1 --total_steps=20000000 --max_minutes="$minutes"
        --eval_episodes=5 --keep_checkpoints=1)
# The stabilised recipe (FastTD3's choices scaled to a CPU): TD3's twin critics, delay and
# smoothing; observation normalisation; layer norm in the critic; a categorical critic;
# 3-step returns; per-env noise scales.
stab=(--twin_critics=true --policy_delay=2 --target_noise=0.2 --normalize_obs=true
      --critic_layer_norm=true --distributional=true --num_atoms=101 --v_min=-100.0
      --v_max=400.0 --n_step=3 --per_env_noise=true --noise_std_min=0.001 --noise_std_max=0.4)

flags_of() {
  case "$1" in
    # 16 envs, batch 256: the single-env recipe spread over a few envs (replay ratio 32).
    plain16) echo --num_envs=16 --batch_size=256 --updates_per_step=2 --buffer_size=1000000 \
      --warmup_steps=10000 --log_every=20000 --eval_every=100000 ;;
    # 128 envs, batch 1024, 4 updates per vectorised step: replay ratio 32, plain DDPG.
    plain128) echo --num_envs=128 --batch_size=1024 --updates_per_step=4 --buffer_size=1000000 \
      --warmup_steps=25600 --log_every=51200 --eval_every=204800 ;;
    td3_128) echo "$(flags_of plain128)" --twin_critics=true --policy_delay=2 --target_noise=0.2 ;;
    stab128) echo "$(flags_of plain128)" "${stab[@]}" ;;
    stab128_mse) echo "$(flags_of stab128)" --distributional=false ;;
    stab128_noln) echo "$(flags_of stab128)" --critic_layer_norm=false ;;
    stab128_n1) echo "$(flags_of stab128)" --n_step=1 ;;
    # 512 envs, batch 4096 in 1024-row slices, 4 updates per vectorised step: replay ratio 32.
    stab512) echo --num_envs=512 --batch_size=4096 --micro_batch=1024 --updates_per_step=4 \
      --buffer_size=2000000 --warmup_steps=51200 --log_every=102400 --eval_every=409600 \
      "${stab[@]}" ;;
    *) echo "unknown variant $1" >&2; return 2 ;;
  esac
}

for variant in "$@"; do
  flags=$(flags_of "$variant") || exit 2
  # shellcheck disable=SC2086
  train_evaluate_export "$root/$variant" "results/runs/study-$task" "--max_minutes=$minutes" \
    "${common[@]}" $flags || exit $?
done
python -m ddpg_jax.report "results/runs/study-$task" --study
