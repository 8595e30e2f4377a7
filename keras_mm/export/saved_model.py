"""SavedModels for TF Serving, from a model of any backend."""

import os
import subprocess
import sys
import tempfile
import warnings

import keras

from keras_mm.export.signatures import core_slice_updates
from keras_mm.export.signatures import serving_functions
from keras_mm.models.task import ExportWarning
from keras_mm.utils.files import write_atomically
from keras_mm.utils.tf_utils import require_tensorflow


def version_path(path, overwrite=False):
    """Resolves `path` to a TF Serving version directory `NAME/VERSION`.

    A path whose last part is a number is that version; any other path is
    the model's directory, and the next version (1 if there is none) is
    used. Raises a `ValueError` if the version exists and not `overwrite`.
    """
    path = os.path.abspath(os.fspath(path))
    if not os.path.basename(path).isdigit():
        versions = [
            int(name)
            for name in (os.listdir(path) if os.path.isdir(path) else [])
            if name.isdigit()
        ]
        path = os.path.join(path, str(max(versions, default=0) + 1))
    if os.path.exists(path) and not overwrite:
        raise ValueError(
            f"Version {path} already exists. Export to a new version "
            "number (or pass the model's directory to get the next one), "
            "or pass `overwrite=True` to replace it."
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path} exists and is not a directory.")
    return path


def is_model_file(model):
    """Whether `model` is given as the path of a `.keras` file."""
    return isinstance(model, (str, os.PathLike))


def load(model):
    """`model`, loaded when it is the path of a `.keras` file."""
    return keras.saving.load_model(model) if is_model_file(model) else model


def run_under_tensorflow(model, args):
    """Runs `python -m keras_mm.export.worker ARGS MODEL_FILE` under the
    TensorFlow backend, on `model` when it is the path of a `.keras` file,
    else on `model` saved as one; a `ValueError` there is raised here with
    its message."""
    with tempfile.TemporaryDirectory() as tmp:
        if is_model_file(model):
            model_file = os.path.abspath(os.fspath(model))
        else:
            model_file = os.path.join(tmp, "model.keras")
            model.save(model_file)
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        result = subprocess.run(
            [sys.executable, "-m", "keras_mm.export.worker", *args, model_file],
            env=env,
            capture_output=True,
            text=True,
        )
    # The child's export warnings are the caller's.
    for line in result.stderr.splitlines():
        if line.startswith("ExportWarning: "):
            warnings.warn(line[len("ExportWarning: ") :], ExportWarning)
    if result.returncode:
        lines = result.stderr.strip().splitlines()
        errors = [line for line in lines if line.startswith("ValueError: ")]
        if errors:
            raise ValueError(errors[-1][len("ValueError: ") :])
        raise RuntimeError(
            "Export under the TensorFlow backend failed:\n"
            + "\n".join(lines[-20:])
        )


def _write(model, path, raw_inputs):
    functions = serving_functions(model, raw_inputs=raw_inputs)
    archive = keras.export.ExportArchive()
    archive.track(model)
    if model.preprocessor is not None:
        # It holds lookup tables and runs in the graph, but is not one of
        # the model's layers.
        archive.track(model.preprocessor)
    with core_slice_updates():  # Traced here: no XLA-only ops.
        for name, (function, specs) in functions.items():
            archive.add_endpoint(name, function, input_signature=[specs])
        archive.write_out(path, verbose=False)


def saved_model(model, path, overwrite=False, raw_inputs=True):
    """Exports a keras_mm model as a SavedModel for TF Serving.

    The signature `serving_default` takes raw inputs, named like the
    model's: `images` uint8 pixels `(batch, height, width, channels)` at
    the encoder's size, `text` strings `(batch,)`, `audio` float32
    waveforms `(batch, samples)` at the model's sample rate (padded or
    cropped to its `max_duration`; pad a batch of clips of different
    lengths with zeros). Preprocessing runs in the graph, with core
    TensorFlow ops only. Outputs:

    - classifiers: `probabilities` and `labels` (int32 class, or multi-hot
      for a sigmoid head), `logits` and `labels` for a head without
      activation, `predictions` for regression;
    - captioners: `captions`, strings generated greedily in the graph;
    - speech recognizers: `transcripts`, greedy CTC decoding.

    Models that take images also get `encoded_images`, where images are
    JPEG, PNG, GIF or BMP bytes `(batch,)` (resized when their size
    differs). A classifier built with `allow_missing` gets one more
    signature per set of inputs a request may leave out:
    `without_audio`, `without_images_text`, ...

    The export runs under the TensorFlow backend: from JAX (or PyTorch),
    the model is saved as `.keras` (a `.keras` file is used as it is) and
    rebuilt in a TensorFlow child process. The SavedModel is written
    beside its final place and moved there at the end, so a failed export
    leaves no partial version.

    Args:
        model: a model from `keras_mm.build_classifier`,
            `build_captioner` or `build_speech_recognizer`, or the path
            of such a model's `.keras` file (under JAX or PyTorch, only
            the TensorFlow child process loads it).
        path: str. `savedmodels/NAME/VERSION` (TF Serving's layout), or
            `savedmodels/NAME`, which exports the next version.
        overwrite: bool. Replace an existing version. Defaults to `False`.
        raw_inputs: bool. `False` serves the model's own inputs (token ids,
            padding masks) instead of raw ones; for text encoders whose
            tokenizer is not made of core TensorFlow ops. Defaults to
            `True`.

    Returns:
        str, the absolute path of the written version.

    Example (about half a minute for a small model):

    ```python
    path = keras_mm.export.saved_model(model, "savedmodels/classifier")
    # -> ".../savedmodels/classifier/1"; then, with TensorFlow only:
    served = tf.saved_model.load(path).signatures["serving_default"]
    served(images=pixels, text=tf.constant(["the circles are red"]))
    ```
    """
    require_tensorflow("Export")
    path = version_path(path, overwrite=overwrite)
    if keras.config.backend() != "tensorflow":
        args = ["saved_model", path]
        args += ["--overwrite"] if overwrite else []
        args += [] if raw_inputs else ["--model-inputs"]
        run_under_tensorflow(model, args)
        return path
    model = load(model)
    return write_atomically(
        path, lambda target: _write(model, target, raw_inputs), overwrite
    )
