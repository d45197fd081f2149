"""The notebooks run top to bottom: results (seconds: it reads the committed run records) in
the default suite, quickstart (minutes: it trains) marked slow. The quickstart is committed
with its outputs (readable without running it); a fast test checks that they are there."""

import json
import os
import pathlib

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


def test_results_notebook_rebuilds_tables_and_figures(tmp_path):
    records = pathlib.Path(ROOT, "results", "runs")
    runs = [p for p in records.iterdir() if (p / "config.yaml").is_file()]
    studies = [p for p in records.iterdir() if any(p.glob("*/config.yaml"))]
    assert runs and studies, f"{records} should hold the records behind RESULTS.md"
    outputs = _execute("results.ipynb", tmp_path)
    tables = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    figures = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(tables) == 1 + len(studies) and len(figures) == len(runs) + len(studies)
    assert len(tables[0].splitlines()) == 2 + len(runs)  # header, rule, one row per run
    assert "not evaluated" not in tables[0], "evaluate every run before exporting its records"
