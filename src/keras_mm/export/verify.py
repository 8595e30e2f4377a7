"""Checks an exported artifact against its Keras model, in another process."""

import os
import sys
import tempfile

import numpy as np

from keras_mm.export.child_process import run as run_child
from keras_mm.export.child_process import run_in_worker
from keras_mm.export.signatures import check_task
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf

_HERE = os.path.dirname(os.path.abspath(__file__))
# Both scripts stand alone: the checking process imports TensorFlow (or
# the LiteRT interpreter) and NumPy, and no Keras code of ours.
_CALL_SAVED_MODEL = os.path.join(_HERE, "call_saved_model.py")
_RUN_LITERT = os.path.join(_HERE, "litert_runner.py")


def _request(model, sample_inputs, encode_images):
    """Sample inputs -> the arrays of a request, keyed like the signature."""
    sample_inputs = model.serving_request(sample_inputs)
    request = {}
    for key, value in sample_inputs.items():
        if isinstance(value, str):
            value = [value]
        if (
            isinstance(value, (list, tuple))
            and value
            and isinstance(value[0], str)
        ):
            request[key] = np.array(value, dtype=str)
            continue
        try:
            value = np.asarray(value)
        except ValueError:
            value = np.asarray(value, dtype=object)
        if value.dtype == object:
            raise ValueError(
                f"Input '{key}' must be one array: give waveforms of one "
                "length (pad them with zeros, as a request would). "
                f"Received {len(value)} rows of different shapes."
            )
        if encode_images and value.ndim == 4 and value.dtype == np.uint8:
            value = np.array(
                [tf.io.encode_png(image).numpy() for image in value]
            )
        request[key] = value
    return request


def _call(script, args, request, what, reuse=False):
    """Runs `python SCRIPT ARGS INPUTS.npz OUTPUTS.npz` in a new process,
    or with `reuse` in one that stays for the next call (without our Keras
    backend setting either way), and returns the outputs."""
    with tempfile.TemporaryDirectory() as tmp:
        inputs_file = os.path.join(tmp, "inputs.npz")
        outputs_file = os.path.join(tmp, "outputs.npz")
        np.savez(inputs_file, **request)
        env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
        args = [*args, inputs_file, outputs_file]
        if reuse:
            run_in_worker([sys.executable, script], args, what, env=env)
        else:
            run_child([sys.executable, script, *args], what, env=env)
        with np.load(outputs_file) as data:
            return {key: data[key] for key in data.files}


def verify(
    path,
    model,
    sample_inputs,
    signature="serving_default",
    tolerance=None,
):
    """Calls an exported SavedModel or `.tflite` file in another process
    and compares its outputs with the Keras model's.

    A SavedModel is loaded by a process that imports TensorFlow and NumPy
    only, as a server would (one process, kept for a few minutes, serves
    the checks of a session); a `.tflite` file by a new one that imports
    the LiteRT interpreter (`ai_edge_litert`) and NumPy only, through
    `keras_mm.export.LiteRTModel`. Probabilities (or logits, or regression
    predictions) must be within `tolerance` of `model.predict`; captions
    and transcripts must equal `model.generate` (greedy) and
    `model.transcribe` exactly. For the `encoded_images` signatures, pass
    pixels: they are PNG-encoded (losslessly) for the request.

    Args:
        path: str. The SavedModel's version directory or the `.tflite`
            file, as `keras_mm.export.saved_model` or `tflite` returned.
        model: the Keras model that was exported.
        sample_inputs: raw inputs, as `model.predict` (a dict), `generate`
            or `transcribe` take them; waveforms of one length.
        signature: str. The SavedModel signature. Defaults to
            `"serving_default"`.
        tolerance: float or `None`. Largest allowed absolute difference.
            Defaults to `1e-4` for a SavedModel, `1e-3` for TFLite (whose
            kernels differ from TensorFlow's); quantized files need more.

    Returns:
        float, the largest absolute difference (`0.0` for strings that
        match).

    Raises:
        ValueError: when the outputs differ by more than `tolerance`, or
            strings differ (the message shows the first differences); for
            a bad `path`, `model`, `signature` or `tolerance`.

    Example:

    ```python
    path = keras_mm.export.saved_model(model, "savedmodels/classifier")
    keras_mm.export.verify(path, model, {"images": pixels, "text": texts})
    ```
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            "`path` must be the path of a SavedModel version directory or "
            f"a .tflite file. Received: path={path!r}"
        )
    if not isinstance(signature, str):
        raise ValueError(
            f"`signature` must be a signature name (str). Received: "
            f"signature={signature!r}"
        )
    if tolerance is not None and (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, (int, float, np.floating, np.integer))
        or not 0 <= tolerance < float("inf")
    ):
        raise ValueError(
            "`tolerance` must be a non-negative number or None. Received: "
            f"tolerance={tolerance!r}"
        )
    path = os.fspath(path)
    litert = path.endswith(".tflite")
    if not litert:
        require_tensorflow("Verifying a SavedModel")
    if litert and not os.path.isfile(path):
        raise ValueError(f"No such TFLite file: {path}")
    if not litert and not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ValueError(
            f"{path} is not a SavedModel directory (no saved_model.pb) nor "
            "a .tflite file. Pass what `keras_mm.export.saved_model` or "
            "`tflite` returned."
        )
    if tolerance is None:
        tolerance = 1e-3 if litert else 1e-4
    check_task(model)
    request = _request(
        model,
        sample_inputs,
        encode_images=not litert and signature.startswith("encoded"),
    )
    if litert:
        # The interpreter starts in a fraction of a second: a new process.
        served = _call(
            _RUN_LITERT, [path], request, f"Running {path} with LiteRT"
        )
    else:
        served = _call(
            _CALL_SAVED_MODEL,
            [path, signature],
            request,
            f"Calling signature '{signature}' of {path} in a "
            "TensorFlow-only process",
            # TensorFlow takes seconds to import: one process checks all.
            reuse=True,
        )
    expected = model.reference_outputs(sample_inputs)
    missing = sorted(set(expected) - set(served))
    if missing:
        raise ValueError(
            f"Signature '{signature}' returned {sorted(served)}, not {missing}."
        )
    difference = 0.0
    for name, value in expected.items():
        got = served[name]
        if not isinstance(value, list):
            value = np.asarray(value, "float32").reshape(got.shape)
            difference = max(difference, float(np.max(np.abs(got - value))))
            continue
        wrong = [
            (i, want, have)
            for i, (want, have) in enumerate(zip(value, got.tolist()))
            if want != have
        ]
        if wrong or len(value) != len(got):
            shown = "; ".join(
                f"row {i}: Keras {want!r}, served {have!r}"
                for i, want, have in wrong[:3]
            )
            raise ValueError(
                f"The served {name} differ from the Keras model's in "
                f"{len(wrong)} of {len(value)} rows: {shown}"
            )
    if difference > tolerance:
        raise ValueError(
            f"The served outputs differ from the Keras model's by up to "
            f"{difference:.3g}, more than tolerance={tolerance}."
        )
    return difference
