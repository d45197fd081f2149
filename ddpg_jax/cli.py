"""What every command line of the project shares: one-line errors with exit status 2, an
argparse parser that reports bad flags the same way, and messages on stderr (stdout stays for
machine-readable output such as `--json`)."""

from __future__ import annotations

import argparse
import os
import sys
import typing
from collections.abc import Callable

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user; printed as one line, exit status 2."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one `UsageError` line, without the usage dump."""

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(f"{message} (see --help)")


def parse_bool(text: str) -> bool:
    """A true/false flag value (also 1/0, yes/no, on/off)."""
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def say(message: str) -> None:
    """A message for the person at the terminal (stderr, flushed)."""
    print(message, file=sys.stderr, flush=True)


def run(main: Callable[[list[str] | None], int], argv: list[str] | None) -> int:
    """`main(argv)`, with a `UsageError` turned into `error: ...` and exit status 2. A reader
    that closes stdout early (`| head`) ends the output quietly, as `cat` would."""
    try:
        return main(argv)
    except UsageError as e:
        say(f"error: {e}")
        return EXIT_USAGE
    except BrokenPipeError:
        # Python would report the pipe again while flushing stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


CACHE_ENV = "DDPG_JAX_CACHE_DIR"
"""The one environment variable for the persistent XLA compilation cache's folder."""


def cache_dir() -> str:
    """`$DDPG_JAX_CACHE_DIR`, default `~/.cache/ddpg_jax/jax_cache`."""
    default = os.path.join(os.path.expanduser("~"), ".cache", "ddpg_jax", "jax_cache")
    return os.environ.get(CACHE_ENV) or default


def enable_compilation_cache(min_compile_seconds: float = 1.0) -> None:
    """Persistent XLA cache in `cache_dir()`, so a second run of the same shapes skips most
    of the compile. A cache dir already set in JAX's config (by a caller) is kept."""
    import jax

    if jax.config.jax_compilation_cache_dir:
        return
    jax.config.update("jax_compilation_cache_dir", cache_dir())
    jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
