"""Several devices: keeps the replicas of a `tf.distribute` strategy in
agreement, and fits batches to a `keras.distribution` (JAX): checks that
the devices split them evenly, pads the rows to predict so that they do,
and keeps the data pipeline's batches visible to Keras' sharding between
processes.

Keras 3 creates BatchNormalization's moving statistics without a
cross-replica aggregation, so under `tf.distribute.MirroredStrategy` each
replica updates its own copy from its share of the batch: after `fit`, a
prediction would depend on the replica that made it, and the saved model
holds the first replica's copy. Averaging the copies (as `tf.keras` 2 did
on read) gives every replica, and the saved model, the same statistics.
"""

import keras
import numpy as np

from keras_mm.utils.tf_utils import tf


def average_replicas(model):
    """Sets every floating-point non-trainable variable of `model` to its
    mean over the replicas of the model's distribution strategy."""
    strategy = model.distribute_strategy
    if strategy.num_replicas_in_sync < 2:
        return
    for variable in model.non_trainable_variables:
        if not keras.backend.is_float_dtype(variable.dtype):
            continue
        copies = strategy.experimental_local_results(variable.value)
        if len(copies) > 1:
            variable.assign(tf.add_n(list(copies)) / len(copies))


def first_replica(strategy, batch):
    """Each distributed value of `batch` replaced by its first replica's."""
    return keras.tree.map_structure(
        lambda value: (
            strategy.experimental_local_results(value)[0]
            if value is not None
            else None
        ),
        batch,
    )


class AverageReplicas(keras.callbacks.Callback):
    """Averages the replicas' copies before each evaluation (validation
    included) and at the end of training."""

    def on_test_begin(self, logs=None):
        average_replicas(self.model)

    def on_train_end(self, logs=None):
        average_replicas(self.model)


def batch_shards():
    """How many devices split each batch under the current
    `keras.distribution` (JAX); 1 without one."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return 1
    mesh = distribution.device_mesh
    name = getattr(distribution, "batch_dim_name", None)
    if name not in mesh.axis_names:
        return 1
    return mesh.shape[list(mesh.axis_names).index(name)]


def check_batches(num_rows, batch_size, shards):
    """Raises a `ValueError` when `num_rows` rows in batches of
    `batch_size` make a batch that `shards` devices cannot split evenly
    (JAX would fail deep in its sharding code)."""
    if num_rows is None:
        return
    last = num_rows % batch_size
    if batch_size % shards == 0 and last % shards == 0:
        return
    raise ValueError(
        f"The `keras.distribution` splits every batch over {shards} "
        f"devices, so each batch must hold a multiple of {shards} rows. "
        f"Received {num_rows} rows in batches of {batch_size}"
        + (f" (the last holds {last})" if last else "")
        + f". Pass a `batch_size` that is a multiple of {shards}, and a "
        f"number of rows that leaves a multiple of {shards} for the last "
        f"batch (e.g. drop the last {last % shards} rows)."
    )


def pad_rows(x, rows, batch_size, shards):
    """Raw inputs `x` of `rows` rows (an array, a list, or a dict or tuple
    of them) with copies of their last row appended, so that the last
    batch of `batch_size` holds a multiple of `shards` rows, as the
    devices of a `keras.distribution` need. Returns them and the number of
    rows to keep of the outputs (`None` when nothing was added), for
    `trim_rows`."""
    if shards < 2 or not rows or batch_size % shards:
        return x, None
    missing = -(rows % batch_size) % shards
    if not missing:
        return x, None

    def pad(values):
        if isinstance(values, dict):
            return {key: pad(value) for key, value in values.items()}
        if isinstance(values, tuple):
            return tuple(pad(value) for value in values)
        if isinstance(values, list) and len(values) == rows:
            return values + values[-1:] * missing
        if getattr(values, "shape", ())[:1] == (rows,):
            last = np.asarray(values[-1:])
            return np.concatenate([values, np.repeat(last, missing, 0)])
        return values

    return pad(x), rows


def trim_rows(outputs, rows):
    """The first `rows` rows of every output (all of them for `None`)."""
    if rows is None:
        return outputs
    return keras.tree.map_structure(lambda value: value[:rows], outputs)


def shardable(dataset, batch_size):
    """`dataset`, batches of `batch_size` rows made from arrays and then
    preprocessed, with batching as its last step under a
    `keras.distribution` over several processes that shards datasets
    (`auto_shard_dataset`, the default). Keras then splits each global
    batch between the processes, and finds its size from the dataset's
    last batching step: the preprocessing `map` after it hides it, and
    Keras would refuse the dataset. `batch_size=None` (a dataset given by
    the user, whose batch size is unknown here) leaves it as it is."""
    distribution = keras.distribution.distribution()
    if (
        batch_size is None
        or distribution is None
        or distribution.num_processes < 2
        or not distribution.auto_shard_dataset
    ):
        return dataset
    batches = dataset.cardinality()
    dataset = dataset.unbatch().batch(batch_size)
    if batches >= 0:
        dataset = dataset.apply(
            tf.data.experimental.assert_cardinality(batches)
        )
    return dataset.prefetch(tf.data.AUTOTUNE)
