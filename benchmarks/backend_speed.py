"""Physics backends compared: env steps/s of "mjx" (MJX) and "mujoco" (C MuJoCo through
`jax.pure_callback`), for pure env stepping and for DDPG training. Prints a markdown table.

Usage:
  python benchmarks/backend_speed.py                       # Hopper, 64 envs, both backends
  python benchmarks/backend_speed.py --task halfcheetah --num-envs 16 64 256
Rates (float32, compile excluded and printed separately):
  env: jit(scan(vmap(env.step))) with random actions (no auto-reset);
  wrapped: the same through `envs.wrap_for_training` (auto-reset, time limit), as in training;
  host: `CPhysics.run` called from Python, no JAX (the C side's ceiling; "mujoco" only);
  train: `ddpg_jax.loop.make_train` chunks (act, step, add, one update of batch 128 per
    vectorised step; hidden 64), env steps/s.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from ddpg_jax.envs.c_backend import STATE_FIELDS  # noqa: E402
from machine import describe as describe_machine  # noqa: E402

from ddpg_jax import envs  # noqa: E402


def timed(fn, state, min_seconds: float) -> tuple[float, int]:
    """(seconds, runs) of repeated `state = fn(state)` for at least min_seconds."""
    runs, t0 = 0, time.perf_counter()
    while True:
        state = jax.block_until_ready(fn(state))
        runs += 1
        if time.perf_counter() - t0 >= min_seconds:
            return time.perf_counter() - t0, runs


def env_rate(env, num_envs: int, horizon: int, wrapped: bool, min_seconds: float):
    """(steps/s, compile s) of `horizon` scanned, vmapped env steps with random actions."""
    batched = envs.wrap_for_training(env, episode_length=1000) if wrapped else None
    low, high = jnp.asarray(env.action_low), jnp.asarray(env.action_high)

    def step(state, action):
        return batched.step(state, action) if wrapped else jax.vmap(env.step)(state, action)

    @jax.jit
    def rollout(carry):
        state, key = carry
        key, sub = jax.random.split(key)
        shape = (horizon, num_envs, env.action_size)
        actions = jax.random.uniform(sub, shape, minval=low, maxval=high)
        state = jax.lax.scan(lambda s, a: (step(s, a), None), state, actions)[0]
        return state, key

    keys = jax.random.split(jax.random.key(0), num_envs)
    state = jax.jit(batched.reset if wrapped else jax.vmap(env.reset))(keys)
    carry = (state, jax.random.key(1))
    t0 = time.perf_counter()
    compiled = rollout.lower(carry).compile()
    compile_s = time.perf_counter() - t0
    carry = jax.block_until_ready(compiled(carry))  # warm-up
    seconds, runs = timed(compiled, carry, min_seconds)
    return runs * horizon * num_envs / seconds, compile_s


def host_rate(env, num_envs: int, min_seconds: float) -> float:
    """C steps/s of `CPhysics.run` from Python (no JAX), batch of num_envs."""
    physics = env.physics
    rng = np.random.default_rng(0)
    data = jax.device_get(jax.vmap(env.reset)(jax.random.split(jax.random.key(0), num_envs)).data)
    inputs = {k: np.asarray(getattr(data, k), np.float64) for k in STATE_FIELDS}
    names = physics._out_names("step")
    runs, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < min_seconds:
        inputs["ctrl"] = rng.uniform(env.action_low, env.action_high, inputs["ctrl"].shape)
        out = physics.run("step", inputs, names)
        inputs.update({k: out[k] for k in ("qpos", "qvel", "qacc_warmstart", "time")})
        runs += 1
    return runs * num_envs / (time.perf_counter() - t0)


def train_rate(env, num_envs: int, chunk_iterations: int, min_seconds: float):
    """(env steps/s, compile s) of training chunks after warm-up (learning on)."""
    from ddpg_jax import Config
    from ddpg_jax.loop import make_train

    cfg = Config(
        hidden_dim=64,
        batch_size=128,
        updates_per_step=1,
        num_envs=num_envs,
        num_seeds=1,
        warmup_steps=num_envs,  # learning from the second iteration on
        buffer_size=100_000,
    )
    trainer = make_train(cfg, env, chunk_iterations=chunk_iterations)
    carry = trainer.init_seeds(jax.random.split(jax.random.key(0), 1))
    t0 = time.perf_counter()
    carry, _ = jax.block_until_ready(trainer.train_chunk_seeds(carry))  # compile + 1 chunk
    compile_s = time.perf_counter() - t0
    seconds, runs = timed(lambda c: trainer.train_chunk_seeds(c)[0], carry, min_seconds)
    return runs * chunk_iterations * num_envs / seconds, compile_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="hopper")
    parser.add_argument("--backends", nargs="+", default=["mujoco", "mjx"])
    parser.add_argument("--num-envs", nargs="+", type=int, default=[64])
    parser.add_argument("--horizon", type=int, default=20, help="env steps per jitted call")
    parser.add_argument("--chunk-iterations", type=int, default=20)
    parser.add_argument("--min-seconds", type=float, default=5.0)
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()

    print(f"date: {datetime.datetime.now().isoformat(timespec='seconds')}")
    print(f"machine: {describe_machine()}")
    print(f"command: {' '.join([os.path.basename(sys.executable), *sys.argv])}")
    print(f"load average (1/5/15 min) at start: {os.getloadavg()}")
    print(f"task: {args.task}, float32, compile times in parentheses\n")
    header = "| backend | envs | env steps/s | wrapped steps/s | host C steps/s | train steps/s |"
    print(header + "\n|---|---|---|---|---|---|")
    rates: dict[tuple[str, int], float] = {}
    for num_envs in args.num_envs:
        for backend in args.backends:
            env = envs.make(args.task, backend=backend)
            raw, raw_c = env_rate(env, num_envs, args.horizon, False, args.min_seconds)
            wrapped, wrapped_c = env_rate(env, num_envs, args.horizon, True, args.min_seconds)
            host = host_rate(env, num_envs, args.min_seconds) if backend == "mujoco" else None
            train, train_c = (None, None)
            if not args.skip_train:
                train, train_c = train_rate(env, num_envs, args.chunk_iterations, args.min_seconds)
                rates[(backend, num_envs)] = train
            cells = [
                f"{raw:,.0f} ({raw_c:.1f} s)",
                f"{wrapped:,.0f} ({wrapped_c:.1f} s)",
                "-" if host is None else f"{host:,.0f}",
                "-" if train is None else f"{train:,.0f} ({train_c:.1f} s)",
            ]
            print(f"| {backend} | {num_envs} | " + " | ".join(cells) + " |", flush=True)
    for num_envs in args.num_envs:
        c, m = rates.get(("mujoco", num_envs)), rates.get(("mjx", num_envs))
        if c and m:
            print(f"\ntraining speed-up, mujoco / mjx at {num_envs} envs: {c / m:.1f}x")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
