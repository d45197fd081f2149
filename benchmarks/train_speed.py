"""Training throughput: env steps/s and updates/s of `python -m ddpg_jax.train` against pure env
stepping at the same `num_envs`, the first chunk's time (compile included), and the cost of
more vmapped seeds.

    python benchmarks/train_speed.py --env hopper --num-envs 16 64 --num-seeds 1
    python benchmarks/train_speed.py --env hopper --num-envs 4096 --num-seeds 1 5  # GPU

Training is the train CLI itself, run as a subprocess with the task's preset for the device
(`configs/<env>.yaml`, `cpu:`/`gpu:`) and `num_envs`/`num_seeds` overridden, so this measures
what users run and needs nothing from the loop's internals. It runs `--chunks` chunks of
`--iterations` vectorised steps each, no warm-up, and evaluates only at step 0 and at the end;
the rates come from `metrics.csv`'s `wall_time` between consecutive rows after the first chunk
(the last row is left out: it includes the final evaluation). Pure stepping is
`jit(vmap(scan(step)))` of the same auto-reset training envs with random actions. Env steps
count every env of every seed; updates/s count gradient steps of one seed. Prints the machine
and a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import subprocess
import sys
import tempfile
import time

# This process only steps envs; the training subprocess needs the GPU memory that JAX would
# otherwise preallocate here (75% of the device).
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine import describe as describe_machine  # noqa: E402

from ddpg_jax import envs  # noqa: E402


def pure_stepping(env, num_envs: int, num_seeds: int, iterations: int) -> float:
    """Env steps/s of the auto-reset training envs alone (all seeds), random actions."""
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
    state = jax.block_until_ready(run(state, seed_keys))  # compile + warm-up
    start = time.perf_counter()
    jax.block_until_ready(run(state, seed_keys))
    return iterations * num_envs * num_seeds / (time.perf_counter() - start)


def train_command(args, num_envs: int, num_seeds: int, out: str) -> list[str]:
    """The train CLI for `args.chunks` chunks of `args.iterations` vectorised steps."""
    chunk = args.iterations * num_envs
    total = args.chunks * chunk
    return [
        sys.executable,
        "-m",
        "ddpg_jax.train",
        f"--env={args.env}",
        f"--backend={args.backend}",
        f"--num_envs={num_envs}",
        f"--num_seeds={num_seeds}",
        f"--total_steps={total}",
        f"--log_every={chunk}",
        f"--eval_every={total}",
        f"--checkpoint_every={total}",
        "--warmup_steps=0",  # measure learning, not warm-up
        f"--out={out}",
        *args.train_args,
    ]


def read_run(run_dir: str) -> tuple[list[float], dict]:
    """Wall times of the logged env steps (one per row block, in order) and the run's config."""
    walls: dict[int, float] = {}
    with open(os.path.join(run_dir, "metrics.csv"), newline="") as f:
        for row in csv.DictReader(f):
            walls[int(row["env_step"])] = float(row["wall_time"])
    with open(os.path.join(run_dir, "config.yaml")) as f:
        config = yaml.safe_load(f)["config"]
    return [walls[k] for k in sorted(walls)], config


def training(args, num_envs: int, num_seeds: int) -> dict:
    """Runs the train CLI once; its rates, first-chunk and process seconds, and config."""
    with tempfile.TemporaryDirectory(prefix="train_speed-") as tmp:
        out = os.path.join(tmp, "run")
        command = train_command(args, num_envs, num_seeds, out)
        child_env = dict(os.environ)
        child_env.pop("XLA_PYTHON_CLIENT_PREALLOCATE", None)  # the trainer gets JAX's default
        start = time.perf_counter()
        proc = subprocess.run(command, env=child_env, capture_output=True, text=True)
        process_s = time.perf_counter() - start
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise RuntimeError(f"exit {proc.returncode}: {shlex.join(command)}")
        walls, config = read_run(out)
    # walls: step 0 (first evaluation), then one per chunk; the last includes the evaluation.
    steady = np.diff(walls[1:-1])
    if len(steady) == 0:
        raise ValueError("--chunks must be >= 3 to time a chunk without compile or evaluation")
    chunk_s = float(np.median(steady))
    updates_per_chunk = args.iterations * config["updates_per_step"]
    return {
        "env_steps_per_s": args.iterations * num_envs * num_seeds / chunk_s,
        "updates_per_s": updates_per_chunk / chunk_s,
        "first_chunk_s": walls[1] - walls[0],
        "process_s": process_s,
        "config": config,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="hopper")
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--num-seeds", type=int, nargs="+", default=[1])
    parser.add_argument(
        "--iterations", type=int, default=100, help="vectorised steps per chunk (one log row)"
    )
    parser.add_argument(
        "--chunks",
        type=int,
        default=4,
        help="chunks per training run (>= 3: the first compiles, the last evaluates)",
    )
    parser.add_argument(
        "--backend", default="auto", help="physics backend of both measurements: mjx, mujoco, auto"
    )
    parser.add_argument(
        "train_args", nargs="*", help="extra train flags after --, e.g. -- --batch_size=4096"
    )
    args = parser.parse_args()
    name = envs.canonical_name(args.env)
    env = envs.make(name, backend=args.backend)
    print(f"machine: {describe_machine()}")
    print(f"command: {shlex.join(sys.argv)}")
    print(
        f"env {env.gym_id}, backend {env.backend}, {args.iterations} vectorised steps per "
        f"chunk, {args.chunks} chunks; train command (first row): "
        f"{shlex.join(train_command(args, args.num_envs[0], args.num_seeds[0], 'DIR')[2:])}"
    )
    print()
    print(
        "| num_envs | seeds | pure env steps/s | training env steps/s | ratio | "
        "updates/s per seed | first chunk s (compile) | train process s | batch | updates/step |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for num_seeds in args.num_seeds:
        for num_envs in args.num_envs:
            pure = pure_stepping(env, num_envs, num_seeds, args.iterations)
            t = training(args, num_envs, num_seeds)
            rate, cfg = t["env_steps_per_s"], t["config"]
            print(
                f"| {num_envs} | {num_seeds} | {pure:,.0f} | {rate:,.0f} | {rate / pure:.2f} | "
                f"{t['updates_per_s']:,.0f} | {t['first_chunk_s']:.1f} | {t['process_s']:.0f} | "
                f"{cfg['batch_size']} | {cfg['updates_per_step']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
