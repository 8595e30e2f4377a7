"""`keras_mm.models.MultimodalClassifier`: fused inputs to classes."""

import itertools
import warnings

import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.word_tokenizer import WordTokenizer
from keras_mm.models.task import ExportWarning
from keras_mm.models.task import Task
from keras_mm.models.task import audio_assets
from keras_mm.models.task import image_spec
from keras_mm.models.task import spec
from keras_mm.models.task import top_one
from keras_mm.models.task import waveform_specs
from keras_mm.utils.inputs import consumer

ACTIVATIONS = ("softmax", "sigmoid", None)


@keras_mm_export
class MultimodalClassifier(Task):
    """A classifier (or regressor) over any mix of images, text and audio.

    A functional model from its inputs (one per encoder, keyed like the
    raw inputs) to its head's outputs, with the preprocessor that turns raw
    inputs into those inputs. `keras_mm.build_classifier` assembles one
    from encoders, a fusion layer and a head; this class adds what every
    task has (`keras_mm.models.Task`): raw-input `fit`, `evaluate` and
    `predict`, its own `compile()` defaults, and presets.

    Its training defaults follow the head:
    - `num_classes=k`, `activation="softmax"`: sparse categorical
      cross-entropy on integer labels, `sparse_categorical_accuracy`;
    - `activation=None`: the same from logits;
    - `activation="sigmoid"`: binary cross-entropy on multi-hot labels,
      `binary_accuracy`;
    - `num_classes=None`: regression, mean squared error, `mae`.

    Args:
        inputs, outputs: the functional model's inputs and outputs.
        preprocessor: a `keras_mm.layers.MultimodalPreprocessor` or `None`.
        num_classes: int, or `None` for regression.
        activation: `"softmax"`, `"sigmoid"` or `None` (logits).
        learning_rate: float or a `LearningRateSchedule`. Defaults to
            `1e-3`.
        learning_rate_multipliers: dict or `None`. Path prefix to a
            multiplier of `learning_rate` (see `keras_mm.optimizers.Adam`).

    Examples:
    >>> images = keras.Input((8, 8, 3), name="images")
    >>> outputs = keras.layers.Dense(3, activation="softmax")(
    ...     keras.layers.GlobalAveragePooling2D()(images))
    >>> model = keras_mm.models.MultimodalClassifier(
    ...     {"images": images}, outputs, num_classes=3)
    >>> model.compile()
    >>> model.loss.name
    'sparse_categorical_crossentropy'
    """

    def __init__(
        self,
        *args,
        num_classes=None,
        activation="softmax",
        **kwargs,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {list(ACTIVATIONS)}. "
                f"Received: activation={activation!r}"
            )
        super().__init__(*args, **kwargs)
        self.num_classes = num_classes
        self.activation = activation

    def default_loss(self):
        if self.num_classes is None:
            return "mse"
        if self.activation == "sigmoid":
            return "binary_crossentropy"
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=self.activation is None
        )

    def default_metrics(self):
        if self.num_classes is None:
            return {"metrics": ["mae"]}
        if self.activation == "sigmoid":
            return {"metrics": ["binary_accuracy"]}
        return {"metrics": ["sparse_categorical_accuracy"]}

    # === Serving ===
    def serving_outputs(self, outputs):
        """Named outputs: `probabilities` and `labels` (int32 class, or
        multi-hot for a sigmoid head), `logits` and `labels` without an
        activation, `predictions` for regression."""
        if self.num_classes is None:
            return {"predictions": outputs}
        if self.activation == "sigmoid":
            labels = keras.ops.cast(outputs > 0.5, "int32")
            return {"probabilities": outputs, "labels": labels}
        name = "probabilities" if self.activation == "softmax" else "logits"
        return {name: outputs, "labels": top_one(outputs)}

    def _raw_spec(self, key, layer):
        if isinstance(layer, WordTokenizer):
            return spec((None,), "string", key)
        if isinstance(layer, AudioPreprocessor):
            return spec((None, None), "float32", key)
        tensor = self.input[key]
        if len(tensor.shape) == 4:
            return image_spec(key, tensor.shape, consumer(self, tensor))
        return spec(tensor.shape, tensor.dtype, key)

    def _token_keys(self):
        """Inputs whose tokenizer is not made of core TensorFlow ops (a
        KerasHub tokenizer uses TensorFlow Text's), so that a stock server
        cannot run it: the export serves their token ids."""
        preprocessors = getattr(self.preprocessor, "preprocessors", {})
        return sorted(
            key
            for key, layer in preprocessors.items()
            if not isinstance(layer, (WordTokenizer, AudioPreprocessor))
        )

    def serving_signatures(self, raw_inputs=True):
        """`serving_default` over raw inputs, and a `without_KEY` signature
        per set of inputs the model may miss (`allow_missing`)."""
        preprocessor = self.preprocessor
        if not raw_inputs or preprocessor is None:
            specs = keras.tree.map_structure(
                lambda t: spec(t.shape, t.dtype, t.name), self.input
            )

            def serve_model_inputs(inputs):
                return self.serving_outputs(self(inputs, training=False))

            return {"serving_default": (serve_model_inputs, specs)}
        preprocessors = preprocessor.preprocessors
        optional = set(preprocessor.missing or ())
        token_keys = self._token_keys()
        if set(token_keys) & optional:
            raise ValueError(
                f"Inputs {sorted(set(token_keys) & optional)} may be missing "
                "and are tokenized with ops that are not core TensorFlow (a "
                "KerasHub tokenizer); keras_mm cannot serve both. Export "
                "with `raw_inputs=False` to serve the model's own inputs."
            )
        if token_keys:
            warnings.warn(
                f"Inputs {token_keys} are tokenized by a KerasHub tokenizer, "
                "whose TensorFlow Text ops a stock TF Serving lacks (a "
                "SavedModel that holds them does not even load there), so "
                "the signatures take their token ids: `KEY_token_ids`, "
                "`KEY_padding_mask`, ... Tokenize on the client with "
                "`model.preprocessor.preprocessors[KEY]` (or the KerasHub "
                "tokenizer of the preset).",
                ExportWarning,
                stacklevel=3,
            )
        specs = {}
        for key in self.input:
            if key in token_keys:
                for name, t in self.input[key].items():
                    specs[f"{key}_{name}"] = spec(
                        t.shape, t.dtype, f"{key}_{name}"
                    )
            elif key != "present":
                specs[key] = self._raw_spec(key, preprocessors.get(key))

        def serve(inputs):
            inputs = dict(inputs)
            token_inputs = {
                key: {
                    name: inputs.pop(f"{key}_{name}")
                    for name in self.input[key]
                }
                for key in token_keys
                if f"{key}_token_ids" in inputs
            }
            features = preprocessor(inputs)
            features.update(token_inputs)
            return self.serving_outputs(self(features, training=False))

        signatures = {}
        for count in range(len(optional) + 1):
            for omitted in itertools.combinations(sorted(optional), count):
                if len(omitted) == len(specs):
                    continue
                name = "serving_default"
                if omitted:
                    name = "without_" + "_".join(omitted)
                kept = {k: s for k, s in specs.items() if k not in omitted}
                signatures[name] = (serve, kept)
        return signatures

    def litert_signature(self):
        """Word ids `KEY_token_ids` for text, waveforms `KEY` padded with
        their `KEY_padding_mask` for audio, uint8 pixels for images, and a
        bool `KEY_present` per input the model may miss."""
        preprocessors = getattr(self.preprocessor, "preprocessors", {})
        missing = sorted(getattr(self.preprocessor, "missing", None) or ())
        inputs, specs = {}, {}
        for key in self.input:
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
                specs[name] = spec((None, layer.sequence_length), "int32", name)
            elif isinstance(layer, AudioPreprocessor):
                inputs[key] = audio_assets(layer)
                specs.update(waveform_specs(key, layer))
            elif layer is None and len(self.input[key].shape) == 4:
                tensor = self.input[key]
                pixels = image_spec(key, tensor.shape, consumer(self, tensor))
                if None in pixels.shape[1:]:
                    raise ValueError(
                        f"Input '{key}' has no fixed size, shape "
                        f"{tuple(tensor.shape)}; a TFLite file needs one. "
                        "Build its encoder with a fixed `image_shape`."
                    )
                inputs[key] = {"type": "images", "shape": pixels.shape[1:]}
                specs[key] = pixels
            else:
                raise ValueError(
                    f"Input '{key}' (preprocessor: {type(layer).__name__}) "
                    "has no TFLite form in keras_mm: TFLite export covers "
                    "images, text of the built-in text encoders and audio."
                )
        for key in missing:
            specs[f"{key}_present"] = spec((None,), "bool", f"{key}_present")

        def serve(x):
            features = {}
            for key, kind in inputs.items():
                if kind["type"] == "text":
                    ids = x[f"{key}_token_ids"]
                    features[key] = {"token_ids": ids, "padding_mask": ids != 0}
                elif kind["type"] == "audio":
                    features[key] = {
                        "audio": x[key],
                        "audio_padding_mask": x[f"{key}_padding_mask"],
                    }
                else:
                    features[key] = x[key]
            if missing:
                features["present"] = {k: x[f"{k}_present"] for k in missing}
            return self.serving_outputs(self(features, training=False))

        assets = {"kind": "classifier", "inputs": inputs, "missing": missing}
        return assets, specs, serve

    def serving_request(self, inputs, token_ids=True):
        """Raw inputs keyed like the served inputs: text of a KerasHub
        tokenizer becomes its `KEY_token_ids`, ... (with `token_ids`)."""
        inputs = super().serving_request(inputs)
        if not token_ids:
            return inputs
        for key in self._token_keys():
            if key in inputs:
                texts = inputs.pop(key)
                texts = [texts] if isinstance(texts, str) else list(texts)
                layer = self.preprocessor.preprocessors[key]
                for name, value in layer(texts).items():
                    dtype = self.input[key][name].dtype
                    inputs[f"{key}_{name}"] = np.asarray(value, dtype)
        return inputs

    def reference_outputs(self, inputs):
        outputs = self.predict(inputs, verbose=0)
        name = next(k for k in self.serving_outputs(outputs) if k != "labels")
        return {name: outputs}

    def get_config(self):
        config = super().get_config()
        config.update(self.task_config())
        config.update(
            {"num_classes": self.num_classes, "activation": self.activation}
        )
        return config
