"""Training throughput: env steps/s of the jitted training chunk against pure env stepping at
the same `num_envs`, the compile time of the first chunk, and the cost of more vmapped seeds.

    python benchmarks/train_speed.py --env hopper --num-envs 16 64 --num-seeds 1
    python benchmarks/train_speed.py --env hopper --num-envs 2048 8192 --num-seeds 1 5  # GPU

Training runs the task's preset for the device (`configs/<env>.yaml`, `cpu:`/`gpu:`), with
`num_envs`/`num_seeds` overridden; pure stepping is `jit(vmap(scan(env.step)))` with random
actions, the envs being the same auto-reset training envs. Env steps count every env of
every seed. Prints the machine and a markdown table.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from machine import describe as describe_machine

import envs
from ddpg_jax import loop, train


def _timed(fn, *args):
    start = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return out, time.perf_counter() - start


def pure_stepping(env, num_envs: int, num_seeds: int, iterations: int) -> float:
    """Env steps/s of the auto-reset training envs alone, random actions."""
    batched = envs.wrap_for_training(env)
    low, high = jnp.asarray(env.action_low), jnp.asarray(env.action_high)

    def rollout(state, key):
        def body(s, k):
            action = jax.random.uniform(k, (num_envs, env.action_size), minval=low, maxval=high)
            return batched.step(s, action), None

        return jax.lax.scan(body, state, jax.random.split(key, iterations))[0]

    keys = jax.random.split(jax.random.key(0), num_seeds * num_envs).reshape(num_seeds, num_envs)
    state = jax.jit(jax.vmap(batched.reset))(keys)
    run = jax.jit(jax.vmap(rollout))
    seed_keys = jax.random.split(jax.random.key(1), num_seeds)
    state, _ = _timed(run, state, seed_keys)  # compile + warm-up
    _, seconds = _timed(run, state, seed_keys)
    return iterations * num_envs * num_seeds / seconds


def training(env_name: str, env, num_envs: int, num_seeds: int, iterations: int):
    """(env steps/s, first-chunk seconds incl. compile, updates per chunk) of training."""
    preset = train.load_preset(env_name, train.default_device_kind())
    fields = {f for f in train.Config.__dataclass_fields__}
    cfg = train.Config.from_dict({k: v for k, v in preset.items() if k in fields}).replace(
        num_envs=num_envs,
        num_seeds=num_seeds,
        buffer_size=max(preset.get("buffer_size", 100_000), num_envs),
        warmup_steps=0,  # measure learning, not warm-up
    )
    trainer = loop.make_train(cfg, env, chunk_iterations=iterations)
    carry = jax.block_until_ready(
        trainer.init_seeds(jax.random.split(jax.random.key(0), num_seeds))
    )
    (carry, _), first = _timed(trainer.train_chunk_seeds, carry)
    _, seconds = _timed(trainer.train_chunk_seeds, carry)
    return (
        iterations * num_envs * num_seeds / seconds,
        first,
        iterations * cfg.updates_per_step,
        cfg,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--num-seeds", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--iterations", type=int, default=100, help="vectorised steps per timed chunk"
    )
    parser.add_argument(
        "--backend",
        default=None,
        help="physics backend passed to envs.make, if the envs support it",
    )
    args = parser.parse_args()
    name = envs.canonical_name(args.env)
    make_kw = {} if args.backend is None else {"backend": args.backend}
    env = envs.make(name, **make_kw)
    print(f"machine: {describe_machine()}")
    print(
        f"env {env.gym_id}, backend {args.backend or 'default'}, {args.iterations} "
        "vectorised steps per chunk"
    )
    print(
        "| num_envs | seeds | pure env steps/s | training env steps/s | ratio | "
        "updates/s | first chunk s (compile) | batch | updates/step |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for num_seeds in args.num_seeds:
        for num_envs in args.num_envs:
            pure = pure_stepping(env, num_envs, num_seeds, args.iterations)
            rate, first, updates, cfg = training(name, env, num_envs, num_seeds, args.iterations)
            updates_per_s = updates * num_seeds * rate / (args.iterations * num_envs * num_seeds)
            print(
                f"| {num_envs} | {num_seeds} | {pure:,.0f} | {rate:,.0f} | "
                f"{rate / pure:.2f} | {updates_per_s:,.0f} | {first:.1f} | "
                f"{cfg.batch_size} | {cfg.updates_per_step} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
