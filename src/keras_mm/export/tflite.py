"""TFLite files that run on the stock LiteRT interpreter (builtin ops only)."""

import json
import os
import tempfile
import uuid
import warnings

import keras
import numpy as np

from keras_mm.export.litert_runner import assets_path
from keras_mm.export.litert_runner import prepare_inputs
from keras_mm.export.saved_model import check_model
from keras_mm.export.saved_model import load
from keras_mm.export.saved_model import run_under_tensorflow
from keras_mm.export.signatures import check_task
from keras_mm.export.signatures import tensor_specs
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.validation import check_booleans

QUANTIZATIONS = (None, "dynamic", "float16", "int8")


def _check_quantization(quantization, representative_data):
    if quantization is not None and not (
        isinstance(quantization, str) and quantization in QUANTIZATIONS
    ):
        raise ValueError(
            f"`quantization` must be one of {list(QUANTIZATIONS)}. "
            f"Received: quantization={quantization!r}"
        )
    if quantization == "int8" and representative_data is None:
        raise ValueError(
            'quantization="int8" calibrates activations on examples: pass '
            "`representative_data`, raw inputs as `predict` takes them "
            "(a hundred or so)."
        )


def _representative_dataset(representative_data, assets):
    """Calibration inputs for int8: raw examples prepared as
    `LiteRTModel` prepares them, one at a time."""
    arrays = prepare_inputs(assets, representative_data)

    def generate():
        rows = len(next(iter(arrays.values())))
        for i in range(rows):
            yield {key: value[i : i + 1] for key, value in arrays.items()}

    return generate


def _convert(model, quantization, representative_data):
    import tensorflow as tf

    check_task(model)
    assets, specs, serve = model.litert_signature()
    specs = tensor_specs(specs)
    if _is_recurrent(model):
        # TFLite lowers a recurrent loop only with a static batch size; the
        # runner feeds such a file one example at a time.
        specs = {
            name: tf.TensorSpec((1, *spec.shape[1:]), spec.dtype, name)
            for name, spec in specs.items()
        }
        assets["batch_size"] = 1
    with tempfile.TemporaryDirectory() as tmp:
        # Through a SavedModel written by `ExportArchive`, as Keras' own
        # LiteRT export goes: converting concrete functions directly wrote
        # wrong weights with TensorFlow 2.21.
        archive = keras.export.ExportArchive()
        archive.track(model)
        archive.add_endpoint("serving_default", serve, input_signature=[specs])
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            tmp, signature_keys=["serving_default"]
        )
        # The stock interpreter has no Flex delegate: builtin ops only.
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        converter.experimental_enable_resource_variables = True
        if quantization is not None:
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantization == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if quantization == "int8":
            converter.representative_dataset = _representative_dataset(
                representative_data, assets
            )
        try:
            with warnings.catch_warnings():
                # int8 calibration runs TensorFlow's own (deprecated)
                # interpreter; nothing a user can change.
                warnings.filterwarnings(
                    "ignore", message=".*tf.lite.Interpreter is deprecated"
                )
                return converter.convert(), assets
        except Exception as error:  # The converter raises several types.
            message = str(error).strip()
    ops = sorted(set(_unsupported_ops(message)))
    raise ValueError(
        "This model does not convert to TFLite builtin ops"
        + (f" (it needs {ops})" if ops else "")
        + ". The stock LiteRT interpreter cannot run other ops; export a "
        "SavedModel for this model instead. Converter message: "
        + message.splitlines()[0][:300]
    )


def _is_recurrent(model):
    return any(
        isinstance(layer, keras.layers.RNN) for layer in model._flatten_layers()
    )


def _unsupported_ops(message):
    import re

    return re.findall(r"'(tf\.\w+)'", message)


