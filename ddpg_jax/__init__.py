"""ddpg-jax: DDPG as pure-functional JAX over MJX-vectorised environments."""

import pathlib as _pathlib

# Installed, the top-level `envs/` folder is this package's `envs` subpackage (pyproject's
# package-dir). Imported from a checkout, it sits beside this folder instead: let the
# subpackage be found there too, so `ddpg_jax.envs` names the same code either way.
_here = _pathlib.Path(__file__).resolve().parent
if not (_here / "envs").is_dir() and (_here.parent / "envs" / "__init__.py").is_file():
    __path__.append(str(_here.parent))

from ddpg_jax import agent, noise, normalizer, replay  # noqa: E402
from ddpg_jax.config import Config, ConfigError  # noqa: E402

__all__ = ["Config", "ConfigError", "agent", "noise", "normalizer", "replay"]
