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
from keras_mm.export.saved_model import load
from keras_mm.export.saved_model import run_under_tensorflow
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.word_tokenizer import WordTokenizer
from keras_mm.models.captioner import Captioner
from keras_mm.models.speech_recognizer import SpeechRecognizer
from keras_mm.utils.inputs import consumer
from keras_mm.utils.tf_utils import require_tensorflow

QUANTIZATIONS = (None, "dynamic", "float16", "int8")


def _check_quantization(quantization, representative_data):
    if quantization not in QUANTIZATIONS:
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


def _top_one(x):
    """Argmax as `top_k(k=1)`: the stock argmax of the TensorFlow backend
    lowers to `BitwiseAnd`, which TFLite lacks. Ties go to the lowest
    index, as with argmax."""
    return keras.ops.top_k(x, k=1)[1][..., 0]


def _audio_spec(preprocessor):
    return {
        "type": "audio",
        "num_samples": int(preprocessor.num_samples),
        "sample_rate": int(preprocessor.sample_rate),
    }


def _waveform_specs(key, preprocessor):
    """`KEY` float32 waveforms padded to the model's length, and their
    bool `KEY_padding_mask`."""
    import tensorflow as tf

    shape = (None, preprocessor.num_samples)
    mask = f"{key}_padding_mask"
    return {
        key: tf.TensorSpec(shape, tf.float32, key),
        mask: tf.TensorSpec(shape, tf.bool, mask),
    }


def _classifier_plan(model):
    """`(assets, specs, to_model_inputs)` of a classifier."""
    import tensorflow as tf

    from keras_mm.export.signatures import _image_spec

    preprocessors = getattr(model.preprocessor, "preprocessors", {})
    missing = sorted(getattr(model.preprocessor, "missing", None) or ())
    inputs, specs = {}, {}
    for key in model.input:
        if key == "present":
            continue
        layer = preprocessors.get(key)
        if isinstance(layer, WordTokenizer):
            inputs[key] = {
                "type": "text",
                "vocabulary": list(layer.vocabulary),
                "sequence_length": int(layer.sequence_length),
                "lowercase": bool(layer.lowercase),
            }
            name = f"{key}_token_ids"
            specs[name] = tf.TensorSpec(
                (None, layer.sequence_length), tf.int32, name
            )
        elif isinstance(layer, AudioPreprocessor):
            inputs[key] = _audio_spec(layer)
            specs.update(_waveform_specs(key, layer))
        elif layer is None and len(model.input[key].shape) == 4:
            tensor = model.input[key]
            spec = _image_spec(key, tensor.shape, consumer(model, tensor))
            if None in spec.shape[1:]:
                raise ValueError(
                    f"Input '{key}' has no fixed size, shape "
                    f"{tuple(tensor.shape)}; a TFLite file needs one. Build "
                    "its encoder with a fixed `image_shape`."
                )
            inputs[key] = {"type": "images", "shape": list(spec.shape[1:])}
            specs[key] = spec
        else:
            raise ValueError(
                f"Input '{key}' (preprocessor: {type(layer).__name__}) has "
                "no TFLite form in keras_mm: TFLite export covers images, "
                "text of the built-in text encoders and audio."
            )
    for key in missing:
        name = f"{key}_present"
        specs[name] = tf.TensorSpec((None,), tf.bool, name)

    def to_model_inputs(x):
        features = {}
        for key, spec in inputs.items():
            if spec["type"] == "text":
                ids = x[f"{key}_token_ids"]
                features[key] = {"token_ids": ids, "padding_mask": ids != 0}
            elif spec["type"] == "audio":
                features[key] = {
                    "audio": x[key],
                    "audio_padding_mask": x[f"{key}_padding_mask"],
                }
            else:
                features[key] = x[key]
        if missing:
            features["present"] = {k: x[f"{k}_present"] for k in missing}
        return features

    assets = {"kind": "classifier", "inputs": inputs, "missing": missing}
    return assets, specs, to_model_inputs


def _plan(model):
    """`(assets, specs, serve)` of the one TFLite signature."""
    import tensorflow as tf

    from keras_mm.export.signatures import _classifier_outputs
    from keras_mm.export.signatures import _image_spec

    if isinstance(model, SpeechRecognizer):
        layer = model.preprocessor.audio_preprocessor
        specs = _waveform_specs("audio", layer)
        assets = {
            "kind": "speech_recognizer",
            "inputs": {"audio": _audio_spec(layer)},
            "vocabulary": list(model.vocabulary),
        }

        def serve(x):
            logits = model(x, training=False)
            return {"frame_ids": tf.cast(_top_one(logits), "int32")}

        return assets, specs, serve
    if isinstance(model, Captioner):
        import keras_hub

        class TopOneSampler(keras_hub.samplers.GreedySampler):
            def get_next_token(self, probabilities):
                return _top_one(probabilities)

        sampler = TopOneSampler()
        max_length = model.preprocessor.sequence_length
        if model.modality == "images":
            spec = _image_spec(
                "images", model.encoder.input.shape, model.encoder
            )
            specs = {"images": spec}
            inputs = {
                "images": {"type": "images", "shape": list(spec.shape[1:])}
            }
        else:
            layer = model.preprocessor.input_preprocessor
            specs = _waveform_specs("audio", layer)
            inputs = {"audio": _audio_spec(layer)}
        assets = {
            "kind": "captioner",
            "inputs": inputs,
            "vocabulary": list(model.vocabulary),
        }

        def serve(x):
            x = x["images"] if model.modality == "images" else x
            token_ids = model._generate_step(x, sampler, max_length)
            return {"token_ids": tf.cast(token_ids, "int32")}

        return assets, specs, serve
    assets, specs, to_model_inputs = _classifier_plan(model)

    def serve(x):
        outputs = model(to_model_inputs(x), training=False)
        return _classifier_outputs(model, outputs)

    return assets, specs, serve


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

    assets, specs, serve = _plan(model)
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

    Example:

    ```python
    path = keras_mm.export.tflite(model, "savedmodels/scenes.tflite")
    keras_mm.export.LiteRTModel(path)({"images": pixels, "text": texts})
    ```
    """
    require_tensorflow("Export")
    path = os.path.abspath(os.fspath(path))
    if not path.endswith(".tflite"):
        raise ValueError(f"`path` must end with '.tflite'. Received: {path}")
    _check_quantization(quantization, representative_data)
    if os.path.exists(path) and not overwrite:
        raise ValueError(
            f"{path} already exists. Choose another path, or pass "
            "`overwrite=True` to replace it."
        )
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
