"""Updates per second of `agent.update` with vmapped matmuls against plain ones, in one process.

    python benchmarks/unvmapped.py [--task hopper] [--updates 500] [--rounds 5]

The learner is the task's `cpu:` preset (Hopper: concat critic, twin critics, policy_delay 2,
batch 256, hidden 256). Three programs, each `agent.update` scanned `--updates` times in one
jit, timed in alternating rounds so that load hits them alike (the median over rounds):
- `vmap critics, vmap seed`: the twin critics under a `vmap` and a one-seed `vmap` around the
  scan;
- `plain critics, vmap seed`: the critics applied one by one (as `agent._all_out` does);
- `plain critics, one seed`: and the seed axis indexed away (as `loop.per_seed` does).
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
from machine import describe as describe_machine
from update_speed import random_batch, scanned_updates

from ddpg_jax import agent, envs, settings
from ddpg_jax.config import Config
from ddpg_jax.loop import per_seed

TASKS = ("hopper", "walker2d", "halfcheetah", "ant")


def vmapped_critics(cfg, critic_params, obs_in, action):
    return jax.vmap(agent.make_critic(cfg).apply, in_axes=(0, None, None))(
        critic_params, obs_in, action
    )


def build(cfg: Config, obs: int, act: int, updates: int, critics_vmapped: bool, seed_vmapped):
    """A jitted scan of `updates` updates over a one-seed train state, traced now (with the
    chosen `_all_out`), and its argument."""
    ts = jax.tree.map(lambda leaf: leaf[None], agent.init(cfg, obs, act, jax.random.key(0)))
    many = scanned_updates(cfg, random_batch(jax.random.key(1), cfg.batch_size, obs, act), updates)
    seeds = jax.vmap(many) if seed_vmapped else (lambda ts: per_seed(many, ts))
    plain = agent._all_out
    agent._all_out = vmapped_critics if critics_vmapped else plain
    try:
        fn = jax.jit(seeds).lower(ts).compile()
    finally:
        agent._all_out = plain
    return fn, ts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="hopper", choices=TASKS)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    preset = settings.load_preset(args.task, "cpu")
    cfg = Config.from_dict({k: v for k, v in preset.items() if k in settings.CONFIG_FIELDS})
    env = envs.make(args.task, backend="mujoco")
    obs, act = env.observation_size, env.action_size
    variants = {
        "vmap critics, vmap seed": (True, True),
        "plain critics, vmap seed": (False, True),
        "plain critics, one seed": (False, False),
    }
    programs = {name: build(cfg, obs, act, args.updates, *v) for name, v in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in programs}
    for fn, ts in programs.values():
        jax.block_until_ready(fn(ts))
    for _ in range(args.rounds):
        for name, (fn, ts) in programs.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(ts))
            times[name].append(args.updates / (time.perf_counter() - start))
    print(
        f"{args.task} cpu: preset learner (critic_arch={cfg.critic_arch}, "
        f"twin_critics={cfg.twin_critics}, policy_delay={cfg.policy_delay}, batch "
        f"{cfg.batch_size}, hidden {cfg.hidden_dim}), {args.updates} updates scanned, "
        f"{args.rounds} alternating rounds"
    )
    base = statistics.median(times["vmap critics, vmap seed"])
    for name, rates in times.items():
        median = statistics.median(rates)
        rounds = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{name:26s} {median:6.0f} updates/s  ({median / base:.2f}x; rounds: {rounds})")
    print(f"machine: {describe_machine()}")


if __name__ == "__main__":
    main()
