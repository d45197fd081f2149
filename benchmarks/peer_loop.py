"""ddpg-jax against a host-loop DDPG in CleanRL's style, on the same settings, as a process pair.

    python benchmarks/peer_loop.py                       # 25k steps, 3 rounds (minutes)
    python benchmarks/peer_loop.py --total-steps 2000 --warmup-steps 500 --log-every 250 \
        --rounds 1                                       # a quick check

The peer (`--worker`, a subprocess) is written here the way CleanRL's
`ddpg_continuous_action_jax.py` works: a Python loop steps one Gymnasium `Hopper-v5` env,
adds numpy Gaussian noise to the jitted actor's action, stores the transition in numpy arrays
(the true final observation at a time limit, `terminated` only for real terminations), and
after the warm-up (uniform random actions) runs one jitted update per env step on a batch
sampled in numpy. Its learner is `ddpg_jax.agent.init`/`agent.update` with the same `Config` as
ours, so the update math is identical and only the loop around it differs. Like ours it ends
with one noise-free evaluation episode.

Ours is `python -m ddpg_jax.train --backend=mujoco` with every learner setting given as a flag,
at 1 env and 1 update per vectorised step, and at 16 envs and 16 updates per vectorised step
(one update per env step in both). Each round runs peer, ours (1 env), ours (16 envs), one
after the other, so load changes hit all three alike.

Reported per setting (median over rounds): env steps/s during learning, between the second
logged step after the warm-up (so the update's compile is out) and the last one before the end
(ours: `metrics.csv`'s `wall_time`; the peer logs the same clock at the same interval); and the
end-to-end wall-clock of the process, imports and compiles included.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LEARNER = {
    # The Config fields that shape learning; both sides get exactly these (the Hopper
    # preset's algorithm, as CleanRL's and the TD3 paper's DDPG).
    "hidden_dim": 256,
    "actor_lr": 3.0e-4,
    "critic_lr": 3.0e-4,
    "gamma": 0.99,
    "tau": 0.005,
    "weight_decay": 0.0,
    "critic_arch": "embed",
    "normalize_obs": False,
    "noise_type": "gaussian",
    "expl_noise": 0.1,
    "noise_decay_mode": "none",
    "policy_delay": 2,  # as CleanRL's DDPG (policy_frequency 2)
    "twin_critics": False,
    "target_noise": 0.0,
}
"""Learner settings shared by the peer and ours; batch, buffer and warm-up come from flags."""

OURS = ({"num_envs": 1, "updates_per_step": 1}, {"num_envs": 16, "updates_per_step": 16})
"""The settings of ours compared with the peer: one update per env step in both."""


def learning_rate(steps: list[int], walls: list[float], warmup: int) -> float:
    """Env steps/s between the second logged step after `warmup` and the last one before the
    end (the first holds the update's compile; the end holds the final evaluation)."""
    learning = [i for i, s in enumerate(steps) if s > warmup]
    if len(learning) < 3:
        raise ValueError(f"too few logged steps after the warm-up ({steps}): log more often")
    a, b = learning[1], learning[-2]
    return (steps[b] - steps[a]) / (walls[b] - walls[a])


# --- the peer: CleanRL's host loop around our update ---


def learner_config(args: argparse.Namespace, num_envs: int = 1, updates_per_step: int = 1):
    """The `Config` of the peer; ours resolves to the same one but for num_envs/updates."""
    from ddpg_jax.config import Config

    return Config(
        **LEARNER,
        batch_size=args.batch_size,
        buffer_size=args.buffer_size,
        warmup_steps=args.warmup_steps,
        num_envs=num_envs,
        updates_per_step=updates_per_step,
        total_steps=args.total_steps,
    )


def peer(args: argparse.Namespace) -> dict:
    """Trains the host-loop DDPG; returns the wall clock at each logged env step."""
    import gymnasium as gym
    import jax

    from ddpg_jax import agent
    from ddpg_jax.replay import Transition

    start = time.perf_counter()
    cfg = learner_config(args)
    env = gym.make("Hopper-v5")
    rng = np.random.default_rng(args.seed)
    low, high = env.action_space.low, env.action_space.high
    obs_size, act_size = env.observation_space.shape[0], env.action_space.shape[0]
    ts = agent.init(cfg, obs_size, act_size, jax.random.key(args.seed), low, high)
    noise_std = cfg.expl_noise * (high - low) / 2
    capacity = cfg.buffer_size
    buf_obs = np.zeros((capacity, obs_size), np.float32)
    buf_next = np.zeros((capacity, obs_size), np.float32)
    buf_act = np.zeros((capacity, act_size), np.float32)
    buf_rew = np.zeros((capacity,), np.float32)
    buf_term = np.zeros((capacity,), np.float32)
    steps, walls = [], []
    obs, _ = env.reset(seed=args.seed)
    for step in range(cfg.total_steps):
        if step < cfg.warmup_steps:
            action = env.action_space.sample()
        else:
            action = np.asarray(agent.act(cfg, ts, obs))
            action = np.clip(action + rng.normal(0.0, noise_std), low, high)
        next_obs, reward, terminated, truncated, _ = env.step(action)
        i = step % capacity
        buf_obs[i], buf_act[i], buf_rew[i] = obs, action, reward
        buf_next[i], buf_term[i] = next_obs, float(terminated)
        obs = env.reset()[0] if terminated or truncated else next_obs
        if step + 1 > cfg.warmup_steps:
            idx = rng.integers(0, min(step + 1, capacity), cfg.batch_size)
            batch = Transition(
                buf_obs[idx], buf_act[idx], buf_rew[idx], buf_next[idx], buf_term[idx]
            )
            ts, _ = agent.update(cfg, ts, batch)
        if (step + 1) % args.log_every == 0:
            jax.block_until_ready(ts)
            steps.append(step + 1)
            walls.append(time.perf_counter() - start)
    obs, _ = env.reset(seed=args.seed + 1)  # one noise-free episode, as ours evaluates
    done, eval_return = False, 0.0
    while not done:
        obs, reward, terminated, truncated, _ = env.step(np.asarray(agent.act(cfg, ts, obs)))
        eval_return += float(reward)
        done = terminated or truncated
    return {"steps": steps, "walls": walls, "eval_return": eval_return}


# --- the pair, run from here ---


def ours_command(args: argparse.Namespace, setting: dict, out: str) -> list[str]:
    flags = {
        # Every Config field, not only LEARNER's: a key the Hopper preset sets and the peer
        # leaves at its default would otherwise change our learner and not the peer's.
        **dataclasses.asdict(learner_config(args, **setting)),
        "env": "hopper",
        "backend": "mujoco",
        "log_every": args.log_every,
        "eval_every": args.total_steps,
        "checkpoint_every": args.total_steps,
        "eval_episodes": 1,
        "seed": args.seed,
        "out": out,
    }
    text = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in flags.items()}
    return [sys.executable, "-m", "ddpg_jax.train", *(f"--{k}={v}" for k, v in text.items())]


