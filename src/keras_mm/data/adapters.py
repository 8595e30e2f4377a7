"""Raw inputs in the containers Keras users pass: a `keras.utils.PyDataset`
or a Python generator of batches, a Hugging Face `datasets.Dataset`, and a
`tf.data.Dataset` of single examples.

Each becomes a batched `tf.data.Dataset` of raw inputs, which the task's
preprocessor then maps as it maps arrays.
"""

import keras
import numpy as np

from keras_mm.data.pipeline import batch
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.tf_utils import to_tf


def _is_text(leaf):
    if isinstance(leaf, (str, bytes)):
        return True
    return isinstance(leaf, np.ndarray) and leaf.dtype.kind in "USO"


def holds_raw_inputs(batch, model_inputs):
    """Whether a batch `(x, ...)` or `x` holds raw inputs (strings, or
    other keys than `model_inputs`), not the model's own inputs."""
    x = batch[0] if isinstance(batch, tuple) else batch
    if any(_is_text(leaf) for leaf in keras.tree.flatten(x)):
        return True
    if isinstance(model_inputs, dict) and not isinstance(x, dict):
        return True  # e.g. waveforms, for a model of audio and its mask
    if isinstance(x, dict) and isinstance(model_inputs, dict):
        return set(x) != set(model_inputs) or any(
            isinstance(model_inputs[key], dict) != isinstance(x[key], dict)
            for key in x
        )
    return False


def _spec(tensor):
    """A spec for every batch like `tensor`: any batch size and length;
    the last axis (channels) kept for images."""
    rank = tensor.shape.rank
    shape = [None] * rank
    if rank >= 3 and tensor.shape[-1] is not None:
        shape[-1] = tensor.shape[-1]
    if isinstance(tensor, tf.RaggedTensor):
        return tf.RaggedTensorSpec(
            shape,
            tensor.dtype,
            ragged_rank=tensor.ragged_rank,
            row_splits_dtype=tensor.row_splits.dtype,
        )
    return tf.TensorSpec(shape, tensor.dtype)


def _like(tensor, spec):
    """`tensor` as the kind (dense or ragged) that `spec` describes."""
    if not isinstance(spec, tf.RaggedTensorSpec):
        return tensor
    if not isinstance(tensor, tf.RaggedTensor):
        tensor = tf.RaggedTensor.from_tensor(tensor)
    return tensor.with_row_splits_dtype(spec.row_splits_dtype)


def _is_waveforms(x):
    """Whether `x` is a list of 1-D float (or int16 PCM) arrays."""
    return (
        isinstance(x, list)
        and bool(x)
        and all(
            isinstance(row, np.ndarray)
            and row.ndim == 1
            and (row.dtype.kind == "f" or row.dtype == np.int16)
            for row in x
        )
    )


def _ragged_waveforms(x):
    """`x` with every list of waveforms as a `tf.RaggedTensor`, even where
    their lengths agree: the first batch sets the spec of all batches, and
    a later batch may hold waveforms of different lengths."""
    if isinstance(x, dict):
        return {key: _ragged_waveforms(value) for key, value in x.items()}
    if _is_waveforms(x):
        return tf.ragged.stack([tf.convert_to_tensor(row) for row in x])
    return x


def _pack(batch):
    """A batch `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)` as a tuple
    without `None`s, in TensorFlow tensors."""
    if not isinstance(batch, tuple):
        batch = (batch,)
    return to_tf(
        tuple(_ragged_waveforms(part) for part in batch if part is not None)
    )


def batches_dataset(batches):
    """A `tf.data.Dataset` over the raw batches of a `keras.utils.PyDataset`
    (read again each epoch, `len(batches)` batches long)."""
    if len(batches) == 0:
        raise ValueError("The `keras.utils.PyDataset` holds no batch.")
    first = _pack(batches[0])
    signature = tf.nest.map_structure(_spec, first)

    def generate():
        for index in range(len(batches)):
            batch = _pack(batches[index])
            yield tf.nest.map_structure(_like, batch, signature)

    dataset = tf.data.Dataset.from_generator(
        generate, output_signature=signature
    )
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))


def is_generator(x):
    """Whether `x` is a Python generator or iterator of batches (not a
    container Keras or keras_mm takes otherwise)."""
    return hasattr(x, "__next__") and not isinstance(x, (str, bytes))


def generator_dataset(generator):
    """A `tf.data.Dataset` over the raw batches a Python generator yields:
    one pass, as Keras reads a generator (the first batch is read here,
    for the batches' structure, and given back first)."""
    try:
        first = next(generator)
    except StopIteration:
        raise ValueError("The generator yielded no batch.") from None
    signature = tf.nest.map_structure(_spec, _pack(first))
    pending = [first]

    def generate():
        while pending:
            yield tf.nest.map_structure(_like, _pack(pending.pop()), signature)
        for raw in generator:
            yield tf.nest.map_structure(_like, _pack(raw), signature)

    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def is_huggingface(x):
    """Whether `x` is a Hugging Face `datasets.Dataset`."""
    return hasattr(x, "to_tf_dataset") and hasattr(x, "column_names")


def huggingface_dataset(dataset, inputs, labels, batch_size, shuffle):
    """A Hugging Face `datasets.Dataset` as a batched `tf.data.Dataset` of
    its columns named like the model's `inputs` (and the `labels`
    column), through its `to_tf_dataset`."""
    columns = [key for key in inputs if key in dataset.column_names]
    if not columns:
        raise ValueError(
            f"The dataset has no column named like the model's inputs "
            f"{list(inputs)}. Its columns: {dataset.column_names}"
        )
    if labels is not None and labels not in dataset.column_names:
        raise ValueError(
            f"`y` must name a column of the dataset. Received: y={labels!r}; "
            f"columns: {dataset.column_names}"
        )
    return dataset.to_tf_dataset(
        columns=columns,
        label_cols=labels,
        batch_size=batch_size or 32,
        shuffle=shuffle,
    )


def unbatched_input(dataset, model_inputs):
    """`(key, spec)` of the first input that shows `dataset` to hold single
    examples (a scalar string, or one axis fewer than the model's input),
    or `None`."""
    spec = dataset.element_spec
    x = spec[0] if isinstance(spec, tuple) else spec
    items = x.items() if isinstance(x, dict) else [(None, x)]
    for key, value in items:
        if isinstance(value, dict):
            continue
        if value.dtype == tf.string and value.shape.rank == 0:
            return key, value
        model_input = (
            model_inputs.get(key) if isinstance(model_inputs, dict) else None
        )
        if key is None and not isinstance(model_inputs, dict):
            model_input = model_inputs
        if (
            model_input is not None
            and not isinstance(model_input, dict)
            and value.shape.rank == len(model_input.shape) - 1
        ):
            return key, value
    return None


def batch_examples(dataset, model_inputs, batch_size):
    """`dataset` batched by `batch_size` when it holds single examples;
    a `ValueError` that says to batch it when `batch_size` is `None`."""
    found = unbatched_input(dataset, model_inputs)
    if found is None:
        return dataset
    if batch_size is None:
        key, spec = found
        raise ValueError(
            "The `tf.data.Dataset` holds single examples, not batches "
            f"(input {key!r} has shape {tuple(spec.shape)}). Batch it, e.g. "
            "`dataset.batch(32)` (`ragged_batch` for waveforms of different "
            "lengths), or pass `batch_size=32` to batch it here."
        )
    return batch(dataset, batch_size)
