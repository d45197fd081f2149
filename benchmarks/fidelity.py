"""MJX-vs-Gymnasium fidelity of a checkpoint's policy: chaos baseline, float32/float64 MJX,
per-step divergence, solver/contact options. Prints markdown; writes a JSON record.

Usage:
  python benchmarks/fidelity.py RUN_DIR [--checkpoint latest] [--seed-index 0]
      [--episodes 10] [--episode-seed 0] [--max-episode-steps N] [--precisions float32 float64]
      [--no-local] [--out FILE.json]

Episodes: `reset(seed=episode_seed + k)`, k < episodes, as `ddpg_jax.evaluate` does. The
record (`--out`, default fidelity-<env>-<step>.json in the current folder; never written into
the run dir) holds the command, the machine (CPU model, AVX-512 or not, load average), the
date and everything `ddpg_jax.fidelity.measure` returns. Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# envs first: it imports mujoco.mjx quietly (its warp notice to stderr) before anything else does.
from ddpg_jax import envs, fidelity, machine  # noqa: E402, F401
from ddpg_jax.checkpoint import json_safe  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--checkpoint", default="latest", help="latest, best or an env step")
    p.add_argument("--seed-index", type=int, default=0)
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--episode-seed", type=int, default=0)
    p.add_argument("--max-episode-steps", type=int, default=None)
    p.add_argument(
        "--precisions", nargs="+", default=["float32", "float64"], choices=["float32", "float64"]
    )
    p.add_argument("--perturbations", nargs="+", type=float, default=list(fidelity.PERTURBATIONS))
    p.add_argument("--no-local", action="store_true", help="skip the one-step errors along C")
    p.add_argument("--out", default=None, help="JSON record path")
    return p.parse_args(argv)


def option_table(rows: list[dict]) -> str:
    lines = ["| setting | C model | MJX | same | note |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['c']} | {r['mjx']} | {r['same']} | {r['note']} |")
    return "\n".join(lines)


def divergence_lines(record: dict) -> list[str]:
    out = []
    for name, divs in record["divergence"].items():
        for i, d in enumerate(divs):
            text = (
                f"{name} episode {i}: first > {fidelity.DIVERGENCE:g} at step {d['step']}, "
                f"> {fidelity.MACRO_DIVERGENCE:g} at {d['macro_step']}; lengths C {d['c_length']}"
                f" MJX {d['mjx_length']}; action diff at step 0 {d['action0_diff']:.1e}"
            )
            if d["step"] is not None:
                text += (
                    f"; there: error {d['error']:.1e} (before {d['error_before']:.1e}), "
                    f"contacts C {d['c_ncon']} MJX {d['mjx_ncon']}, C solver iterations "
                    f"{d['c_niter']}, termination margin {d['margin']:.3f}"
                )
            out.append(text)
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from ddpg_jax import policy as policy_lib
    from ddpg_jax.cli import enable_compilation_cache

    enable_compilation_cache()
    pi = policy_lib.load_seeds(args.run_dir, args.checkpoint)
    limit = args.max_episode_steps or int(pi.run.get("episode_length") or 1000)
    pi = pi.select(args.seed_index)
    seeds = [args.episode_seed + k for k in range(args.episodes)]
    started = time.time()

    def say(text: str) -> None:
        print(f"[{time.time() - started:7.1f} s] {text}", file=sys.stderr, flush=True)

    record = fidelity.measure(
        pi,
        seeds,
        limit,
        perturbations=tuple(args.perturbations),
        precisions=tuple(args.precisions),
        local=not args.no_local,
        progress=say,
    )
    record.update(
        run_dir=args.run_dir,
        checkpoint=args.checkpoint,
        command="python benchmarks/fidelity.py "
        + shlex.join(sys.argv[1:] if argv is None else argv),
        machine=machine.describe(),
        wall_seconds=time.time() - started,
    )
    out = args.out or f"fidelity-{pi.env}-{pi.step}.json"
    with open(out, "w") as f:
        json.dump(json_safe(record), f, indent=1)
    print(fidelity.MARKDOWN_HEADER)
    print(fidelity.summary_row(record))
    print()
    print(option_table(record["options"]))
    print()
    print("\n".join(divergence_lines(record)))
    for name, e in record["local"].items():
        print(
            f"{name} one-step error along C ({e['states']} states): max {e['max']:.1e} at "
            f"{e['worst']}, median {e['median']:.1e}, > 1e-9 {100 * e['above_1e-9']:.1f}%, "
            f"> {fidelity.DIVERGENCE:g} {100 * e['above_divergence']:.1f}%"
        )
    m = record["machine"]
    print(f"\n{m['cpu']} (avx512f: {m['avx512f']}), load {m['load_average']}, {m['date']}")
    print(f"record: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
