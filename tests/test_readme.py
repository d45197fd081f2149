"""Every ```python block of README.md and docs/library.md runs as written, each in a fresh
interpreter.

A block that loads a trained run gets a tiny one: a Hopper checkpoint of an untrained policy,
saved as train saves it, put where the README's example path points (the test's working dir).
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import textwrap

import jax
import pytest

from ddpg_jax import Config, agent, run_dir
from ddpg_jax.checkpoint import CheckpointStore, Policy

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^( *)```python\n(.*?)^\1```", re.DOTALL | re.MULTILINE)
RUN_PATH = re.compile(r"runs/[a-z_0-9]+-\d{8}-\d{6}")  # an example run dir in a snippet


def python_blocks(text: str) -> list[str]:
    """The ```python blocks of a markdown text, dedented (a block may sit in a list item)."""
    return [textwrap.dedent(m.group(2)) for m in BLOCK.finditer(text)]


# The library page's snippets are the README's, continued: they run the same way.
BLOCKS = [
    block
    for page in ("README.md", "docs/library.md")
    for block in python_blocks((ROOT / page).read_text())
]


def test_blocks_are_found():
    assert len(BLOCKS) >= 3  # the README's library snippet, the library page's two
    assert python_blocks("text\n  ```python\n  x = 1\n  ```\n") == ["x = 1\n"]


def make_hopper_run(path: pathlib.Path) -> None:
    cfg = Config(hidden_dim=16, num_seeds=1)
    ts = agent.init(cfg, 11, 3, jax.random.key(0), [-1.0] * 3, [1.0] * 3)
    ts = jax.tree.map(lambda x: x[None], ts)  # a leading [num_seeds] axis, as train saves
    rd = run_dir.create(path, "hopper")
    run_dir.save_config(rd, cfg, {"env": "hopper", "run": {"episode_length": 1000}})
    with CheckpointStore(rd) as store:
        store.save(
            1000, Policy.from_train_state(ts), None, eval_returns=[1.0], meta={"env": "hopper"}
        )


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, tmp_path):
    code = BLOCKS[index]
    for path in sorted(set(RUN_PATH.findall(code))):
        make_hopper_run(tmp_path / path)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"README block {index} failed:\n{code}\n{proc.stderr[-3000:]}"
