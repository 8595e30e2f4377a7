"""Every notebook runs top to bottom, in its small mode."""

import glob
import os

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted(
    glob.glob(
        os.path.join(os.path.dirname(__file__), "..", "notebooks", "*.ipynb")
    )
)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_MM_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    notebook = nbformat.read(path, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not cell.outputs, "commit notebooks with outputs cleared"
    client = NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    text = "".join(
        output.get("text", "")
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    assert "Held-out accuracy" in text
    assert "Reloaded model agrees: True" in text
    if "fusion_classifier" in path:
        assert "UnfreezeEncoders: learning-rate multiplier" in text
        assert "'sparse_categorical_accuracy'" in text
