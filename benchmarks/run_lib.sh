# Sourced by the run drivers (preset_runs.sh, study.sh): one run dir trained, evaluated in
# Gymnasium and exported, the same way for every driver, so that their records agree.
#
#   train_evaluate_export RUN EXPORT_DIR "RESUME_FLAGS" TRAIN_FLAGS...
#
# A run whose evaluation is saved is skipped; one that was cut off is resumed with
# RESUME_FLAGS (e.g. a fresh --max_minutes budget); otherwise `python -m ddpg_jax.train
# --out=RUN TRAIN_FLAGS...`. The start, the train wall-clock and the load go to stdout.
train_evaluate_export() {
  local run=$1 export_dir=$2 resume_flags=$3 start
  shift 3
  if ls "$run/evaluations"/*.json >/dev/null 2>&1; then echo "== $run: done"; return 0; fi
  echo "== $run: $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
  start=$(date +%s)
  if [ -f "$run/config.yaml" ]; then
    # shellcheck disable=SC2086
    python -m ddpg_jax.train --resume="$run" $resume_flags || return $?
  else
    python -m ddpg_jax.train --out="$run" "$@" || return $?
  fi
  echo "== $run: train wall-clock $(( $(date +%s) - start )) s, ended $(date -u +%FT%TZ)," \
    "load $(cut -d' ' -f1-3 /proc/loadavg)"
  python -m ddpg_jax.evaluate "$run" --seed-index all --episodes 10 --no-mjx || return $?
  mkdir -p "$export_dir"
  python -m ddpg_jax.report "$run" --export "$export_dir" >/dev/null || return $?
}
