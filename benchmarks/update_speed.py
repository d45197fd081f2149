"""Updates per second of `agent.update` (batch 256, hidden 256, Hopper sizes by default),
against an equivalent PyTorch DDPG update on the same machine when torch is installed; and
(`--matmul-rate`) how close the update comes to this CPU's float32 matmul rate at each batch.

    python benchmarks/update_speed.py [--batch 256] [--hidden 256] [--obs 11] [--act 3]
                                      [--updates 2000] [--no-torch]
    python benchmarks/update_speed.py --matmul-rate [--batches 256,1024,2048,4096]
                                      [--micro 1024] [--rounds 5]

`--matmul-rate` counts the update's matmul FLOPs from its jaxpr (every `dot_general`, forward
and backward) and divides its FLOP/s by that of a plain `x @ w` of shape batch x hidden x
hidden, timed in the same process in alternating rounds (so machine load hits both alike;
the median over rounds of each round's ratio). `--micro M` adds the same update with its
critic and actor gradients over M-row micro-batches (`ddpg_jax.microbatch`), the proposed
large-batch fix.

The JAX figure is for `agent.update` scanned inside one jit (how the training loop calls it);
a second figure calls the jitted `agent.update` from Python once per update. The PyTorch
update is seed 000's: same networks (embed critic), Adam with weight decay 0.01 on the critic,
soft updates of both targets, on the same batch.
"""

from __future__ import annotations

import argparse
import math
import time

import jax
import jax.numpy as jnp
import numpy as np
from machine import describe as describe_machine

from ddpg_jax import Config, agent
from ddpg_jax.replay import Transition


def random_batch(key, batch: int, obs: int, act: int) -> Transition:
    k = jax.random.split(key, 4)
    return Transition(
        obs=jax.random.normal(k[0], (batch, obs)),
        action=jax.random.uniform(k[1], (batch, act), minval=-1, maxval=1),
        reward=jax.random.normal(k[2], (batch,)),
        next_obs=jax.random.normal(k[3], (batch, obs)),
        terminated=jnp.zeros((batch,)),
    )


def scanned_updates(cfg: Config, batch: Transition, updates: int):
    """`updates` calls of `agent.update` on the same batch, scanned in one jit (as the training
    loop calls it); returns the train state and each update's critic loss."""

    @jax.jit
    def many(ts):
        def body(ts, _):
            ts, metrics = agent.update(cfg, ts, batch)
            return ts, metrics["critic_loss"]

        return jax.lax.scan(body, ts, None, length=updates)

    return many


def bench_jax(cfg: Config, obs: int, act: int, updates: int) -> tuple[float, float]:
    ts = agent.init(cfg, obs, act, jax.random.key(0))
    batch = random_batch(jax.random.key(1), cfg.batch_size, obs, act)
    many = scanned_updates(cfg, batch, updates)
    jax.block_until_ready(many(ts))  # compile
    start = time.perf_counter()
    ts_out, _ = many(ts)
    jax.block_until_ready(ts_out)
    scanned = updates / (time.perf_counter() - start)

    ts_loop = ts
    for _ in range(10):  # compile and warm up
        ts_loop, _ = agent.update(cfg, ts_loop, batch)
    jax.block_until_ready(ts_loop)
    start = time.perf_counter()
    for _ in range(updates):
        ts_loop, _ = agent.update(cfg, ts_loop, batch)
    jax.block_until_ready(ts_loop)
    return scanned, updates / (time.perf_counter() - start)


