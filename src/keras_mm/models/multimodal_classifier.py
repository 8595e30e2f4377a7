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
from keras_mm.utils.tf_utils import tf

ACTIVATIONS = ("softmax", "sigmoid", None)


def check_class_names(class_names, num_classes):
    """`class_names` as a list of `num_classes` different strings, or
    `None`; a `ValueError` saying what is wrong otherwise."""
    if class_names is None:
        return None
    names = list(class_names) if not isinstance(class_names, str) else None
    if (
        names is None
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
        or len(names) != num_classes
    ):
        raise ValueError(
            f"`class_names` must be a list of {num_classes} different "
            "strings, one per class (`num_classes`). Received: "
            f"class_names={class_names!r}"
        )
    return names


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
        class_names: list of `num_classes` strings, or `None`. With names,
            `fit` and `evaluate` take labels as names, `predict_labels`
            gives names, and the export serves `label_names` too. Without,
            the first `fit` on string labels names the classes by those
            labels, sorted, when there are `num_classes` of them.

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
        class_names=None,
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
        self.class_names = check_class_names(class_names, num_classes)

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
        served = {name: outputs, "labels": top_one(outputs)}
        if self.class_names and tf is not None and tf.is_tensor(outputs):
            names = tf.constant(self.class_names)
            served["label_names"] = tf.gather(names, served["labels"])
        return served

    # === Class names ===
    def _encode_labels(self, y):
        """Labels given as class names -> their indices; the first string
        labels name the classes of a model without names."""
        if y is None or isinstance(y, (str, dict)) or self.num_classes is None:
            return y
        labels = np.asarray(y)
        if labels.dtype.kind not in "USO" or labels.size == 0:
            return y
        if labels.dtype.kind == "O":
            values = labels.reshape(-1).tolist()
            bad = [i for i, v in enumerate(values) if not isinstance(v, str)]
            if bad:
                raise ValueError(
                    "Labels must be all class names (str) or all class "
                    f"indices (int). Received {len(bad)} other labels at "
                    f"rows {bad[:5]}: {[values[i] for i in bad[:5]]}"
                )
        labels = labels.astype(str)
        if self.class_names is None:
            found = sorted(set(labels.reshape(-1).tolist()))
            if len(found) != self.num_classes:
                raise ValueError(
                    f"The labels are strings, {len(found)} different ones, "
                    f"but the model has {self.num_classes} classes and no "
                    "class names. Build it with `class_names=[...]` (all "
                    f"{self.num_classes}, in the order of its outputs). "
                    f"Received labels: {found[:10]}"
                )
            self.class_names = found
        index = {name: i for i, name in enumerate(self.class_names)}
        unknown = sorted(set(labels.reshape(-1).tolist()) - set(index))
        if unknown:
            raise ValueError(
                f"Labels {unknown[:10]} are not class names of this model. "
                f"Its class names: {self.class_names}"
            )
        return np.vectorize(index.__getitem__, otypes=["int32"])(labels)

    def predict_labels(self, x, batch_size=None, **kwargs):
        """Predicts each row's class: its name (or index, for a model
        without `class_names`); for a sigmoid head, the list of classes
        over 0.5. Takes what `predict` takes.

        Examples:
        >>> model = keras_mm.build_classifier(
        ...     {"images": keras_mm.encoders.image(
        ...         "cnn_small", image_shape=(8, 8, 3))},
        ...     num_classes=2, class_names=["cat", "dog"], hidden_dim=8)
        >>> model.predict_labels({"images": np.zeros((3, 8, 8, 3))},
        ...                      verbose=0).shape
        (3,)
        """
        if self.num_classes is None:
            raise ValueError(
                "`predict_labels` needs classes; this model is a regressor "
                "(`num_classes=None`). Use `predict`."
            )
        outputs = np.asarray(self.predict(x, batch_size=batch_size, **kwargs))
        names = np.asarray(self.class_names or range(self.num_classes))
        if self.activation == "sigmoid":
            return [names[row > 0.5].tolist() for row in outputs]
        return names[np.argmax(outputs, axis=-1)]

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
            outputs = self.serving_outputs(self(features, training=False))
            outputs.pop("label_names", None)  # TFLite serves indices.
            return outputs

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
            {
                "num_classes": self.num_classes,
                "activation": self.activation,
                "class_names": self.class_names,
            }
        )
        return config
