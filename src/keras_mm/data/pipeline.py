"""tf.data pipelines that feed any Keras backend."""

import keras

from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.tf_utils import to_tf
from keras_mm.utils.validation import check_integers


def _num_rows(x):
    return int(x.nrows()) if isinstance(x, tf.RaggedTensor) else x.shape[0]


def batch(dataset, batch_size):
    """Batches a `tf.data.Dataset` of single examples: densely where every
    example has one shape, raggedly where lengths differ (waveforms)."""
    if all(
        spec.shape.is_fully_defined()
        for spec in tf.nest.flatten(dataset.element_spec)
    ):
        return dataset.batch(batch_size)
    return dataset.ragged_batch(batch_size)


def _epochs(data, rows, batch_size, epochs, seed, positions):
    """The batches of epochs `first` to `stop - 1` of `data`, one epoch
    after another, each shuffled by `seed` and its number (a stateless
    draw: no global seed and no earlier epoch changes it)."""
    first, stop = epochs

    def example(i):
        row = tf.nest.map_structure(lambda t: t[i], data)
        return (i, row) if positions else row

    def epoch(number):
        order = tf.random.experimental.stateless_shuffle(
            tf.range(rows, dtype="int64"),
            seed=tf.stack([tf.constant(seed, "int64"), number]),
        )
        examples = tf.data.Dataset.from_tensor_slices(order).map(example)
        return batch(examples, batch_size)

    return tf.data.Dataset.range(first, stop).flat_map(epoch)


def make_dataset(
    x,
    y=None,
    sample_weight=None,
    batch_size=32,
    shuffle=False,
    map_fn=None,
    read_fn=None,
    epochs=None,
    seed=None,
):
    """Returns a batched, prefetched `tf.data.Dataset` over in-memory data.

    Args:
        x: array, list of strings, list of arrays of different lengths, a
            dict of those, or a `tf.data.Dataset` (used as is: it must be
            batched already).
        y, sample_weight: same, or `None`.
        batch_size: int. Rows per batch.
        shuffle: bool. Shuffle all rows before each epoch.
        map_fn: callable `(x, y, sample_weight) -> batch`, run on each
            batch in parallel (a preprocessor), or `None`.
        read_fn: callable from a `tf.data.Dataset` of `(positions,
            batch)` (the rows' positions in `x`) to one of batches, run
            before `map_fn` (reading files), or `None`.
        epochs: `(first, stop)` or `None`. With `shuffle`, the dataset
            holds the batches of epochs `first` to `stop - 1` one after
            another (iterate it once, with `steps_per_epoch`), each epoch
            in an order drawn from `seed` and its number alone: a run
            resumed at an epoch sees the order a run never stopped saw.
        seed: int, the seed of the orders with `epochs`.
    """
    require_tensorflow("`make_dataset`")
    check_integers(batch_size=batch_size)
    if isinstance(x, tf.data.Dataset):
        dataset = x
    else:
        if sample_weight is not None:
            data = to_tf((x, y, sample_weight))
        else:
            data = to_tf(x if y is None else (x, y))
        sizes = {_num_rows(t) for t in tf.nest.flatten(data)}
        if len(sizes) > 1:
            raise ValueError(
                "All inputs, labels and sample weights must have the same "
                f"number of rows. Received row counts: {sorted(sizes)}"
            )
        dataset = tf.data.Dataset.from_tensor_slices(data)
        if read_fn is not None:
            dataset = dataset.enumerate()
        rows = next(iter(sizes), 0)
        if shuffle and epochs is not None:
            dataset = _epochs(
                data, rows, batch_size, epochs, seed, read_fn is not None
            )
        else:
            if shuffle:
                # A buffer of at least 1: no rows make an empty dataset.
                dataset = dataset.shuffle(
                    max(rows, 1), reshuffle_each_iteration=True
                )
            dataset = batch(dataset, batch_size)
        if read_fn is not None:
            dataset = read_fn(dataset)
        if shuffle and epochs is not None:
            # Known, so that `fit` sets `steps_per_epoch` from it.
            dataset = dataset.apply(
                tf.data.experimental.assert_cardinality(
                    (epochs[1] - epochs[0]) * -(-rows // batch_size)
                )
            )
    if map_fn is not None:
        dataset = dataset.map(
            lambda *batch: map_fn(
                *keras.utils.unpack_x_y_sample_weight(
                    batch[0] if len(batch) == 1 else batch
                )
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
