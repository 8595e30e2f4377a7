import functools
import math

import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.base.failures import clear_failures
from keras_mm.base.file_inputs import FileInputs
from keras_mm.base.file_inputs import is_frame
from keras_mm.base.input_checks import check_arguments
from keras_mm.base.input_checks import check_finite_inputs
from keras_mm.base.input_checks import check_inputs
from keras_mm.base.input_checks import check_labels
from keras_mm.base.input_checks import check_not_empty
from keras_mm.base.input_checks import num_rows
from keras_mm.base.input_checks import split_rows
from keras_mm.base.replicas import AverageReplicas
from keras_mm.base.replicas import batch_shards
from keras_mm.base.replicas import check_batches
from keras_mm.base.replicas import first_replica
from keras_mm.base.replicas import pad_rows
from keras_mm.base.replicas import shardable
from keras_mm.base.replicas import trim_rows
from keras_mm.base.resume import epoch_order
from keras_mm.base.resume import resumable_callbacks
from keras_mm.data.adapters import batches_dataset
from keras_mm.data.adapters import generator_dataset
from keras_mm.data.adapters import holds_raw_inputs
from keras_mm.data.adapters import is_generator
from keras_mm.data.pipeline import make_dataset
from keras_mm.schedules import span_fit
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
    waveforms of any length, arrays, image and audio file paths, a pandas
    DataFrame or a Hugging Face `datasets.Dataset` whose columns are the
    input keys, a `tf.data.Dataset`, a `keras.utils.PyDataset` or a
    generator) and map `self.preprocessor` over them in `tf.data`, so raw
    strings work on every backend. Calling the model itself
    (`model(inputs)`) takes preprocessed tensors. Without a preprocessor
    this is a plain functional model.

    Files are read in the pipeline as batches are needed
    (`keras_mm.data.streaming`), so memory stays flat in the number of
    rows; an unreadable file raises a `ValueError` naming its row. With a
    DataFrame, the columns named like the model's inputs are read (others
    are ignored), and `y` may be the name of its label column; to skip
    unreadable rows, pass `keras_mm.data.stream_frame(frame, ...,
    on_error="skip")` instead.

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
        spec = self.__dict__.get("_data_spec")
        if data_batch is None and iterator is not None and spec is None:
            for _, _, batches in iterator:
                data_batch = next(batches)
                break
        if self._distribute_strategy is not None and data_batch is not None:
            data_batch = first_replica(self._distribute_strategy, data_batch)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def _symbolic_build(self, iterator=None, data_batch=None):
        # Shapes are all a build needs: with the pipeline's element spec,
        # no batch is taken from the iterator, which would lose it from a
        # one-pass source (a generator) and read its files for nothing.
        spec = self.__dict__.pop("_data_spec", None)
        if data_batch is None and spec is not None:
            x, y, weights = keras.utils.unpack_x_y_sample_weight(
                keras.tree.map_structure(
                    lambda s: keras.KerasTensor(tuple(s.shape), s.dtype.name),
                    spec,
                )
            )
            try:  # Sizes the pipeline leaves open, from the model's inputs.
                x = keras.tree.map_structure(_known_sizes, x, self.input)
            except (TypeError, ValueError):
                pass
            data_batch = keras.utils.pack_x_y_sample_weight(x, y, weights)
        super()._symbolic_build(iterator=iterator, data_batch=data_batch)

    def _dataset(
        self, x, y, sample_weight, batch_size, shuffle=False, order=None
    ):
        prepare = getattr(self.preprocessor, "prepare", None)
        read_fn = None
        if not is_dataset(x):
            if prepare is not None:
                x = prepare(x)
            paths = FileInputs(self).path_keys(x)
            if paths:
                read_fn = functools.partial(
                    FileInputs(self).read, keys=paths, positions=True
                )
        dataset = make_dataset(
            x,
            y,
            sample_weight,
            batch_size=batch_size or 32,
            shuffle=shuffle,
            map_fn=self.preprocessor,
            read_fn=read_fn,
            epochs=order[:2] if order else None,
            seed=order[2] if order else None,
        )
        return shardable(dataset, None if is_dataset(x) else batch_size or 32)

    def _check_inputs(self, x, batch_size=None, method="predict"):
        """Compares raw inputs with the model's inputs before any function
        is traced, so a bad input fails with a clear message."""
        if x is None or isinstance(x, keras.utils.PyDataset):
            return
        check_not_empty(x, method)
        if is_dataset(x):
            return
        shards = batch_shards()
        if shards > 1 and method != "predict":  # `predict` pads the rows.
            check_batches(num_rows(x), batch_size or 32, shards)
        preprocessor = self.preprocessor
        raw = set(getattr(preprocessor, "preprocessors", None) or ())
        if preprocessor is None or raw:
            check_inputs(
                x,
                self.input,
                skip=raw | set(FileInputs(self).path_keys(x)) | {"present"},
                optional=set(getattr(preprocessor, "missing", None) or ())
                | {"present"},
            )
        check_finite_inputs(x)

    def _check_labels(self, x, y, method):
        """Labels a loss cannot take fail here, naming the rows, instead of
        giving NaN losses (JAX) or an error deep in a kernel."""
        if (
            is_dataset(x)
            or is_dataset(y)
            or isinstance(x, keras.utils.PyDataset)
            or is_generator(x)
        ):
            return y
        return check_labels(y, getattr(self, "loss", None), self.output, method)

    def _from_table(self, x, y, batch_size=None, shuffle=False):
        """A pandas DataFrame or a Hugging Face `datasets.Dataset` -> raw
        inputs (`FileInputs.from_table`); anything else as it is."""
        return FileInputs(self).from_table(x, y, batch_size, shuffle)

    def _encode_labels(self, y):
        """Labels as users give them -> as the loss takes them (class
        names -> indices, in a classifier). The default returns `y`."""
        return y

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
        if is_generator(x):
            require_tensorflow(
                f"`{type(self).__name__}.{method}` on a generator"
            )
            return generator_dataset(x)
        if is_dataset(x):
            return FileInputs(self).read_dataset(x, batch_size)
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

    @clear_failures
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
        check_arguments(
            "fit",
            x,
            batch_size,
            sample_weight,
            kwargs.get("epochs"),
            validation_split,
        )
        self._require_tensorflow(x, "fit")
        x = self._adapt(x, batch_size, "fit")
        # Keras' BackupAndRestore restarts an interrupted epoch from its
        # first batch; keras_mm's resumes it at the last backup.
        kwargs["callbacks"], backup = resumable_callbacks(
            self, kwargs.get("callbacks")
        )
        if (
            keras.backend.backend() == "tensorflow"
            and self._distribute_strategy is not None
        ):
            kwargs["callbacks"] = [
                *(kwargs.get("callbacks") or []),
                AverageReplicas(),
            ]
        x, y = self._prepare(x, y)
        if validation_split and is_frame(x):
            # Split the frame's rows, so that both parts are streamed.
            cut = int(len(x.index) * (1.0 - validation_split))
            held_out = y if y is None or isinstance(y, str) else y[cut:]
            validation_data = (x.iloc[cut:], held_out)
            x, y = x.iloc[:cut], y if held_out is y else y[:cut]
            validation_split = None
        if isinstance(validation_data, (tuple, list, dict)):
            vx, vy, vw = keras.utils.unpack_x_y_sample_weight(validation_data)
            vx, vy = self._from_table(*self._prepare(vx, vy), batch_size)
            vy = self._encode_labels(vy)
            self._check_inputs(vx, batch_size, "fit")
            vy = self._check_labels(vx, vy, "fit")
            validation_data = keras.utils.pack_x_y_sample_weight(vx, vy, vw)
        x, y = self._from_table(x, y, batch_size, shuffle)
        y = self._encode_labels(y)
        self._check_inputs(x, batch_size, "fit")
        y = self._check_labels(x, y, "fit")
        if not self._needs_pipeline(x):
            span_fit(self, fit_steps(x, batch_size, validation_split, kwargs))
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
            (x, y, sample_weight), validation_data = split_rows(
                (x, y, sample_weight), validation_split
            )
        order = None
        if shuffle and not is_dataset(x) and not kwargs.get("steps_per_epoch"):
            # Each epoch's order from a seed and the epoch alone, so that
            # a resumed run sees the batches a run never stopped saw.
            order = epoch_order(
                self,
                backup,
                kwargs.get("initial_epoch", 0),
                kwargs.get("epochs", 1),
            )
        data = self._dataset(x, y, sample_weight, batch_size, shuffle, order)
        self.__dict__["_data_spec"] = data.element_spec
        if order:
            kwargs["steps_per_epoch"] = int(data.cardinality()) // (
                order[1] - order[0]
            )
        if validation_data is not None:
            validation_data = self._dataset(
                *keras.utils.unpack_x_y_sample_weight(validation_data)
                if not is_dataset(validation_data)
                else (validation_data, None, None),
                batch_size,
            )
        span_fit(self, fit_steps(data, batch_size, None, kwargs))
        return super().fit(
            data, validation_data=validation_data, shuffle=False, **kwargs
        )

    @clear_failures
    def evaluate(
        self, x=None, y=None, batch_size=None, sample_weight=None, **kwargs
    ):
        # `fit` passes its validation dataset here already preprocessed.
        if not kwargs.get("_use_cached_eval_dataset"):
            check_arguments("evaluate", x, batch_size, sample_weight)
            self._require_tensorflow(x, "evaluate")
            x = self._adapt(x, batch_size, "evaluate")
            x, y = self._prepare(x, y)
            x, y = self._from_table(x, y, batch_size)
            y = self._encode_labels(y)
            self._check_inputs(x, batch_size, "evaluate")
            y = self._check_labels(x, y, "evaluate")
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
        self.__dict__["_data_spec"] = data.element_spec
        return super().evaluate(data, **kwargs)

    @clear_failures
    def predict(self, x, batch_size=None, **kwargs):
        check_arguments("predict", x, batch_size)
        self._require_tensorflow(x, "predict")
        x = self._adapt(x, batch_size, "predict")
        x, _ = self._prepare(x, None)
        x, _ = self._from_table(x, None, batch_size)
        self._check_inputs(x, batch_size)
        rows = None
        if not is_dataset(x) and not isinstance(x, keras.utils.PyDataset):
            # Any number of rows: the last batch is padded for the devices
            # of a `keras.distribution`, and the padding's outputs dropped.
            x, rows = pad_rows(x, num_rows(x), batch_size or 32, batch_shards())
        if not self._needs_pipeline(x):
            outputs = super().predict(x, batch_size=batch_size, **kwargs)
        else:
            outputs = super().predict(
                self._dataset(x, None, None, batch_size), **kwargs
            )
        return trim_rows(outputs, rows)


