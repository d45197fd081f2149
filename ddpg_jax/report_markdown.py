"""The generated tables of RESULTS.md and README.md: each rebuilt table written between its
`<!-- report:NAME -->` and `<!-- /report:NAME -->` markers, or checked against them."""

from __future__ import annotations

import pathlib
import re

from ddpg_jax.cli import UsageError
from ddpg_jax.report_spec import ROOT, TABLES_SPEC, render_tables

MARKDOWN_FILES = (ROOT / "RESULTS.md", ROOT / "README.md")
_BLOCK = re.compile(r"(<!-- report:([a-z0-9-]+) -->\n)(.*?)(<!-- /report:\2 -->)", re.DOTALL)


def fill_blocks(text: str, tables: dict[str, str]) -> str:
    """`text` with each marked block's body replaced by the table of its name."""

    def body(m: re.Match) -> str:
        name = m.group(2)
        if name not in tables:
            raise UsageError(f"<!-- report:{name} --> names no table of {TABLES_SPEC.name}")
        return f"{m.group(1)}{tables[name]}\n{m.group(4)}"

    return _BLOCK.sub(body, text)


def refresh_markdown(
    files: tuple[pathlib.Path, ...] = MARKDOWN_FILES, check: bool = False
) -> list[pathlib.Path]:
    """Rebuild the marked tables of `files`; returns the files whose tables changed (and, unless
    `check`, rewrites them). Every table of the spec must be placed in one of the files."""
    tables = render_tables()
    texts = {path: path.read_text() for path in files}
    placed = {m.group(2) for text in texts.values() for m in _BLOCK.finditer(text)}
    unplaced = sorted(set(tables) - placed)
    if unplaced:
        raise UsageError(f"tables with no <!-- report:NAME --> block: {', '.join(unplaced)}")
    changed = []
    for path, text in texts.items():
        new = fill_blocks(text, tables)
        if new != text:
            changed.append(path)
            if not check:
                path.write_text(new)
    return changed
