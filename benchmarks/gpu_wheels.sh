#!/usr/bin/env bash
# Download the wheels a fresh GPU machine lacks into .whl/ (git-ignored; the device tool's
# `run(..., carry=[".whl"])` takes them along). The machine starts with Python 3.12, jax,
# flax, optax, chex and orbax; gpu_run.sh installs these with --no-deps, so the list is every
# missing package that ddpg_jax imports, transitive ones included. mujoco-studio is left out:
# mujoco's metadata names it, but nothing here imports it.
#   PY=3.11 bash benchmarks/gpu_wheels.sh   # wheels for another Python (a CPU check)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${WHEEL_DIR:-.whl}
mkdir -p "$dest"
platforms=()
for p in manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64; do
  platforms+=(--platform "$p")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${PY:-3.12}" \
  --implementation cp "${platforms[@]}" -d "$dest" \
  mujoco==4.0.1 mujoco-core==4.0.1 mujoco-mjx==3.17.0 gymnasium==1.4.0 \
  farama-notifications cloudpickle glfw pyopengl trimesh tensorboardX tqdm
ls -la "$dest"