def _known_sizes(tensor, model_input):
    shape = tuple(
        given if given is not None else wanted
        for given, wanted in zip(tensor.shape, model_input.shape)
    )
    return keras.KerasTensor(shape, tensor.dtype)


def _batches_per_epoch(x, batch_size, validation_split, kwargs):
    """The batches in one epoch of `fit(x, ...)`, or `None` if unknown."""
    if kwargs.get("steps_per_epoch"):
        return kwargs["steps_per_epoch"]
    if is_dataset(x):
        return x.cardinality()
    if isinstance(x, keras.utils.PyDataset):
        try:
            return x.num_batches
        except NotImplementedError:
            return None
    rows = num_rows(x)
    if rows is None:
        return None
    rows = math.ceil(rows * (1.0 - (validation_split or 0.0)))
    return math.ceil(rows / (batch_size or 32))


def fit_steps(x, batch_size, validation_split, kwargs):
    """The optimizer steps of `fit(x, batch_size=..., **kwargs)`, or `None`
    when the epoch's length is unknown (a generator, or a tf.data
    cardinality that is infinite or unknown)."""
    batches = _batches_per_epoch(x, batch_size, validation_split, kwargs)
    batches = -1 if batches is None else int(batches)
    if batches <= 0:
        return None
    return batches * (kwargs.get("epochs", 1) - kwargs.get("initial_epoch", 0))
