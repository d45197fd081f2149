"""Shared pytest setup: the persistent JAX compilation cache, so a warm run skips XLA compiles.

Cache dir: $DDPG_JAX_CACHE_DIR, default ~/.cache/ddpg_jax/jax_cache. Set it to an empty
folder (or delete the default one) to measure a cold run.
"""

import os
import sys

import jax
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run from anywhere without `pip install -e .`
    sys.path.insert(0, ROOT)

from ddpg_jax.cli import cache_dir  # noqa: E402 - after the sys.path fix above
from ddpg_jax.fidelity_mjx import precision  # noqa: E402

CACHE_DIR = cache_dir()
os.makedirs(CACHE_DIR, exist_ok=True)
jax.config.update("jax_compilation_cache_dir", CACHE_DIR)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _float64():
    return precision(True)


@pytest.fixture
def float64():
    """float64 for one test (restored afterwards, so other tests stay float32)."""
    with _float64():
        yield


@pytest.fixture(scope="module")
def float64_module():
    """float64 for a whole module: `pytestmark = pytest.mark.usefixtures("float64_module")`."""
    with _float64():
        yield