def peer_command(args: argparse.Namespace) -> list[str]:
    shared = ("batch_size", "buffer_size", "warmup_steps", "total_steps", "log_every", "seed")
    flags = [f"--{k.replace('_', '-')}={getattr(args, k)}" for k in shared]
    return [sys.executable, os.path.abspath(__file__), "--worker", *flags]


def timed(command: list[str]) -> tuple[float, str]:
    """Runs a command from the repo root; (wall seconds, stdout). Fails loudly on an error."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise RuntimeError(f"exit {proc.returncode}: {shlex.join(command)}")
    return seconds, proc.stdout


def run_ours(args: argparse.Namespace, setting: dict) -> tuple[float, float]:
    """(env steps/s during learning, end-to-end seconds) of one train CLI run."""
    with tempfile.TemporaryDirectory(prefix="peer_loop-") as tmp:
        seconds, _ = timed(ours_command(args, setting, os.path.join(tmp, "run")))
        walls: dict[int, float] = {}
        with open(os.path.join(tmp, "run", "metrics.csv"), newline="") as f:
            for row in csv.DictReader(f):
                walls[int(row["env_step"])] = float(row["wall_time"])
    steps = sorted(walls)
    return learning_rate(steps, [walls[s] for s in steps], args.warmup_steps), seconds


def run_peer(args: argparse.Namespace) -> tuple[float, float]:
    """(env steps/s during learning, end-to-end seconds) of one peer process."""
    seconds, stdout = timed(peer_command(args))
    result = json.loads(stdout.strip().splitlines()[-1])
    return learning_rate(result["steps"], result["walls"], args.warmup_steps), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total-steps", type=int, default=25_000)
    parser.add_argument("--warmup-steps", type=int, default=5_000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--buffer-size", type=int, default=100_000)
    parser.add_argument("--log-every", type=int, default=1_000, help="env steps between logs")
    parser.add_argument("--rounds", type=int, default=3, help="peer, ours, ours per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", action="store_true", help="be the peer; print JSON")
    args = parser.parse_args()
    if args.worker:
        from ddpg_jax import envs  # noqa: F401 - sends mujoco.mjx's warp message to stderr, as ours does

        print(json.dumps(peer(args)))
        return

    from machine import describe

    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    names = ["peer (host loop, 1 env)"] + [
        f"ours ({s['num_envs']} envs, {s['updates_per_step']} updates/step)" for s in OURS
    ]
    results: dict[str, list[tuple[float, float]]] = {n: [] for n in names}
    for _ in range(args.rounds):
        results[names[0]].append(run_peer(args))
        for name, setting in zip(names[1:], OURS, strict=True):
            results[name].append(run_ours(args, setting))
    print(f"command: {shlex.join([sys.argv[0], *sys.argv[1:]])}")
    print(f"date: {datetime.datetime.now():%Y-%m-%d %H:%M}")
    print(f"machine: {describe()}")
    print(f"load before: {uptime}")
    print(
        f"load after: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}"
    )
    print(
        f"Hopper-v5, {args.total_steps} env steps, warm-up {args.warmup_steps}, batch "
        f"{args.batch_size}, one update per env step; median of {args.rounds} round(s)"
    )
    print(f"ours: {shlex.join(ours_command(args, OURS[0], 'DIR')[1:])}")
    print()
    print("| loop | env steps/s learning | vs peer | end to end s | vs peer |")
    print("|---|---|---|---|---|")
    peer_rate, peer_wall = np.median(np.asarray(results[names[0]]), axis=0)
    for name in names:
        rate, wall = np.median(np.asarray(results[name]), axis=0)
        print(
            f"| {name} | {rate:,.0f} | {rate / peer_rate:.2f}x | {wall:.1f} | "
            f"{peer_wall / wall:.2f}x |"
        )
    floor = update_floor(args)
    print()
    print(
        f"Compute floor: the learner's update is {floor['mflop']:.1f} MFLOP of matmuls (mean over "
        f"policy_delay {LEARNER['policy_delay']}); a plain [{args.batch_size} x "
        f"{LEARNER['hidden_dim']}] @ [{LEARNER['hidden_dim']} x {LEARNER['hidden_dim']}] runs at "
        f"{floor['gflops']:.1f} GFLOP/s here; at that rate an update takes {floor['ms']:.2f} ms, "
        "and one update per env step caps a loop at "
        f"{1000 / floor['ms']:,.0f} env steps/s ({1000 / floor['ms'] / peer_rate:.2f}x the peer)."
    )


def update_floor(args: argparse.Namespace) -> dict[str, float]:
    """The update's matmul FLOPs (averaged over `policy_delay` updates: one with the actor
    branch, the others critic-only) over the rate of a plain `x @ w` of the update's batch and
    hidden size, timed here (best of 20 calls of 20 chained products): an update's time if all
    of it ran at the rate of its largest matmul shape, and nothing else cost anything."""
    import jax
    from update_speed import _time, dot_flops, random_batch

    from ddpg_jax import agent

    cfg = learner_config(args)
    ts = agent.init(cfg, 11, 3, jax.random.key(0))
    batch = random_batch(jax.random.key(1), cfg.batch_size, 11, 3)
    per_branch = [
        dot_flops(lambda t: agent.update(cfg, t, batch), ts, branches=b) for b in (max, min)
    ]
    flops = (per_branch[0] + (cfg.policy_delay - 1) * per_branch[1]) / cfg.policy_delay
    h = cfg.hidden_dim
    x = jax.random.normal(jax.random.key(2), (cfg.batch_size, h))
    w = jax.random.normal(jax.random.key(3), (h, h)) / h**0.5

    @jax.jit
    def chained(x):
        return jax.lax.fori_loop(0, 20, lambda _, y: y @ w, x)

    jax.block_until_ready(chained(x))
    best = min(_time(chained, x) for _ in range(20)) / 20
    gflops = 2 * cfg.batch_size * h * h / best / 1e9
    return {"mflop": flops / 1e6, "gflops": gflops, "ms": flops / (gflops * 1e9) * 1e3}


if __name__ == "__main__":
    main()
