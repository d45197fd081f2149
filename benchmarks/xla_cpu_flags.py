"""Updates per second of `agent.update` under XLA CPU flags that hand dots to a kernel library.

    python benchmarks/xla_cpu_flags.py [--batches 256,1024] [--updates 500]

XLA's CPU backend runs a dot with its own (Eigen) kernels unless a flag hands it to XNNPACK,
YNNPACK or oneDNN. Flags are read when the backend starts, so each setting runs in its own
process (`--worker`): `agent.update` scanned `--updates` times in one jit, best of 3 timed
calls, for the peer loop's learner (embed critic, one critic, policy_delay 2) and the `cpu:`
presets' (concat critic, twin critics, policy_delay 2), Hopper sizes, hidden 256.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

FLAGS = {
    "default (Eigen)": "",
    "xnn dot": "--xla_cpu_experimental_xnn_fusion_type=dot",
    "ynn individual_dot": "--xla_cpu_experimental_ynn_fusion_type=individual_dot",
    "onednn dot": "--xla_cpu_experimental_onednn_fusion_type=dot",
}
LEARNERS = {
    "embed, 1 critic": {"critic_arch": "embed", "twin_critics": False},
    "concat, twin": {"critic_arch": "concat", "twin_critics": True, "target_noise": 0.2},
}


def worker(batch: int, updates: int, learner: str) -> None:
    import jax
    from update_speed import random_batch, scanned_updates

    from ddpg_jax import Config, agent

    cfg = Config(hidden_dim=256, batch_size=batch, policy_delay=2, **LEARNERS[learner])
    ts = agent.init(cfg, 11, 3, jax.random.key(0))
    many = scanned_updates(cfg, random_batch(jax.random.key(1), batch, 11, 3), updates)
    jax.block_until_ready(many(ts))
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(many(ts))
        best = min(best, time.perf_counter() - start)
    print(f"{updates / best:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", default="256,1024")
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--worker", nargs=2, metavar=("BATCH", "LEARNER"))
    args = parser.parse_args()
    if args.worker:
        worker(int(args.worker[0]), args.updates, args.worker[1])
        return
    from machine import describe

    here = os.path.dirname(os.path.abspath(__file__))
    batches = [int(b) for b in args.batches.split(",")]
    print(f"agent.update, Hopper sizes, hidden 256, policy_delay 2, {args.updates} scanned")
    print("| learner | batch | " + " | ".join(FLAGS) + " |")
    print("|---|---|" + "---|" * len(FLAGS))
    for learner in LEARNERS:
        for batch in batches:
            rates = []
            for flags in FLAGS.values():
                out = subprocess.run(
                    [sys.executable, os.path.join(here, "xla_cpu_flags.py"), "--updates",
                     str(args.updates), "--worker", str(batch), learner],
                    env={**os.environ, "XLA_FLAGS": flags},
                    capture_output=True, text=True, check=True,
                )  # fmt: skip
                rates.append(out.stdout.strip().splitlines()[-1])
            print(f"| {learner} | {batch} | " + " | ".join(rates) + " |", flush=True)
    print("(updates/s, best of 3 calls)")
    print(f"machine: {describe()}")


if __name__ == "__main__":
    main()
