"""Milliseconds per vectorised step of the learning chunk (the task's `cpu:` preset, one seed,
C MuJoCo backend) at several updates per vectorised step: the slope is an update's cost inside
the loop, the intercept the env step and bookkeeping.

    python benchmarks/loop_cost.py hopper 1,8,16 [field=value ...]   # e.g. twin_critics=false
"""

import dataclasses
import sys
import time

import jax
import numpy as np
import yaml

from ddpg_jax import envs, loop, settings
from ddpg_jax.config import Config

task = sys.argv[1] if len(sys.argv) > 1 else "hopper"
ups = [int(u) for u in (sys.argv[2] if len(sys.argv) > 2 else "1,8,16").split(",")]
over = {k: yaml.safe_load(v) for k, v in (a.split("=", 1) for a in sys.argv[3:])}
preset = settings.load_preset(task, "cpu")
fields = {f.name for f in dataclasses.fields(Config)}
base = Config.from_dict({**{k: v for k, v in preset.items() if k in fields}, **over})
env = envs.make(task, backend="mujoco")
L = 100


def measure(updates_per_step: int) -> list[float]:
    """Milliseconds per vectorised step in 3 learning chunks, after warm-up and compile."""
    cfg = base.replace(updates_per_step=updates_per_step, warmup_steps=base.num_envs * 300)
    trainer = loop.make_train(cfg, env, chunk_iterations=L)
    carry = trainer.init_seeds(jax.random.split(jax.random.key(0), 1))
    it = 0

    def timed_chunk() -> float:
        nonlocal carry, it
        t = time.perf_counter()
        carry, _ = jax.block_until_ready(trainer.train_chunk_seeds(carry, it, L))
        it += L
        return time.perf_counter() - t

    for _ in range(3):  # the warm-up phase
        timed_chunk()
    print("compile+first learn chunk", timed_chunk(), flush=True)
    return [timed_chunk() / L * 1e3 for _ in range(3)]


for u in ups:
    times = measure(u)
    print(
        f"{task} updates_per_step={u}: ms per vectorised step {np.median(times):.2f} "
        f"(rounds: {[round(x, 2) for x in times]})",
        flush=True,
    )
