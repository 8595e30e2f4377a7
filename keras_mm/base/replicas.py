"""Several devices: keeps the replicas of a `tf.distribute` strategy in
agreement, and checks batches against a `keras.distribution`.

Keras 3 creates BatchNormalization's moving statistics without a
cross-replica aggregation, so under `tf.distribute.MirroredStrategy` each
replica updates its own copy from its share of the batch: after `fit`, a
prediction would depend on the replica that made it, and the saved model
holds the first replica's copy. Averaging the copies (as `tf.keras` 2 did
on read) gives every replica, and the saved model, the same statistics.
"""

import keras

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
