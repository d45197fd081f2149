"""Env steps per second of one seed's learning chunk with its envs and batch split over 1, 2
and 4 forced CPU devices (`--mesh=1xD`, C MuJoCo backend), each count in its own process
(XLA fixes the CPU device count when jax is imported). On one machine's CPUs the devices share
the same cores, so this shows the cost of the split (collectives, per-device programs) and that
it runs, not a speed-up.

    python benchmarks/mesh_speed.py [task] [devices, e.g. 1,2,4] [field=value ...]
"""

import os
import subprocess
import sys
import time

import jax
import yaml

from ddpg_jax import Config, envs, loop, mesh

CHUNK = 50  # vectorised steps per timed chunk
DEFAULTS = {
    "num_envs": 8,
    "batch_size": 256,
    "buffer_size": 100_000,
    "hidden_dim": 64,
    "updates_per_step": 8,
    "warmup_steps": 8 * 2 * CHUNK,
}


def measure(task: str, devices: int, over: dict) -> float:
    """Env steps per second over 3 learning chunks after warm-up and compile, in this process
    (whose device count its parent set before jax first looked at the devices)."""
    jax.config.update("jax_default_matmul_precision", "float32")
    cfg = Config(num_seeds=1, **{**DEFAULTS, **over})
    layout = mesh.choose(f"1x{devices}", 1, cfg)
    trainer = loop.make_train(cfg, envs.make(task, backend="mujoco"), CHUNK, layout=layout)
    carry = mesh.place(layout, trainer.init_seeds(jax.random.split(jax.random.key(0), 1)))
    for _ in range(3):  # warm-up (2 chunks) and the learning program's compile
        carry, _ = trainer.train_chunk_seeds(carry)
    start = time.perf_counter()
    for _ in range(3):
        carry, _ = jax.block_until_ready(trainer.train_chunk_seeds(carry))
    return 3 * CHUNK * cfg.num_envs / (time.perf_counter() - start)


def main() -> None:
    task = sys.argv[1] if len(sys.argv) > 1 else "inverted_pendulum"
    counts = [int(d) for d in (sys.argv[2] if len(sys.argv) > 2 else "1,2,4").split(",")]
    over = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
    if os.environ.get("MESH_SPEED_DEVICES"):
        print(measure(task, int(os.environ["MESH_SPEED_DEVICES"]), over))
        return
    print(f"| CPU devices | mesh | env steps/s ({task}, { ({**DEFAULTS, **over}) }) |")
    print("|---|---|---|")
    for count in counts:
        env = {
            **os.environ,
            "MESH_SPEED_DEVICES": str(count),
            "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={count}",
        }
        done = subprocess.run(
            [sys.executable, __file__, *sys.argv[1:]], env=env, capture_output=True, text=True
        )
        if done.returncode:
            sys.exit(done.stderr[-2000:])
        print(f"| {count} | 1x{count} | {float(done.stdout.split()[-1]):.0f} |", flush=True)


if __name__ == "__main__":
    main()
