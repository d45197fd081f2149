"""Pure env throughput: MJX steps/s vs number of envs (float32, jit(vmap(scan(step)))), and
Gymnasium's C MuJoCo steps/s on one core for comparison. Prints a markdown table.
`--backend mujoco` times the C MuJoCo callback backend in the same jitted scan instead (a quick
check of this script on a CPU, where an MJX compile takes a minute).

Usage:
  python benchmarks/env_speed.py --tasks hopper halfcheetah inverted_pendulum \
      --num-envs 1 4 16 64            # CPU
  python benchmarks/env_speed.py --num-envs 1 64 1024 8192   # GPU
A control step is one `env.step` (frame_skip physics substeps). Compile time is excluded
from the rates and printed separately (the persistent compilation cache is used when
$DDPG_JAX_CACHE_DIR or ~/.cache/ddpg_jax/jax_cache exists).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from machine import describe as describe_machine  # noqa: E402

from ddpg_jax import envs  # noqa: E402


def mjx_rate(
    name: str, num_envs: int, horizon: int, min_seconds: float, backend: str = "mjx"
) -> tuple[float, float]:
    """(steps/s, compile seconds) of `horizon` scanned vmapped steps with random actions."""
    env = envs.make(name, backend=backend)
    low, high = jnp.asarray(env.action_low), jnp.asarray(env.action_high)

    @jax.jit
    def rollout(state, key):
        actions = jax.random.uniform(
            key, (horizon, num_envs, env.action_size), minval=low, maxval=high
        )

        def body(s, a):
            return jax.vmap(env.step)(s, a), None

        return jax.lax.scan(body, state, actions)[0]

    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.key(0), num_envs))
    key = jax.random.key(1)
    t0 = time.perf_counter()
    compiled = rollout.lower(state, key).compile()
    compile_s = time.perf_counter() - t0
    state = jax.block_until_ready(compiled(state, key))  # warm-up run
    runs, t0 = 0, time.perf_counter()
    while True:
        key, sub = jax.random.split(key)
        state = jax.block_until_ready(compiled(state, sub))
        runs += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= min_seconds:
            break
    return runs * horizon * num_envs / elapsed, compile_s


def gym_rate(name: str, num_steps: int) -> float:
    """Gymnasium v5 (C MuJoCo, one env, one thread) control steps/s with random actions."""
    import gymnasium as gym

    env = gym.make(envs.GYM_IDS[name]).unwrapped
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    actions = rng.uniform(env.action_space.low, env.action_space.high, (num_steps, env.model.nu))
    t0 = time.perf_counter()
    for a in actions:
        _, _, terminated, _, _ = env.step(a)
        if terminated:
            env.reset()
    return num_steps / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tasks", nargs="+", default=["hopper", "halfcheetah", "inverted_pendulum"]
    )
    parser.add_argument("--num-envs", nargs="+", type=int, default=[1, 4, 16, 64])
    parser.add_argument("--horizon", type=int, default=20, help="scanned steps per jit call")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="timing per point")
    parser.add_argument("--gym-steps", type=int, default=5000, help="0: skip Gymnasium")
    parser.add_argument("--backend", default="mjx", help="physics of the jitted envs")
    args = parser.parse_args()

    cache = os.environ.get(
        "DDPG_JAX_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache/ddpg_jax/jax_cache")
    )
    if os.path.isdir(cache):
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

    print(f"machine: {describe_machine()}")
    print(f"command: {' '.join(sys.argv)}")
    print()
    print(
        f"| task | num_envs | {args.backend} steps/s | compile s | "
        "C MuJoCo (Gymnasium, 1 core) steps/s |"
    )
    print("|---|---|---|---|---|")
    for name in args.tasks:
        c_rate = gym_rate(name, args.gym_steps) if args.gym_steps else float("nan")
        for num_envs in args.num_envs:
            rate, compile_s = mjx_rate(name, num_envs, args.horizon, args.min_seconds, args.backend)
            print(
                f"| {name} | {num_envs} | {rate:,.0f} | {compile_s:.1f} | {c_rate:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
