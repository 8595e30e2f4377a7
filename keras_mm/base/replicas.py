"""Keeps the replicas of a `tf.distribute` strategy in agreement.

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


class AverageReplicas(keras.callbacks.Callback):
    """Averages the replicas' copies before each evaluation (validation
    included) and at the end of training."""

    def on_test_begin(self, logs=None):
        average_replicas(self.model)

    def on_train_end(self, logs=None):
        average_replicas(self.model)
