"""Every notebook runs top to bottom, in its small mode."""

import glob
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from tests.packaging_test import install_cell

NOTEBOOKS = sorted(
    glob.glob(
        os.path.join(os.path.dirname(__file__), "..", "notebooks", "*.ipynb")
    )
)
# Each notebook runs once: under JAX, their default backend, except the
# export notebook, whose exports from JAX each start a TensorFlow child
# process (which the export tests cover on both backends): under
# TensorFlow, as its backend cell allows.
PARAMS = [
    pytest.param(
        path,
        marks=pytest.mark.tf_only
        if "export_and_serve" in path
        else pytest.mark.one_backend,
        id=os.path.basename(path),
    )
    for path in NOTEBOOKS
]


@pytest.mark.slow
@pytest.mark.parametrize("path", PARAMS)
def test_notebook_runs(path, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_MM_SMALL", "1")
    # The kernel's own inline backend, as users have it, so figures that
    # cells return are drawn as PNG outputs.
    monkeypatch.delenv("MPLBACKEND", raising=False)
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
    assert "Reloaded model agrees: True" in text
    if "multi_device" not in path:  # Which lists its simulated devices.
        assert "| devices: cpu:0" in text  # The backend and accelerator.
    images = sum(
        "image/png" in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    if "captioning_quickstart" in path:
        # Scenes, training curves, captioned test images, attention.
        assert images == 4
        assert "Held-out BLEU-4" in text
        assert "val_bleu4" in text  # CaptionMetrics in the progress bar.
        assert "(batch, height, width, 3)" in text  # The input error.
    if "speech_recognition" in path:
        # Waveform, training curves, CTC alignment.
        assert images == 3
        assert "Held-out CER" in text
        assert "Attention: held-out CER" in text
        assert "Spoken against written, unseen voices: accuracy" in text
        assert "characters outside the vocabulary" in text
        assert "wrap it in a list" in text
    if "driving" in path:
        # Scenes, training curves, the scene and its sound's attention,
        # the narration's attention over the scene.
        assert images == 4
        assert "Held-out accuracy" in text
        assert "siren approaching" in text
        assert "Held-out narrations" in text
    if "medical" in path:
        # Scans, training curves, the generated report's attention.
        assert images == 3
        assert "Held-out macro-F1" in text
        assert "Held-out BLEU-4" in text
        assert "report: " in text  # The real retina image.
    if "spoken_sentiment" in path:
        # A lively and a flat clip, training curves.
        assert images == 3
        assert "Held-out accuracy, unheard voices" in text
        assert "Held-out accuracy from the waveform alone" in text
    if "fusion_classifier" in path:
        assert "Held-out accuracy" in text
        assert "UnfreezeEncoders: learning-rate multiplier" in text
        assert "'sparse_categorical_accuracy'" in text
    if "multi_device" in path:
        # Losses and predictions against one device's, a batch the
        # devices cannot split, and weights split over a 2 x 2 mesh.
        assert images == 1
        assert "Weights on 4 devices" in text
        assert "(13, 3)" in text
        assert "each batch must hold a multiple of 4 rows" in text
        assert "Each device holds 50% of the weights" in text
        differences = re.findall(r"largest difference (\S+)", text)
        assert len(differences) == 6
        assert all(float(value) < 1e-4 for value in differences)
    if "export_and_serve" in path:
        assert "DT_UINT8" in text  # saved_model_cli shows raw pixels.
        assert "encoded_images: largest difference" in text
        assert "must be uint8" in text  # The bad request's message.
        assert "saved_model: " in text  # The export command.
        assert "float32 labels agree with Keras: True" in text
        assert "tflite: " in text


@pytest.mark.backend_independent
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_starts_by_installing_keras_mm(path):
    # The install cell that `tests/packaging_test.py` runs in a fresh venv
    # with the wheel beside it, in every notebook's first code cell.
    notebook = nbformat.read(path, as_version=4)
    first = next(c for c in notebook.cells if c.cell_type == "code")
    assert install_cell() in first.source


def uses_espeak(path):
    with open(path) as file:
        return "espeak-ng" in file.read()


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "path", [p for p in NOTEBOOKS if uses_espeak(p)], ids=os.path.basename
)
def test_missing_espeak_fails_loudly(path, monkeypatch):
    # The install cell tries to install espeak-ng; where that fails too, it
    # stops the notebook with the install line rather than failing later,
    # deep in the data.
    notebook = nbformat.read(path, as_version=4)
    (cell,) = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and "shutil.which" in c.source
    ]
    tried = []
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.setattr(
        "subprocess.run", lambda command, **kwargs: tried.append(command)
    )
    with pytest.raises(RuntimeError, match=r"`apt-get install espeak-ng`"):
        exec(cell.source, {})  # noqa: S102
    assert tried and tried[0][:2] == ["apt-get", "install"]
