"""The notebooks run top to bottom: results (seconds: it reads the committed run records) in
the default suite, quickstart (minutes: it trains) marked slow."""

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


@pytest.mark.slow
def test_quickstart_notebook_executes(tmp_path):
    outputs = "".join(out.get("text", "") for out in _execute("quickstart.ipynb", tmp_path))
    assert "Gymnasium" in outputs or "gym" in outputs.lower()


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
