"""tf.data pipelines that feed any Keras backend."""

import keras

from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.tf_utils import to_tf


def _num_rows(x):
    return int(x.nrows()) if isinstance(x, tf.RaggedTensor) else x.shape[0]


def make_dataset(
    x, y=None, sample_weight=None, batch_size=32, shuffle=False, map_fn=None
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
    """
    require_tensorflow("`make_dataset`")
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
        if shuffle:
            dataset = dataset.shuffle(
                sizes.pop(), reshuffle_each_iteration=True
            )
        ragged = any(
            isinstance(t, tf.RaggedTensor) for t in tf.nest.flatten(data)
        )
        if ragged:
            dataset = dataset.ragged_batch(batch_size)
        else:
            dataset = dataset.batch(batch_size)
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
