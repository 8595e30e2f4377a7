"""Resuming a killed `fit` where it stopped, with the weights it would have
had.

`keras.callbacks.BackupAndRestore(backup_dir, save_freq=N)` backs up the
weights, the optimizer and the epoch every `N` batches. On resuming, Keras
3 starts the interrupted epoch again from its first batch, so the batches
already trained are trained twice; the epoch's shuffled order and the
dropout masks are drawn anew; and a second interruption within the resumed
epoch resumes from epoch 0. `PipelineModel.fit` therefore runs
`ExactBackupAndRestore` in its place: the same files, whose metadata also
holds the batches done in the epoch, the seed of the data order and the
state of the model's random generators. On resuming, the batches done pass
without training, the raw-input pipeline draws each epoch's order from that
seed and the epoch's number alone (`keras_mm.data.make_dataset`), and the
run ends with the weights of a run never stopped. It also backs up the
mean of a `tf.distribute` strategy's replicas, and leaves no restored epoch
on the model for a later `fit`.

`resumable_callbacks` also refuses a `keras.callbacks.OrbaxCheckpoint` with
a relative directory before training starts.
"""

import json
import os
import random
import shutil

import keras
import numpy as np

from keras_mm.base.replicas import average_replicas
from keras_mm.utils.tf_utils import tf

# The key of keras_mm's part of the metadata, beside Keras' "epoch" and
# "batch".
_KEY = "keras_mm"


def _exists(path):
    return tf.io.gfile.exists(path) if tf is not None else os.path.exists(path)


def _copy(source, target):
    if tf is not None:
        tf.io.gfile.copy(source, target, overwrite=True)
    else:
        shutil.copyfile(source, target)


def _read(path):
    if tf is not None:
        with tf.io.gfile.GFile(path, "r") as f:
            return f.read()
    with open(path) as f:
        return f.read()


def _write(path, text):
    if tf is not None:
        with tf.io.gfile.GFile(path, "w") as f:
            f.write(text)
    else:
        with open(path, "w") as f:
            f.write(text)


def _makedirs(path):
    if tf is not None:
        tf.io.gfile.makedirs(path)
    else:
        os.makedirs(path, exist_ok=True)


