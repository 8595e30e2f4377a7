import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.base.replicas import AverageReplicas
from keras_mm.base.replicas import batch_shards
from keras_mm.base.replicas import check_batches
from keras_mm.base.replicas import first_replica
from keras_mm.data.adapters import batch_examples
from keras_mm.data.adapters import batches_dataset
from keras_mm.data.adapters import holds_raw_inputs
from keras_mm.data.frames import load_frame
from keras_mm.data.pipeline import make_dataset
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.image_preprocessing import image_shapes
from keras_mm.utils.inputs import consumer
from keras_mm.utils.tf_utils import is_dataset
from keras_mm.utils.tf_utils import require_tensorflow


def _share_encoder_preprocessors(model):
    """Makes each per-input preprocessor of a loaded model the very object
    of the encoder that takes that input, as when it was built. Saving
    wrote the assets of a shared preprocessor (a KerasHub tokenizer's
    vocabulary) once, under the encoder; two copies on loading would leave
    one without its assets."""
    preprocessors = getattr(model.preprocessor, "preprocessors", None)
    if not preprocessors or not isinstance(model.input, dict):
        return
    for key, layer in preprocessors.items():
        if key not in model.input:
            continue
        encoder = consumer(model, model.input[key])
        own = getattr(encoder, "preprocessor", None)
        if own is not None and (
            keras.layers.serialize(own) == keras.layers.serialize(layer)
        ):
            preprocessors[key] = own


