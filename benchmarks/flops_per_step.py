"""Learner FLOPs per env step of a resolved recipe, counted from the jaxpr of one learning
iteration (acting for every env, then `updates_per_step` updates), and a projection of env
steps/s on a device from an assumed matmul rate and physics rate.

    python benchmarks/flops_per_step.py --env=hopper --num_envs=2048 [any train flag]
    python benchmarks/flops_per_step.py --env=hopper --num_envs=2048 \
        --matmul-tflops 20 --physics-msteps 2 --update-latency-ms 0.5

Only matrix products are counted (2 FLOPs per multiply-add, forward and backward); with a
policy delay the actor's half is counted once every `policy_delay` updates. The projection is
an estimate, not a measurement: time per vectorised step = updates x max(update FLOPs / matmul
rate, update latency) + num_envs / physics rate.
"""

from __future__ import annotations

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import describe as describe_machine  # noqa: E402
from update_speed import dot_flops  # noqa: E402

from ddpg_jax import agent, loop, replay, settings  # noqa: E402
from ddpg_jax.train import make_env  # noqa: E402


def learner_flops(cfg, obs: int, act: int) -> dict[str, float]:
    """Matmul FLOPs of one update (actor half averaged over the policy delay) and of acting
    for every env once."""
    low, high = -np.ones(act, np.float32), np.ones(act, np.float32)
    ts = agent.init(cfg, obs, act, jax.random.key(0), low, high, None)
    buffer = replay.init(cfg.batch_size, obs, act, with_discount=cfg.n_step > 1)
    one = cfg.replace(updates_per_step=1)

    def learn(ts, buffer):
        return loop.learn(one, ts, buffer, jax.random.key(1), jnp.int32(0))

    with_actor = dot_flops(learn, ts, buffer, branches=max)
    critic_only = dot_flops(learn, ts, buffer, branches=min)
    update = critic_only + (with_actor - critic_only) / cfg.policy_delay
    obs_batch = jnp.zeros((cfg.num_envs, obs), jnp.float32)
    acting = dot_flops(lambda ts, o: agent.act(cfg, ts, o), ts, obs_batch)
    return {"update": update, "acting": acting}


def main() -> None:
    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--matmul-tflops", type=float, default=0.0)
    extra.add_argument("--physics-msteps", type=float, default=0.0)
    extra.add_argument("--update-latency-ms", type=float, default=0.0)
    known, rest = extra.parse_known_args()
    args = settings.build_parser(prog="benchmarks/flops_per_step.py").parse_args(rest)
    resolved = settings.resolve(args, "cpu")
    cfg = resolved.cfg
    env = make_env(resolved.run)
    flops = learner_flops(cfg, env.observation_size, env.action_size)
    per_step = (flops["update"] * cfg.updates_per_step + flops["acting"]) / cfg.num_envs
    print(describe_machine())
    print("command: " + " ".join(["benchmarks/flops_per_step.py", *sys.argv[1:]]))
    print(
        f"{resolved.run.env}: num_envs {cfg.num_envs}, batch {cfg.batch_size}, "
        f"{cfg.updates_per_step} updates per vectorised step, replay ratio "
        f"{cfg.batch_size * cfg.updates_per_step / cfg.num_envs:g}"
    )
    print(f"FLOPs per update: {flops['update'] / 1e9:.3f} G")
    print(f"learner FLOPs per env step: {per_step / 1e6:.2f} M")
    if known.matmul_tflops and known.physics_msteps:
        update_s = max(
            flops["update"] / (known.matmul_tflops * 1e12), known.update_latency_ms / 1e3
        )
        vec_step_s = cfg.updates_per_step * update_s + cfg.num_envs / (known.physics_msteps * 1e6)
        rate = cfg.num_envs / vec_step_s
        print(
            f"projection (assumed matmul {known.matmul_tflops:g} TFLOP/s, physics "
            f"{known.physics_msteps:g}M steps/s, update latency >= {known.update_latency_ms:g} "
            f"ms): {rate:,.0f} env steps/s, {20e6 / rate / 60:.1f} min per 20M env steps"
        )


if __name__ == "__main__":
    main()
