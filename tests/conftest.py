"""Shared pytest setup: the persistent JAX compilation cache, so a warm run skips XLA compiles.

Cache dir: $DDPG_JAX_CACHE_DIR, default ~/.cache/ddpg_jax/jax_cache. Set it to an empty
folder (or delete the default one) to measure a cold run.
"""

import os
import sys

import jax

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from anywhere without `pip install -e .`
    sys.path.insert(0, ROOT)

CACHE_DIR = os.environ.get(
    "DDPG_JAX_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "ddpg_jax", "jax_cache")
)
os.makedirs(CACHE_DIR, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
