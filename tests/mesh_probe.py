"""Trains a tiny InvertedPendulum run on a given device mesh and saves its final state, for
`tests/test_distributed.py`, which runs it in a subprocess: the forced CPU device count
(`XLA_FLAGS=--xla_force_host_platform_device_count=N`) must be set before jax is imported.

    python tests/mesh_probe.py MESH SHARDS NUM_SEEDS OUT.npz [n_step]
"""

import os
import sys

import jax
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from anywhere without `pip install -e .`
    sys.path.insert(0, ROOT)

from ddpg_jax import Config, envs, mesh  # noqa: E402 - after the sys.path fix above
from ddpg_jax.loop import make_train  # noqa: E402

CFG = Config(
    hidden_dim=16,
    batch_size=32,
    buffer_size=4096,
    warmup_steps=256,
    num_envs=8,
    updates_per_step=2,
    normalize_obs=True,
    target_noise=0.2,
    twin_critics=True,
)
CHUNK = 50  # vectorised steps: 8 envs x 4 chunks = 1600 env steps per seed, 168 chunks' updates


def main(spec: str, shards: int, num_seeds: int, out: str, n_step: int = 1) -> None:
    jax.config.update("jax_default_matmul_precision", "float32")
    cfg = CFG.replace(num_seeds=num_seeds, n_step=n_step)
    seeds, envs_axis = mesh.parse(spec)
    devices = jax.devices()[: seeds * envs_axis]
    layout = mesh.choose(spec, num_seeds, cfg, devices=devices, shards=shards)
    env = envs.make("inverted_pendulum", backend="mujoco")
    trainer = make_train(cfg, env, CHUNK, episode_length=100, eval_envs=2, layout=layout)
    carry = mesh.place(layout, trainer.init_seeds(jax.random.split(jax.random.key(0), num_seeds)))
    returns = []
    for _ in range(4):
        carry, metrics = trainer.train_chunk_seeds(carry)
        returns.append(metrics["train_episode_return"])
    leaves = jax.tree.leaves(jax.device_get(carry.train_state.actor_params))
    np.savez(
        out,
        actor=np.concatenate([np.reshape(x, (num_seeds, -1)) for x in leaves], axis=1),
        critic_loss=metrics["critic_loss"],
        returns=np.stack(returns),
        devices=len(layout.mesh().devices.flat),
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], *map(int, sys.argv[5:]))