def bench_torch(cfg: Config, obs: int, act: int, updates: int) -> float:
    import copy

    import torch
    from torch import nn

    class Actor(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(
                nn.Linear(obs, cfg.hidden_dim),
                nn.ReLU(),
                nn.Linear(cfg.hidden_dim, cfg.hidden_dim),
                nn.ReLU(),
                nn.Linear(cfg.hidden_dim, act),
                nn.Tanh(),
            )

        def forward(self, s):
            return self.net(s)

    class Critic(nn.Module):  # seed 000: state embedded, action joins at the second layer
        def __init__(self):
            super().__init__()
            self.l1 = nn.Linear(obs, cfg.hidden_dim)
            self.l2 = nn.Linear(cfg.hidden_dim + act, cfg.hidden_dim)
            self.l3 = nn.Linear(cfg.hidden_dim, 1)

        def forward(self, s, a):
            h = torch.relu(self.l1(s))
            return self.l3(torch.relu(self.l2(torch.cat([h, a], 1))))

    actor, critic = Actor(), Critic()
    actor_t, critic_t = copy.deepcopy(actor), copy.deepcopy(critic)
    actor_opt = torch.optim.Adam(actor.parameters(), lr=cfg.actor_lr)
    critic_opt = torch.optim.Adam(
        critic.parameters(), lr=cfg.critic_lr, weight_decay=cfg.weight_decay
    )
    b = cfg.batch_size
    s, a = torch.randn(b, obs), torch.rand(b, act) * 2 - 1
    r, s2, d = torch.randn(b, 1), torch.randn(b, obs), torch.zeros(b, 1)

    def update():
        with torch.no_grad():
            y = r + cfg.gamma * (1 - d) * critic_t(s2, actor_t(s2))
        critic_loss = ((critic(s, a) - y) ** 2).mean()
        critic_opt.zero_grad()
        critic_loss.backward()
        critic_opt.step()
        actor_loss = -critic(s, actor(s)).mean()
        actor_opt.zero_grad()
        actor_loss.backward()
        actor_opt.step()
        with torch.no_grad():
            for net, target in ((actor, actor_t), (critic, critic_t)):
                for p, tp in zip(net.parameters(), target.parameters(), strict=True):
                    tp.mul_(1 - cfg.tau).add_(p, alpha=cfg.tau)

    for _ in range(20):
        update()
    start = time.perf_counter()
    for _ in range(updates):
        update()
    return updates / (time.perf_counter() - start)


def dot_flops(fn, *args, branches=max) -> int:
    """FLOPs of every `dot_general` in `fn(*args)`'s jaxpr (2 per multiply-add), recursing
    into sub-jaxprs (jit, scan times its length, of a cond's branches the one `branches` picks:
    the costlier by default)."""

    def count(jaxpr) -> int:
        total = 0
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "dot_general":
                lhs, rhs = (v.aval.shape for v in eqn.invars)
                (_, rhs_contract), (_, rhs_batch) = eqn.params["dimension_numbers"]
                kept = [d for i, d in enumerate(rhs) if i not in (*rhs_contract, *rhs_batch)]
                total += 2 * math.prod(lhs) * math.prod(kept)
            for name, value in eqn.params.items():
                subs = value if isinstance(value, tuple | list) else (value,)
                inner = [count(getattr(v, "jaxpr", v)) for v in subs if _is_jaxpr(v)]
                if inner:
                    scale = eqn.params.get("length", 1) if name == "jaxpr" else 1
                    total += scale * (branches(inner) if name == "branches" else sum(inner))
        return total

    return count(jax.make_jaxpr(fn)(*args).jaxpr)


def _is_jaxpr(value) -> bool:
    return isinstance(value, jax.extend.core.Jaxpr | jax.extend.core.ClosedJaxpr)


def matmul_rate_table(args) -> None:
    """Print, per batch, the update's matmul FLOP/s as a % of a plain x @ w's."""
    batches = [int(b) for b in args.batches.split(",")]
    print(
        f"agent.update vs x @ w [batch x {args.hidden}] @ [{args.hidden} x {args.hidden}], "
        f"obs {args.obs}, act {args.act}, medians of {args.rounds} alternating rounds"
    )
    micro_col = f" | % (micro {args.micro}) " if args.micro else " "
    print(f"| batch | matmul GFLOP/s | update GFLOP/s | % of matmul rate{micro_col}|")
    print("|---|---|---|---|" + ("---|" if args.micro else ""))
    for b in batches:
        print(_rate_row(args, b), flush=True)


def _rate_row(args, b: int) -> str:
    """One table row: batch b's matmul and update rates."""
    cfg = Config(batch_size=b, hidden_dim=args.hidden, buffer_size=max(b, 1000))
    ts = agent.init(cfg, args.obs, args.act, jax.random.key(0))
    batch = random_batch(jax.random.key(1), b, args.obs, args.act)
    reps = max(2, args.work // b)  # similar seconds per timed call at every batch
    w = jax.random.normal(jax.random.key(2), (args.hidden, args.hidden)) / args.hidden**0.5
    x = jax.random.normal(jax.random.key(3), (b, args.hidden))
    mm_reps = 10 * reps

    @jax.jit
    def matmuls(x):  # the scale keeps values finite; it fuses into the dot's output
        return jax.lax.fori_loop(0, mm_reps, lambda _, x: (x @ w) * 1.0001, x)

    updates = {"plain": lambda ts, cfg=cfg, batch=batch: agent.update(cfg, ts, batch)[0]}
    if args.micro:
        micro_cfg = cfg.replace(micro_batch=args.micro)
        updates["micro"] = lambda ts, cfg=micro_cfg, batch=batch: agent.update(cfg, ts, batch)[0]
    scanned = {name: _scanned(fn, reps) for name, fn in updates.items()}
    flops = {name: dot_flops(fn, ts) for name, fn in updates.items()}
    seconds = {name: [] for name in ["matmul", *updates]}
    jax.block_until_ready(matmuls(x))
    for fn in scanned.values():
        jax.block_until_ready(fn(ts))
    for _ in range(args.rounds):
        seconds["matmul"].append(_time(matmuls, x) / mm_reps)
        for name, fn in scanned.items():
            seconds[name].append(_time(fn, ts) / reps)
    # Each round's update time is paired with the matmul time measured just before it, so the
    # ratio sees the same machine load; the table gives the median over rounds.
    mm = np.asarray(seconds["matmul"])
    mm_flops = 2 * b * args.hidden**2
    ratio = {n: np.median(mm_flops / mm / (flops[n] / np.asarray(seconds[n]))) for n in updates}
    ratio = {n: 1 / r for n, r in ratio.items()}
    row = f"| {b} | {mm_flops / np.median(mm) / 1e9:.1f} | "
    row += f"{flops['plain'] / np.median(seconds['plain']) / 1e9:.1f} | "
    row += f"{100 * ratio['plain']:.0f}% |"
    if args.micro:
        row += f" {100 * ratio['micro']:.0f}% |"
    return row


def _scanned(update, reps: int):
    @jax.jit
    def run(ts):
        return jax.lax.scan(lambda t, _: (update(t), None), ts, None, length=reps)[0]

    return run


def _time(fn, arg) -> float:
    start = time.perf_counter()
    jax.block_until_ready(fn(arg))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--obs", type=int, default=11, help="observation size (Hopper: 11)")
    parser.add_argument("--act", type=int, default=3, help="action size (Hopper: 3)")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument(
        "--matmul-rate", action="store_true", help="the update's %% of the x @ w rate per batch"
    )
    parser.add_argument("--batches", default="256,1024,2048,4096")
    parser.add_argument("--micro", type=int, default=0, help="also micro-batched, M rows")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--work", type=int, default=40960, help="rows per timed call")
    args = parser.parse_args()
    if args.matmul_rate:
        print(f"machine: {describe_machine()}")
        matmul_rate_table(args)
        return
    cfg = Config(batch_size=args.batch, hidden_dim=args.hidden, buffer_size=max(args.batch, 1000))
    print(f"machine: {describe_machine()}")
    print(
        f"agent.update, batch {args.batch}, hidden {args.hidden}, obs {args.obs}, "
        f"act {args.act}, {args.updates} updates"
    )
    scanned, looped = bench_jax(cfg, args.obs, args.act, args.updates)
    print("| implementation | updates/s |\n|---|---|")
    print(f"| ddpg-jax, scanned in one jit (as in training) | {scanned:,.0f} |")
    print(f"| ddpg-jax, one jitted call per update | {looped:,.0f} |")
    if args.no_torch:
        return
    try:
        import torch
    except ImportError:
        print("| PyTorch | not installed (pip install torch) |")
        return
    torch_rate = bench_torch(cfg, args.obs, args.act, args.updates)
    print(
        f"| PyTorch {torch.__version__} ({torch.get_num_threads()} threads) | {torch_rate:,.0f} |"
    )
    print(f"ratio ddpg-jax (scanned) / PyTorch: {scanned / torch_rate:.2f}x")


if __name__ == "__main__":
    main()
