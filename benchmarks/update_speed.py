"""Updates per second of `agent.update` (batch 256, hidden 256, Hopper sizes by default),
against an equivalent PyTorch DDPG update on the same machine when torch is installed.

    python benchmarks/update_speed.py [--batch 256] [--hidden 256] [--obs 11] [--act 3]
                                      [--updates 2000] [--no-torch]

The JAX figure is for `agent.update` scanned inside one jit (how the training loop calls it);
a second figure calls the jitted `agent.update` from Python once per update. The PyTorch
update is seed 000's: same networks (embed critic), Adam with weight decay 0.01 on the critic,
soft updates of both targets, on the same batch.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
from machine import describe as describe_machine

from ddpg_jax import Config, agent


def random_batch(key, batch: int, obs: int, act: int) -> agent.Batch:
    k = jax.random.split(key, 4)
    return agent.Batch(
        obs=jax.random.normal(k[0], (batch, obs)),
        action=jax.random.uniform(k[1], (batch, act), minval=-1, maxval=1),
        reward=jax.random.normal(k[2], (batch,)),
        next_obs=jax.random.normal(k[3], (batch, obs)),
        terminated=jnp.zeros((batch,)),
    )


def bench_jax(cfg: Config, obs: int, act: int, updates: int) -> tuple[float, float]:
    ts = agent.init(cfg, obs, act, jax.random.key(0))
    batch = random_batch(jax.random.key(1), cfg.batch_size, obs, act)

    @jax.jit
    def many(ts):
        def body(ts, _):
            ts, metrics = agent.update(cfg, ts, batch)
            return ts, metrics["critic_loss"]

        return jax.lax.scan(body, ts, None, length=updates)

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--obs", type=int, default=11, help="observation size (Hopper: 11)")
    parser.add_argument("--act", type=int, default=3, help="action size (Hopper: 3)")
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args()
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
