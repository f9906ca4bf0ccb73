"""The notebooks in notebooks/ run top to bottom on a fresh run's artifacts (executed by nbclient)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from .conftest import tiny_params

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"


@pytest.mark.slow
def test_the_latest_take_run_notebook_executes(scratch_project, one_thread, monkeypatch):
    scratch_project.run("take", tiny_params(seed=0))
    monkeypatch.setenv("DEEP_KMEANS_PROJECT", str(scratch_project.path))
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    nb = nbformat.read(NOTEBOOKS / "latest_take_run.ipynb", as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "the stored model gives the run's own clusters for 100.0% of the rows" in text
    images = [o for o in outputs if o.output_type == "display_data" and "image/png" in o.get("data", {})]
    assert len(images) >= 3  # losses, the map of z, the confusion