def tflite(
    model,
    path,
    quantization=None,
    representative_data=None,
    overwrite=False,
):
    """Exports a keras_mm model as a `.tflite` file for the stock LiteRT
    interpreter (builtin ops only, no Flex delegate).

    TFLite takes no strings, so its signature `serving_default` takes what
    strings become: text as int32 word ids `KEY_token_ids (batch,
    sequence_length)`, and the tokenizer is written beside the model as
    `NAME.json`. Images are uint8 pixels at the encoder's size; audio is
    float32 `KEY (batch, samples)` padded to the model's `max_duration`
    with its bool `KEY_padding_mask`; a model built with `allow_missing`
    also takes bool `KEY_present` flags. A model with recurrent layers
    (the speech recognizer's GRUs, a `bigru_small` text encoder) takes one
    example per call: TFLite lowers their loops only for a fixed batch
    size. `keras_mm.export.LiteRTModel`
    (one file, NumPy and `ai_edge_litert` only) does all that from raw
    inputs. Outputs: a classifier's `probabilities` and `labels` (as the
    SavedModel's); a captioner's `token_ids`, generated greedily inside the
    model (the key/value cache and the loop are in the file); a speech
    recognizer's `frame_ids`, the best class per frame. `LiteRTModel` turns
    the last two into `captions` and `transcripts`.

    Quantization:
    - `None`: float32.
    - `"dynamic"`: int8 weights, float activations.
    - `"float16"`: float16 weights.
    - `"int8"`: int8 weights and activations, calibrated on
      `representative_data`, where the ops have int8 kernels (float
      elsewhere); inputs and outputs stay as they are.

    Args:
        model: a model from `keras_mm.build_classifier`, `build_captioner`
            or `build_speech_recognizer`, or the path of such a model's
            `.keras` file (under JAX or PyTorch, only the TensorFlow child
            process loads it).
        path: str ending in `.tflite`.
        quantization: `None`, `"dynamic"`, `"float16"` or `"int8"`.
        representative_data: raw inputs as `predict` takes them, for
            `"int8"`.
        overwrite: bool. Replace an existing file. Defaults to `False`.

    Returns:
        str, the absolute path of the written file.

    Raises:
        ValueError: for a model that is not a keras_mm task, a missing,
            empty or corrupt `.keras` file, an unknown `quantization`, an
            existing file without `overwrite`, or a bad `path`.
        OSError: (`PermissionError`, `NotADirectoryError`, ...) when the
            file cannot be written there. Under JAX or PyTorch, errors of
            the TensorFlow child process are raised as the same type with
            the same message.

    Example:

    ```python
    path = keras_mm.export.tflite(model, "savedmodels/scenes.tflite")
    keras_mm.export.LiteRTModel(path)({"images": pixels, "text": texts})
    ```
    """
    require_tensorflow("Export")
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            f"`path` must be a file path ending in '.tflite'. Received: "
            f"path={path!r}"
        )
    path = os.path.abspath(os.fspath(path))
    if not path.endswith(".tflite"):
        raise ValueError(f"`path` must end with '.tflite'. Received: {path}")
    check_booleans(overwrite=overwrite)
    _check_quantization(quantization, representative_data)
    check_model(model)
    if os.path.isdir(path):
        raise ValueError(
            f"{path} is a directory. `path` must name a file ending in "
            "'.tflite'."
        )
    if os.path.exists(path) and not overwrite:
        raise ValueError(
            f"{path} already exists. Choose another path, or pass "
            "`overwrite=True` to replace it."
        )
    # Here, so that a path that cannot be a directory fails alike (and
    # fast) under every backend.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if keras.config.backend() != "tensorflow":
        with tempfile.TemporaryDirectory() as tmp:
            args = ["tflite", path]
            args += ["--overwrite"] if overwrite else []
            if quantization:
                args += ["--quantization", quantization]
            if representative_data is not None:
                data_file = os.path.join(tmp, "representative.npz")
                np.savez(data_file, **_as_arrays(representative_data))
                args += ["--representative-data", data_file]
            run_under_tensorflow(model, args)
        return path
    data, assets = _convert(load(model), quantization, representative_data)
    _write_files({assets_path(path): json.dumps(assets).encode(), path: data})
    return path


def _write_files(contents):
    """Writes `{path: bytes}`: each file under a temporary name beside its
    path (`.NAME.tmp-RANDOM`), then all of them renamed into place, in
    order. A failed write removes the temporaries and leaves the files
    already there as they were."""
    temporaries = []
    try:
        for path, content in contents.items():
            directory, name = os.path.split(path)
            os.makedirs(directory, exist_ok=True)
            temporary = os.path.join(
                directory, f".{name}.tmp-{uuid.uuid4().hex[:8]}"
            )
            temporaries.append(temporary)
            with open(temporary, "xb") as f:
                f.write(content)
        for temporary, path in zip(temporaries, contents):
            os.replace(temporary, path)
    except BaseException:
        for temporary in temporaries:
            if os.path.exists(temporary):
                os.remove(temporary)
        raise


def _as_arrays(raw):
    """Raw inputs -> arrays that `np.savez` keeps (text as unicode)."""
    if not isinstance(raw, dict):
        raw = {"__single__": raw}
    arrays = {}
    for key, value in raw.items():
        if (
            isinstance(value, (list, tuple))
            and value
            and isinstance(value[0], str)
        ):
            value = np.array(value, dtype=str)
        arrays[key] = np.asarray(value)
    return arrays


def from_arrays(arrays):
    """The inverse of `_as_arrays`."""
    raw = {
        key: value.tolist() if value.dtype.kind == "U" else value
        for key, value in arrays.items()
    }
    return raw.pop("__single__") if "__single__" in raw else raw
