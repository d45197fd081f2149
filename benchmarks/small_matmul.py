"""float32 matmul speed at the update's shapes against large ones, in this process:
256 x 256 x 256 alone, two of them (twin critics) separately, batched and vmapped, and n x n x n
for n = 512, 1024, 2048.

    python benchmarks/small_matmul.py
"""

import time

import jax
import jax.numpy as jnp
import numpy as np


def bench(f, *a, n=300):
    f(*a)
    jax.block_until_ready(f(*a))
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            r = f(*a)
        jax.block_until_ready(r)
        ts.append((time.perf_counter() - t) / n * 1e6)
    return np.median(ts)


B, H = 256, 256
k = jax.random.key(0)
x = jax.random.normal(k, (B, H))
w = jax.random.normal(k, (H, H))
x2 = jax.random.normal(k, (2, B, H))
w2 = jax.random.normal(k, (2, H, H))
one = jax.jit(lambda x, w: x @ w)
two = jax.jit(lambda x, w: (x[0] @ w[0], x[1] @ w[1]))
batched = jax.jit(lambda x, w: jnp.einsum("nbh,nhk->nbk", x, w))
vm = jax.jit(jax.vmap(lambda x, w: x @ w))
print(
    "one",
    bench(one, x, w),
    "us; two separate",
    bench(two, x2, w2),
    "; batched einsum",
    bench(batched, x2, w2),
    "; vmap",
    bench(vm, x2, w2),
)
for n in (512, 1024, 2048):
    a = jax.random.normal(k, (n, n))
    t = bench(one, a, a, n=20)
    print(n, t, "us", 2 * n**3 / t / 1e3, "GFLOP/s")
print("256 GFLOP/s", 2 * 256**3 / bench(one, x, w) / 1e3)