def _iterations(model):
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def _seed_states(model):
    """The state variables of the model's random generators (dropout,
    SpecAugment, modality dropout), which `save_weights` leaves out."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


class ExactBackupAndRestore(keras.callbacks.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that resumes mid-epoch exactly.

    It writes the files of Keras' callback, with more in the metadata (see
    the module's docstring). A backup written by Keras' own callback
    resumes as Keras resumes it.
    """

    def __init__(
        self,
        backup_dir,
        save_freq="epoch",
        double_checkpoint=False,
        delete_checkpoint=True,
    ):
        super().__init__(
            backup_dir,
            save_freq=save_freq,
            double_checkpoint=double_checkpoint,
            delete_checkpoint=delete_checkpoint,
        )
        # Set by `fit` before training: the seed of the data order.
        self.shuffle_seed = None
        self._epoch = 0
        self._batches_done = 0
        self._skip = 0

    @classmethod
    def replacing(cls, callback):
        """The `ExactBackupAndRestore` of a Keras `BackupAndRestore`."""
        return cls(
            callback.backup_dir,
            save_freq=callback.save_freq,
            double_checkpoint=callback.double_checkpoint,
            delete_checkpoint=callback.delete_checkpoint,
        )

    def metadata(self):
        """The backup's metadata; `{}` when there is none."""
        if not _exists(self._training_metadata_path):
            return {}
        try:
            return json.loads(_read(self._training_metadata_path))
        except ValueError:
            return {}

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if not _exists(self._weights_path):
            return
        state = self.metadata().get(_KEY, {})
        # Weights newer than the metadata (a kill between the two writes)
        # resume as Keras resumes them.
        if state.get("iterations") != _iterations(self.model):
            return
        variables = _seed_states(self.model)
        values = state.get("seed_states", [])
        if len(values) == len(variables):
            for variable, value in zip(variables, values):
                variable.assign(np.asarray(value, dtype=variable.dtype))
        self._skip = state.get("batches_done", 0)
        if self._skip:
            _skip_steps(self.model, self._skip)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if batch < self._skip:
            return
        self._batches_done = batch + 1
        super().on_train_batch_end(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self._skip:
            unwrap(self.model)
        self._skip = 0
        self._epoch = epoch + 1
        self._batches_done = 0
        super().on_epoch_end(epoch, logs)

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        # Keras leaves the restored epoch on the model, where it would
        # start every later `fit` at that epoch.
        self.model._initial_epoch = None

    def _save_model(self):
        # Keras' steps, with one metadata file that holds keras_mm's part.
        if keras.backend.backend() == "tensorflow" and (
            self.model._distribute_strategy is not None
        ):
            # Each replica of a `tf.distribute` strategy keeps its own
            # BatchNormalization statistics: back up their mean (as `fit`
            # leaves it), not the first replica's alone.
            average_replicas(self.model)
        _makedirs(self.backup_dir)
        if self.double_checkpoint:
            for path, previous in (
                (self._weights_path, self._prev_weights_path),
                (
                    self._training_metadata_path,
                    self._prev_training_metadata_path,
                ),
            ):
                if _exists(path):
                    _copy(path, previous)
        self.model.save_weights(self._weights_path, overwrite=True)
        metadata = {
            "epoch": self._epoch,
            "batch": self._last_batch_seen,
            _KEY: {
                "batches_done": self._batches_done,
                "shuffle_seed": self.shuffle_seed,
                "iterations": _iterations(self.model),
                "seed_states": [
                    keras.ops.convert_to_numpy(v).tolist()
                    for v in _seed_states(self.model)
                ],
            },
        }
        _write(self._training_metadata_path, json.dumps(metadata))


def _skip_steps(model, count):
    """Makes the next `count` batches of `fit` pass without training (they
    were trained before the interruption), then restores the train step."""
    train = unwrap(model)
    calls = -(-count // model.steps_per_execution)
    backend = keras.backend.backend()

    def skipping(*args):
        nonlocal calls
        if calls <= 0:
            model.train_function = train
            return train(*args)
        calls -= 1
        # JAX and TensorFlow pass the iterator, which the step reads from;
        # PyTorch passes the batches, already read.
        batches = args[-1]
        if not isinstance(batches, (list, tuple)):
            for _ in range(model.steps_per_execution):
                next(batches, None)
        return ({}, args[0]) if backend == "jax" else {}

    skipping.unwrapped = train
    model.train_function = skipping


def unwrap(model):
    """Restores the train step that `_skip_steps` wrapped (a `fit` may stop
    while it skips); returns it."""
    original = getattr(model.train_function, "unwrapped", None)
    if original is not None:
        model.train_function = original
    return model.train_function


def resumable_callbacks(model, callbacks):
    """`callbacks` with each `keras.callbacks.BackupAndRestore` (not a
    subclass) replaced by an `ExactBackupAndRestore`, and the last
    `ExactBackupAndRestore` among them (`None` without one). An
    `OrbaxCheckpoint` with a relative directory fails here: Orbax refuses
    one at its first save, which under background saving only prints the
    error and trains on without checkpoints."""
    unwrap(model)
    if callbacks is None or isinstance(callbacks, keras.callbacks.CallbackList):
        return callbacks, None
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.OrbaxCheckpoint):
            directory = os.fspath(callback.directory)
            if "://" not in directory and not os.path.isabs(directory):
                raise ValueError(
                    "`keras.callbacks.OrbaxCheckpoint` needs an absolute "
                    "`directory` (Orbax refuses relative ones): pass "
                    f"`os.path.abspath({directory!r})`. Received: "
                    f"directory={directory!r}"
                )
    replaced = [
        ExactBackupAndRestore.replacing(c)
        if type(c) is keras.callbacks.BackupAndRestore
        else c
        for c in callbacks
    ]
    backups = [c for c in replaced if isinstance(c, ExactBackupAndRestore)]
    return replaced, backups[-1] if backups else None


def epoch_order(model, backup, initial_epoch, epochs):
    """`(first, stop, seed)`: the epochs that `fit` will run and the seed of
    their shuffled order, read from `backup`'s metadata when it resumes a
    run. The seed is drawn from Python's `random` (which
    `keras.utils.set_random_seed` seeds) in every case, so that a run with
    a backup draws what one without it draws."""
    seed = random.randrange(2**31)
    metadata = backup.metadata() if backup is not None else {}
    first = model._initial_epoch or initial_epoch
    if metadata:
        first = metadata.get("epoch", 0) or initial_epoch
        saved = metadata.get(_KEY, {}).get("shuffle_seed")
        seed = seed if saved is None else saved
    if backup is not None:
        backup.shuffle_seed = seed
    # Keras still builds the model from a first batch when no epoch is
    # left to run.
    stop = max(epochs, 1)
    return min(first, stop - 1), stop, seed