@keras_mm_export
class PipelineModel(keras.Model):
    """A functional model with a `preprocessor` that runs in the data pipeline.

    `fit`, `evaluate` and `predict` take raw inputs (lists of strings,
    waveforms of any length, arrays, a pandas DataFrame whose columns are
    the input keys, with image and audio file paths read by
    `keras_mm.data.load_frame`, or a batched `tf.data.Dataset`) and map
    `self.preprocessor` over them in `tf.data`, so raw strings work on every
    backend. Calling the model itself (`model(inputs)`) takes preprocessed
    tensors. Without a preprocessor this is a plain functional model.

    With a DataFrame, the columns named like the model's inputs are read
    (others are ignored), and `y` may be the name of its label column. An
    unreadable file raises a `ValueError` naming the row; to skip such
    rows instead, read the frame first with
    `keras_mm.data.load_frame(frame, ..., on_error="skip")`.

    Build one like a functional model, `PipelineModel(inputs, outputs,
    preprocessor=...)`; the preprocessor is saved with the model.
    Subclasses may instead assign `self.preprocessor` before calling
    `super().__init__(inputs=..., outputs=...)` (KerasHub's
    functional-subclass recipe) and save it in their own `get_config`.

    Args:
        preprocessor: a `keras_mm.layers.PreprocessingLayer` (or a KerasHub
            preprocessor) from raw inputs to the model's inputs, or `None`.

    Examples:
    >>> vocab = ["[PAD]", "[UNK]", "[START]", "[END]", "red", "blue"]
    >>> token_ids = keras.Input((4,), dtype="int32", name="token_ids")
    >>> padding_mask = keras.Input((4,), dtype="bool", name="padding_mask")
    >>> x = keras.layers.Embedding(6, 8)(token_ids)
    >>> outputs = keras.layers.Dense(1)(keras.layers.Flatten()(x))
    >>> model = keras_mm.models.PipelineModel(
    ...     {"token_ids": token_ids, "padding_mask": padding_mask}, outputs,
    ...     preprocessor=keras_mm.layers.WordTokenizer(vocab, 4))
    >>> model.predict(["red", "blue red"], verbose=0).shape
    (2, 1)
    """

    def __setattr__(self, name, value):
        # The preprocessor runs in tf.data, never inside the compiled step,
        # so it is kept out of the model's layers: Keras compiles a model
        # without XLA (jit) when any of its layers cannot be, and lookup
        # layers cannot. Saving still finds it through the property below.
        if name == "preprocessor":
            object.__setattr__(self, "_pipeline_preprocessor", value)
        else:
            super().__setattr__(name, value)

    @property
    def preprocessor(self):
        return self.__dict__.get("_pipeline_preprocessor")

    def __init__(self, *args, preprocessor=None, **kwargs):
        super().__init__(*args, **kwargs)
        if preprocessor is not None:
            self.preprocessor = preprocessor

    def get_config(self):
        config = super().get_config()
        if self.preprocessor is not None:
            config["preprocessor"] = keras.layers.serialize(self.preprocessor)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        preprocessor = config.pop("preprocessor", None)
        model = super().from_config(config, custom_objects=custom_objects)
        if preprocessor is not None:
            model.preprocessor = keras.layers.deserialize(preprocessor)
            _share_encoder_preprocessors(model)
        return model

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        super().compile(optimizer, *args, **kwargs)
        # keras_mm optimizers match learning-rate multipliers to layer
        # paths, which only the model knows.
        inner = getattr(self.optimizer, "inner_optimizer", self.optimizer)
        if hasattr(inner, "set_model"):
            inner.set_model(self)

    def compile_from_config(self, config):
        # Keras' own, which skips models that override `compile`.
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if hasattr(self, "optimizer") and self.built:
            self.optimizer.build(self.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras' TensorFlow trainer, without a distribution strategy,
        # leaves the optimizer and metric variables to the first trace of
        # the train (or test) step; `tf.function` then traces that step a
        # second time, once the variables exist (8.5 s -> 5.0 s to the first
        # epoch of a small image+text classifier when built first, as the
        # other backends do). With a strategy, it builds them from the
        # batch averaged over replicas, which fails on bool padding masks
        # (`AddN` on bool): shapes are all a build needs, so take the first
        # replica's part.
        if keras.backend.backend() != "tensorflow":
            super()._maybe_symbolic_build(iterator, data_batch)
            return
        if data_batch is None and iterator is not None:
            for _, _, batches in iterator:
                data_batch = next(batches)
                break
        if self._distribute_strategy is not None:
            data_batch = first_replica(self._distribute_strategy, data_batch)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def _dataset(self, x, y, sample_weight, batch_size, shuffle=False):
        prepare = getattr(self.preprocessor, "prepare", None)
        if prepare is not None and not is_dataset(x):
            x = prepare(x)
        return make_dataset(
            x,
            y,
            sample_weight,
            batch_size=batch_size or 32,
            shuffle=shuffle,
            map_fn=self.preprocessor,
        )

    def _check_inputs(self, x, batch_size=None):
        """Compares raw array inputs with the model's inputs before any
        function is traced, so a bad input fails with a clear message."""
        if x is None or is_dataset(x) or isinstance(x, keras.utils.PyDataset):
            return
        shards = batch_shards()
        if shards > 1:
            check_batches(num_rows(x), batch_size or 32, shards)
        preprocessor = self.preprocessor
        if preprocessor is None:
            check_inputs(x, self.input)
        elif isinstance(x, dict) and hasattr(preprocessor, "preprocessors"):
            optional = set(getattr(preprocessor, "missing", None) or ())
            check_inputs(
                x,
                self.input,
                skip=set(preprocessor.preprocessors) | {"present"},
                optional=optional | {"present"},
            )

    def _check_labels(self, y):
        """Class labels out of range fail here, naming the rows, instead of
        giving NaN losses (JAX) or an error deep in a kernel (TensorFlow)."""
        loss = getattr(self, "loss", None)
        sparse = (
            isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
            or loss == "sparse_categorical_crossentropy"
        )
        if not sparse or y is None or is_dataset(y):
            return
        labels = np.asarray(y)
        if labels.dtype.kind not in "iuf":
            return
        num_classes = self.output.shape[-1]
        bad = np.flatnonzero(
            (labels < 0) | (labels >= num_classes) | (labels % 1 != 0)
        )
        if bad.size:
            rows = ", ".join(
                f"row {i}: {labels.reshape(-1)[i]}" for i in bad[:5]
            )
            raise ValueError(
                f"Class labels must be integers in [0, {num_classes}). "
                f"{bad.size} labels are not ({rows}"
                + (", ..." if bad.size > 5 else "")
                + ")."
            )

    def _from_frame(self, x, y):
        """Reads a pandas DataFrame (image and audio file paths, text) into
        the dict of raw inputs; `y` may name the label column."""
        if not (hasattr(x, "columns") and hasattr(x, "iloc")):
            return x, y
        expected = self.input if isinstance(self.input, dict) else {}
        preprocessors = getattr(self.preprocessor, "preprocessors", {})
        missing = getattr(self.preprocessor, "missing", None) or {}
        images, audio, text, rates = [], [], [], set()
        for key in expected:
            if key not in x.columns:
                continue
            layer = preprocessors.get(key)
            if isinstance(layer, AudioPreprocessor):
                audio.append(key)
                rates.add(layer.sample_rate)
            elif layer is not None or missing.get(key, {}).get("dtype") == (
                "string"
            ):
                text.append(key)
            elif len(expected[key].shape) == 4:
                images.append(key)
        if isinstance(y, str) and y not in x.columns:
            raise ValueError(
                f"`y` must be a column of the DataFrame. Received: y={y!r}; "
                f"columns: {list(x.columns)}"
            )
        sizes = [shape[:2] for shape in image_shapes(self)]
        frame = x
        try:
            x, labels = load_frame(
                frame,
                images=images,
                audio=audio,
                text=text,
                labels=y if isinstance(y, str) else None,
                image_size=sizes[0] if sizes else None,
                sample_rate=rates.pop() if len(rates) == 1 else 16000,
            )
        except ValueError as error:
            message = str(error).replace(
                'Pass `on_error="skip"`',
                "Read the frame with `keras_mm.data.load_frame(frame, ..., "
                'on_error="skip")`',
            )
            raise ValueError(message) from None
        for key in text:
            if key not in missing:
                # Empty text is text, for a model that takes no missing text.
                x[key] = [
                    "" if value is None and isinstance(cell, str) else value
                    for value, cell in zip(x[key], frame[key])
                ]
        return x, labels if isinstance(y, str) else y

    def _prepare(self, x, y):
        """Raw `(x, y)` -> `(x, y)` before anything else sees them, in
        `fit` (and its `validation_data`), `evaluate` and `predict`: where
        a model reads files or checks what only it knows. The default
        returns them unchanged."""
        return x, y

    def _needs_pipeline(self, x):
        return self.preprocessor is not None and not isinstance(
            x, keras.utils.PyDataset
        )

    def _adapt(self, x, batch_size, method):
        """A `PyDataset` of raw batches becomes a `tf.data.Dataset` of
        them, and a `tf.data.Dataset` of single examples is batched
        (`keras_mm.data.adapters`). Batches of the model's own inputs go to
        Keras as they are."""
        if self.preprocessor is None:
            return x
        if is_dataset(x):
            return batch_examples(x, self.input, batch_size)
        if not isinstance(x, keras.utils.PyDataset) or not holds_raw_inputs(
            x[0], self.input
        ):
            return x
        require_tensorflow(f"`{type(self).__name__}.{method}` on raw inputs")
        return batches_dataset(x)

    def _require_tensorflow(self, x, method):
        if self._needs_pipeline(x):
            require_tensorflow(
                f"`{type(self).__name__}.{method}` on raw inputs",
                "Without it, pass batches of the model's own inputs (token "
                "ids, not strings) in a `keras.utils.PyDataset`.",
            )

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        sample_weight=None,
        validation_data=None,
        validation_split=None,
        shuffle=True,
        **kwargs,
    ):
        self._require_tensorflow(x, "fit")
        x = self._adapt(x, batch_size, "fit")
        if (
            keras.backend.backend() == "tensorflow"
            and self._distribute_strategy is not None
        ):
            kwargs["callbacks"] = [
                *(kwargs.get("callbacks") or []),
                AverageReplicas(),
            ]
        x, y = self._prepare(x, y)
        if isinstance(validation_data, (tuple, list, dict)):
            vx, vy, vw = keras.utils.unpack_x_y_sample_weight(validation_data)
            validation_data = keras.utils.pack_x_y_sample_weight(
                *self._prepare(vx, vy), vw
            )
        x, y = self._from_frame(x, y)
        self._check_inputs(x, batch_size)
        self._check_labels(y)
        if not self._needs_pipeline(x):
            return super().fit(
                x,
                y,
                batch_size=batch_size,
                sample_weight=sample_weight,
                validation_data=validation_data,
                validation_split=validation_split,
                shuffle=shuffle,
                **kwargs,
            )
        if validation_split:
            if is_dataset(x):
                raise ValueError(
                    "`validation_split` needs arrays or lists, not a "
                    "`tf.data.Dataset`. Pass `validation_data` instead."
                )
            (x, y, sample_weight), validation_data = _split(
                (x, y, sample_weight), validation_split
            )
        data = self._dataset(x, y, sample_weight, batch_size, shuffle)
        if validation_data is not None:
            validation_data = self._dataset(
                *keras.utils.unpack_x_y_sample_weight(validation_data)
                if not is_dataset(validation_data)
                else (validation_data, None, None),
                batch_size,
            )
        return super().fit(
            data, validation_data=validation_data, shuffle=False, **kwargs
        )

    def evaluate(
        self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs
    ):
        # `fit` passes its validation dataset here already preprocessed.
        if not kwargs.get("_use_cached_eval_dataset"):
            self._require_tensorflow(x, "evaluate")
            x = self._adapt(x, batch_size, "evaluate")
            x, y = self._prepare(x, y)
            x, y = self._from_frame(x, y)
            self._check_inputs(x, batch_size)
            self._check_labels(y)
        if not self._needs_pipeline(x) or kwargs.get(
            "_use_cached_eval_dataset"
        ):
            return super().evaluate(
                x,
                y,
                batch_size=batch_size,
                sample_weight=sample_weight,
                **kwargs,
            )
        data = self._dataset(x, y, sample_weight, batch_size)
        return super().evaluate(data, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        self._require_tensorflow(x, "predict")
        x = self._adapt(x, batch_size, "predict")
        x, _ = self._prepare(x, None)
        x, _ = self._from_frame(x, None)
        self._check_inputs(x, batch_size)
        if not self._needs_pipeline(x):
            return super().predict(x, batch_size=batch_size, **kwargs)
        return super().predict(
            self._dataset(x, None, None, batch_size), **kwargs
        )


def num_rows(x):
    """The rows of raw inputs `x` (an array, a list, or a dict or tuple of
    them), counted on the first; `None` when it has no length."""
    while isinstance(x, (dict, tuple)) and x:
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    if isinstance(x, (str, dict, tuple)) or not hasattr(x, "__len__"):
        return None
    return len(x)


def _split(data, fraction):
    """Splits the last `fraction` of rows off, as Keras' `validation_split`."""

    def rows(x, start, stop):
        if x is None:
            return None
        if isinstance(x, dict):
            return {k: rows(v, start, stop) for k, v in x.items()}
        return x[start:stop]

    total = num_rows(data[0])
    cut = int(total * (1.0 - fraction))
    train = tuple(rows(part, 0, cut) for part in data)
    validation = tuple(rows(part, cut, total) for part in data)
    return train, keras.utils.pack_x_y_sample_weight(*validation)


def check_inputs(x, expected, skip=(), optional=(), path="inputs"):
    """Raises a `ValueError` where array inputs `x` cannot feed the model
    inputs `expected` (a `KerasTensor` or a dict of them): missing or unknown
    keys, wrong rank, wrong fixed sizes, strings for numbers. Keys in `skip`
    (raw inputs of a preprocessor) are not compared; keys in `optional` may
    be left out."""
    if isinstance(expected, dict):
        if not isinstance(x, dict):
            raise ValueError(
                f"{path} must be a dict with keys {sorted(expected)}. "
                f"Received: {type(x).__name__}"
            )
        unknown = sorted(set(x) - set(expected))
        missing = sorted(set(expected) - set(x) - set(optional))
        if unknown or missing:
            raise ValueError(
                f"{path} keys do not match the model's. Expected keys: "
                f"{sorted(expected)}. Received keys: {sorted(x)}"
                + (f"; unknown: {unknown}" if unknown else "")
                + (f"; missing: {missing}" if missing else "")
            )
        for key in expected:
            if key not in skip and key in x:
                check_inputs(x[key], expected[key], path=f"input '{key}'")
        return
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], str):
        kind = "strings"
    elif hasattr(x, "shape") and hasattr(x, "dtype"):
        try:
            kind = keras.backend.standardize_dtype(x.dtype)
        except (TypeError, ValueError):
            kind = str(x.dtype)
    else:
        return
    wanted = expected.shape[1:]
    if kind in ("string", "strings") or (
        kind != "bool" and not kind.startswith(("int", "uint", "float"))
    ):
        raise ValueError(
            f"{path} must hold numbers of shape (batch, "
            f"{', '.join(str(d) for d in wanted)}). Received: {kind}"
        )
    shape = tuple(x.shape)[1:]
    if len(shape) != len(wanted) or any(
        w is not None and w != s for w, s in zip(wanted, shape)
    ):
        raise ValueError(
            f"{path} must have shape (batch, "
            f"{', '.join(str(d) for d in wanted)}) (None: any size). "
            f"Received shape: {tuple(x.shape)}"
        )
