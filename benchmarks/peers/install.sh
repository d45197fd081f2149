#!/usr/bin/env bash
# One virtual environment per peer library, from the package registry, outside the repository
# (the peers never become dependencies of ddpg-jax, and their venvs are never committed).
#
#   bash benchmarks/peers/install.sh [sbx|sb3|cleanrl ...]   # default: all three
#
# PEER_VENVS (default /work/peer-venvs) is where the venvs go: $PEER_VENVS/{sbx,sb3,cleanrl}.
# A venv whose last step finished (its .installed marker) is left alone; delete it to redo it.
#
# Every venv pins the simulator ddpg-jax is measured on (gymnasium and mujoco at the versions
# below), so the peers step the same physics, and torch at the CPU wheel that lies on this
# machine's disk (a plain `torch` would pull a multi-GB CUDA build).
set -euo pipefail

PEER_VENVS=${PEER_VENVS:-/work/peer-venvs}
PYTHON=${PYTHON:-python3}
GYM_PINS=("gymnasium[mujoco]==1.4.0" mujoco==4.0.1)
TORCH_PIN=torch==2.13.0
SB3_PIN=stable-baselines3==2.9.2
SBX_PIN=sbx-rl==0.28.0
JAX_PINS=(jax==0.10.2 jaxlib==0.10.2 flax==0.12.8 optax==0.2.8)
# CleanRL's last release on the registry. Its wheel says Python < 3.11 only because of its
# pinned dependencies (gym 0.23, jax < 0.4), which we replace: its TD3 script itself is plain
# Python, and cleanrl_td3.py runs it unmodified on a gym-0.23 API adapter over Gymnasium.
CLEANRL_PIN=cleanrl==1.2.0

make_venv() {  # NAME: an empty venv with a current pip; prints its python
  local dir=$PEER_VENVS/$1
  rm -rf "$dir"
  "$PYTHON" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --upgrade pip >&2
  echo "$dir/bin/python"
}

install_sbx() {
  local py
  py=$(make_venv sbx)
  "$py" -m pip install -q "$TORCH_PIN"  # SB3, which SBX builds on, imports torch
  "$py" -m pip install -q "$SBX_PIN" "$SB3_PIN" "${JAX_PINS[@]}" "${GYM_PINS[@]}" "$TORCH_PIN"
}

install_sb3() {
  local py
  py=$(make_venv sb3)
  "$py" -m pip install -q "$TORCH_PIN"
  "$py" -m pip install -q "$SB3_PIN" "${GYM_PINS[@]}" "$TORCH_PIN"
}

install_cleanrl() {
  local py
  py=$(make_venv cleanrl)
  "$py" -m pip install -q "$TORCH_PIN"
  # What CleanRL's TD3 JAX script imports: jax/flax/optax, SB3's ReplayBuffer, torch's
  # SummaryWriter (needs tensorboard); gym is provided by our adapter.
  "$py" -m pip install -q "${JAX_PINS[@]}" "${GYM_PINS[@]}" "$SB3_PIN" tensorboard "$TORCH_PIN"
  "$py" -m pip install -q --no-deps --ignore-requires-python "$CLEANRL_PIN"
}

main() {
  local peers=("$@") peer
  [ ${#peers[@]} -gt 0 ] || peers=(sbx sb3 cleanrl)
  mkdir -p "$PEER_VENVS"
  for peer in "${peers[@]}"; do
    case $peer in
      sbx | sb3 | cleanrl) ;;
      *) echo "unknown peer '$peer': use sbx, sb3 or cleanrl" >&2; exit 2 ;;
    esac
    if [ -f "$PEER_VENVS/$peer/.installed" ]; then
      echo "== $peer: installed ($PEER_VENVS/$peer)"
      continue
    fi
    echo "== $peer: installing into $PEER_VENVS/$peer"
    "install_$peer"
    "$PEER_VENVS/$peer/bin/python" -m pip freeze > "$PEER_VENVS/$peer/.installed"
    echo "== $peer: done; its pip freeze is in $PEER_VENVS/$peer/.installed"
  done
}

main "$@"
