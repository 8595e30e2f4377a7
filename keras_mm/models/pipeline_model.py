import keras
import numpy as np
import tensorflow as tf

from keras_mm.api_export import keras_mm_export
from keras_mm.data.pipeline import make_dataset


@keras_mm_export
class PipelineModel(keras.Model):
    """A functional model with a `preprocessor` that runs in the data pipeline.

    `fit`, `evaluate` and `predict` take raw inputs (lists of strings,
    waveforms of any length, arrays or a batched `tf.data.Dataset`) and map
    `self.preprocessor` over them in `tf.data`, so raw strings work on every
    backend. Calling the model itself (`model(inputs)`) takes preprocessed
    tensors. Without a preprocessor this is a plain functional model.

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
        return model

    def _dataset(self, x, y, sample_weight, batch_size, shuffle=False):
        return make_dataset(
            x,
            y,
            sample_weight,
            batch_size=batch_size or 32,
            shuffle=shuffle,
            map_fn=self.preprocessor,
        )

    def _check_inputs(self, x):
        """Compares raw array inputs with the model's inputs before any
        function is traced, so a bad input fails with a clear message."""
        if x is None or isinstance(x, (tf.data.Dataset, keras.utils.PyDataset)):
            return
        preprocessor = self.preprocessor
        if preprocessor is None:
            check_inputs(x, self.input)
        elif isinstance(x, dict) and hasattr(preprocessor, "preprocessors"):
            check_inputs(x, self.input, skip=set(preprocessor.preprocessors))

    def _check_labels(self, y):
        """Class labels out of range fail here, naming the rows, instead of
        giving NaN losses (JAX) or an error deep in a kernel (TensorFlow)."""
        loss = getattr(self, "loss", None)
        sparse = (
            isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
            or loss == "sparse_categorical_crossentropy"
        )
        if not sparse or y is None or isinstance(y, tf.data.Dataset):
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

    def _needs_pipeline(self, x):
        return self.preprocessor is not None and not isinstance(
            x, keras.utils.PyDataset
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
        self._check_inputs(x)
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
            if isinstance(x, tf.data.Dataset):
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
                if not isinstance(validation_data, tf.data.Dataset)
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
            self._check_inputs(x)
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
        self._check_inputs(x)
        if not self._needs_pipeline(x):
            return super().predict(x, batch_size=batch_size, **kwargs)
        return super().predict(
            self._dataset(x, None, None, batch_size), **kwargs
        )


def _split(data, fraction):
    """Splits the last `fraction` of rows off, as Keras' `validation_split`."""

    def rows(x, start, stop):
        if x is None:
            return None
        if isinstance(x, dict):
            return {k: rows(v, start, stop) for k, v in x.items()}
        return x[start:stop]

    first = data[0]
    while isinstance(first, dict):
        first = next(iter(first.values()))
    num_rows = len(first)
    cut = int(num_rows * (1.0 - fraction))
    train = tuple(rows(part, 0, cut) for part in data)
    validation = tuple(rows(part, cut, num_rows) for part in data)
    return train, keras.utils.pack_x_y_sample_weight(*validation)


def check_inputs(x, expected, skip=(), path="inputs"):
    """Raises a `ValueError` where array inputs `x` cannot feed the model
    inputs `expected` (a `KerasTensor` or a dict of them): missing or unknown
    keys, wrong rank, wrong fixed sizes, strings for numbers."""
    if isinstance(expected, dict):
        if not isinstance(x, dict):
            raise ValueError(
                f"{path} must be a dict with keys {sorted(expected)}. "
                f"Received: {type(x).__name__}"
            )
        unknown = sorted(set(x) - set(expected))
        missing = sorted(set(expected) - set(x) - set(skip))
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
