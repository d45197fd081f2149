"""The notebooks run top to bottom: results (seconds: it reads the committed run records) in
the default suite, quickstart (minutes: it trains) marked slow. Both are committed with their
outputs (readable without running them); fast tests check that they are there, and that the
results notebook's tables, run or as committed, equal the committed tables of RESULTS.md and
README.md."""

import json
import os
import pathlib
import re

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _execute(name: str, cwd) -> list[dict]:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(os.path.join(ROOT, "notebooks", name), as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return [out for cell in notebook.cells for out in cell.get("outputs", [])]


def _cells_by_source(cells: list[dict]) -> dict[str, dict]:
    """The quickstart's code cells that must show something, found by what they call."""
    marks = {"table": "format_table(", "curves": "plot.main(", "frame": "plt.imshow("}
    found = {}
    for cell in cells:
        source = "".join(cell.get("source", ""))
        for name, mark in marks.items():
            if cell.get("cell_type") == "code" and mark in source:
                found[name] = cell
    assert sorted(found) == sorted(marks), f"quickstart cells not found: {found.keys()}"
    return found


def _kinds(cell: dict) -> set[str]:
    return {kind for out in cell.get("outputs", []) for kind in out.get("data", {})}


def _text(cell: dict) -> str:
    return "".join("".join(out.get("text", "")) for out in cell.get("outputs", []))


def _check_quickstart_outputs(cells: list[dict], frame_expected: bool) -> None:
    found = _cells_by_source(cells)
    assert "InvertedPendulum-v5, checkpoint step" in _text(found["table"])
    assert "image/png" in _kinds(found["curves"]), "the learning curves are not shown"
    if frame_expected:
        assert "image/png" in _kinds(found["frame"]), "the frame of the policy is not shown"
    else:
        assert _text(found["frame"]).startswith("no renderer:")


def test_committed_quickstart_shows_its_outputs():
    path = pathlib.Path(ROOT, "notebooks", "quickstart.ipynb")
    assert path.stat().st_size < 300_000, "keep the committed outputs small"
    _check_quickstart_outputs(json.loads(path.read_text())["cells"], frame_expected=True)


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path):
    from ddpg_jax import video

    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(os.path.join(ROOT, "notebooks", "quickstart.ipynb"), as_version=4)
    nbclient.NotebookClient(
        notebook,
        timeout=1800,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    renderer = any(video.probe_renderer(gl) is None for gl in video.RENDERERS)
    _check_quickstart_outputs(notebook.cells, frame_expected=renderer)


BLOCK = re.compile(r"<!-- report:([a-z0-9-]+) -->\n(.*?)<!-- /report:\1 -->", re.DOTALL)


def _committed_tables() -> dict[str, str]:
    """{name: table} of the generated blocks of RESULTS.md and README.md."""
    tables = {}
    for name in ("RESULTS.md", "README.md"):
        text = pathlib.Path(ROOT, name).read_text()
        tables.update({m.group(1): m.group(2).strip() for m in BLOCK.finditer(text)})
    return tables


def _shown_tables(outputs: list[dict]) -> dict[str, str]:
    """{name: table} of the results notebook's outputs tagged with a `report_table` name."""
    return {
        out["metadata"]["report_table"]: "".join(out["data"]["text/markdown"]).strip()
        for out in outputs
        if "report_table" in out.get("metadata", {})
    }


def _check_results_outputs(outputs: list[dict]) -> None:
    committed = _committed_tables()
    assert committed, "RESULTS.md and README.md should hold <!-- report:NAME --> blocks"
    shown = _shown_tables(outputs)
    assert sorted(shown) == sorted(committed), "the notebook shows other tables than the docs"
    for name, table in committed.items():
        assert shown[name] == table, f"table {name}: the notebook and the docs differ"
    figures = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(figures) == 1, "the README's figure is not shown"


def test_committed_results_notebook_shows_the_committed_tables():
    path = pathlib.Path(ROOT, "notebooks", "results.ipynb")
    assert path.stat().st_size < 500_000, "keep the committed outputs small"
    cells = json.loads(path.read_text())["cells"]
    _check_results_outputs([out for cell in cells for out in cell.get("outputs", [])])


def test_results_notebook_rebuilds_the_committed_tables(tmp_path):
    _check_results_outputs(_execute("results.ipynb", tmp_path))
