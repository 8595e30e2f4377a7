"""SavedModels for TF Serving, from a model of any backend."""

import os
import re
import sys
import tempfile
import warnings

import keras

from keras_mm.export.child_process import run_in_worker
from keras_mm.export.signatures import check_task
from keras_mm.export.signatures import core_slice_updates
from keras_mm.export.signatures import serving_functions
from keras_mm.models.task import ExportWarning
from keras_mm.utils.files import check_keras_file
from keras_mm.utils.files import load_keras_file
from keras_mm.utils.files import write_atomically
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.validation import check_booleans

_VERSION = re.compile(r"[0-9]+")
# What reads as a number but is no version: "-1", "1.5", "+2", "1e3".
_NUMBER = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def version_path(path, overwrite=False):
    """Resolves `path` to a TF Serving version directory `NAME/VERSION`.

    A path whose last part is a number is that version; any other path is
    the model's directory, and the next version (1 if there is none) is
    used. Raises a `ValueError` if the version exists and not `overwrite`,
    or the last part reads as a number that is no version ("-1", "1.5",
    "007").
    """
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(
            "`path` must be a directory path (str): `NAME/VERSION` or "
            f"`NAME`. Received: path={path!r}"
        )
    path = os.path.abspath(os.fspath(path))
    name = os.path.basename(path)
    if _VERSION.fullmatch(name) and str(int(name)) != name:
        raise ValueError(
            f"Version directory {name!r} would be served as version "
            f"{int(name)}: write it as {str(int(name))!r}. Received: "
            f"path={path!r}"
        )
    if _NUMBER.fullmatch(name) and not _VERSION.fullmatch(name):
        raise ValueError(
            f"{name!r} is not a TF Serving version: versions are whole "
            "numbers (1, 2, ...). Pass `NAME/VERSION`, or `NAME` to export "
            f"the next version. Received: path={path!r}"
        )
    if _VERSION.fullmatch(name) and int(name) >= 2**63:
        raise ValueError(
            f"Version {name} is too large: TF Serving versions are 64-bit "
            f"integers (below 2**63). Received: path={path!r}"
        )
    if not _VERSION.fullmatch(name):
        versions = [
            int(entry)
            for entry in (os.listdir(path) if os.path.isdir(path) else [])
            if _VERSION.fullmatch(entry)
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


def check_model(model):
    """Raises a `ValueError` unless `model` is a keras_mm task or the path
    of a readable `.keras` file (see `check_keras_file`)."""
    if is_model_file(model):
        check_keras_file(model)
    else:
        check_task(model)


def load(model):
    """`model`, loaded when it is the path of a `.keras` file (a
    `ValueError` names a missing, empty or corrupt file)."""
    return load_keras_file(model) if is_model_file(model) else model


def run_under_tensorflow(model, args):
    """Runs `python -m keras_mm.export.worker ARGS MODEL_FILE` under the
    TensorFlow backend, on `model` when it is the path of a `.keras` file,
    else on `model` saved as one, in a worker that stays for the next
    export (TensorFlow and keras_mm take seconds to import). The child's
    exception is raised here as the same builtin type with the same
    message (see `keras_mm.export.child_process`), and its export warnings
    are warned here."""
    with tempfile.TemporaryDirectory() as tmp:
        if is_model_file(model):
            model_file = os.path.abspath(os.fspath(model))
        else:
            model_file = os.path.join(tmp, "model.keras")
            model.save(model_file)
        env = dict(os.environ, KERAS_BACKEND="tensorflow")
        return run_in_worker(
            [sys.executable, "-m", "keras_mm.export.worker"],
            [*args, model_file],
            "Export under the TensorFlow backend",
            env=env,
            # The child's export warnings are the caller's, even when it
            # failed after them.
            on_result=lambda result: _warn(result.stderr),
        )


def _warn(stderr):
    for line in stderr.splitlines():
        if line.startswith("ExportWarning: "):
            warnings.warn(line[len("ExportWarning: ") :], ExportWarning)


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
    rebuilt in a TensorFlow child process; its errors are raised here as
    they were raised there (the same builtin type and message). The
    SavedModel is written in a hidden `.staging-*` directory beside its
    final place and moved there at the end, so a failed or killed export
    leaves no partial version (and the next export removes what a killed
    one left). With `overwrite=True`, the old version is swapped for the
    complete new one in one atomic rename where the system allows it
    (Linux), so TF Serving never finds the version missing.

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

    Raises:
        ValueError: for a model that is not a keras_mm task, a missing,
            empty or corrupt `.keras` file, an existing version without
            `overwrite`, or a bad `path`.
        OSError: (`PermissionError`, `NotADirectoryError`, ...) when the
            version cannot be written there.

    Example (about half a minute for a small model):

    ```python
    path = keras_mm.export.saved_model(model, "savedmodels/classifier")
    # -> ".../savedmodels/classifier/1"; then, with TensorFlow only:
    served = tf.saved_model.load(path).signatures["serving_default"]
    served(images=pixels, text=tf.constant(["the circles are red"]))
    ```
    """
    require_tensorflow("Export")
    check_booleans(overwrite=overwrite, raw_inputs=raw_inputs)
    check_model(model)
    path = version_path(path, overwrite=overwrite)
    # Here, so that a path that cannot be a directory fails alike (and
    # fast) under every backend.
    os.makedirs(os.path.dirname(path), exist_ok=True)
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
