"""Long runs that resume: `keras.callbacks.BackupAndRestore` and
`keras.callbacks.OrbaxCheckpoint` with every task. A run killed mid-epoch
and resumed ends with the weights of a run never stopped, with the same
seeds."""

import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mm
from keras_mm.data.pipeline import make_dataset
from tests.test_case import TestCase

# Trains a small image+text classifier for 2 epochs of 5 batches, backed up
# every 2 batches; with "kill", it kills itself (SIGKILL) after batch 3 of
# epoch 1, one batch after the last backup.
CHILD = """
import os, signal, sys
import keras
import numpy as np
import keras_mm

directory, mode = sys.argv[1:3]
keras.utils.set_random_seed(0)
data = keras_mm.datasets.scenes(num_samples=100, image_size=32, seed=0)
vocab = keras_mm.encoders.text_vocabulary(data["train"]["statements"])
model = keras_mm.build_classifier(
    {"images": keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
     "text": keras_mm.encoders.text("transformer_small", vocabulary=vocab,
                                    sequence_length=16)},
    num_classes=3, fusion="concat")
model.compile()


class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if mode == "kill" and (self.epoch, batch) == (1, 3):
            sys.stdout.flush()
            os.kill(os.getpid(), signal.SIGKILL)


backup = keras.callbacks.BackupAndRestore(
    os.path.join(directory, "backup"), save_freq=2)
history = model.fit(
    {"images": data["train"]["images"], "text": data["train"]["statements"]},
    data["train"]["labels"], epochs=2, batch_size=16, verbose=0,
    callbacks=[backup, Kill()])
np.savez(os.path.join(directory, "weights.npz"),
         *[np.asarray(w) for w in model.weights])
print("EPOCHS RUN", len(history.history["loss"]))
"""


def scenes():
    return keras_mm.datasets.scenes(num_samples=100, image_size=32, seed=0)


def classifier(data):
    keras.utils.set_random_seed(0)
    vocab = keras_mm.encoders.text_vocabulary(data["train"]["statements"])
    model = keras_mm.build_classifier(
        {
            "images": keras_mm.encoders.image(
                "cnn_small", image_shape=(32, 32, 3)
            ),
            "text": keras_mm.encoders.text(
                "transformer_small", vocabulary=vocab, sequence_length=16
            ),
        },
        num_classes=3,
        fusion="concat",
    )
    model.compile()
    return model


def captioner(data):
    keras.utils.set_random_seed(0)
    model = keras_mm.build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        keras_mm.encoders.text_vocabulary(data["train"]["captions"]),
        sequence_length=8,
        num_layers=1,
        hidden_dim=16,
    )
    model.compile()
    return model


def recognizer():
    keras.utils.set_random_seed(0)
    model = keras_mm.build_speech_recognizer(
        vocabulary=list("ab "),
        sample_rate=8000,
        max_duration=0.5,
        hidden_dim=16,
        num_layers=1,
    )
    model.compile()
    return model


class Interrupt(keras.callbacks.Callback):
    """Raises after batch `batch` of epoch `epoch`."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at = (epoch, batch)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise RuntimeError("Interrupted")


def weights(model):
    return [keras.ops.convert_to_numpy(w) for w in model.weights]


# Orbax fills in the shardings itself when loading on one device.
orbax_warning = pytest.mark.filterwarnings(
    "ignore:Sharding info not provided when restoring:UserWarning"
)


class EpochOrderTest(TestCase):
    @pytest.mark.backend_independent
    def test_an_epoch_order_depends_on_the_seed_and_epoch_alone(self):
        x = np.arange(10)

        def batches(epochs, seed=7):
            dataset = make_dataset(
                x, x * 10, batch_size=4, shuffle=True, epochs=epochs, seed=seed
            )
            self.assertEqual(
                int(dataset.cardinality()), 3 * len(range(*epochs))
            )
            return [
                (bx.numpy().tolist(), by.numpy().tolist()) for bx, by in dataset
            ]

        run = batches((0, 3))
        epochs = [run[i : i + 3] for i in (0, 3, 6)]
        for epoch in epochs:
            self.assertEqual([len(bx) for bx, _ in epoch], [4, 4, 2])
            rows = sum((bx for bx, _ in epoch), [])
            self.assertEqual(sorted(rows), list(range(10)))
            for bx, by in epoch:
                self.assertEqual(by, [v * 10 for v in bx])
        self.assertNotEqual(epochs[0], epochs[1])
        # A run that starts at epoch 2 sees what the whole run saw there.
        self.assertEqual(batches((2, 3)), epochs[2])
        self.assertNotEqual(batches((2, 3), seed=8), epochs[2])


class OrbaxCheckpointTest(TestCase):
    def test_relative_directory_fails_before_training(self):
        inputs = keras.Input((2,))
        model = keras_mm.models.PipelineModel(
            inputs, keras.layers.Dense(1)(inputs)
        )
        model.compile(loss="mse")
        checkpoint = keras.callbacks.OrbaxCheckpoint("checkpoints/run")
        with self.assertRaisesRegex(
            ValueError,
            r"needs an absolute `directory`.*"
            r"os.path.abspath\('checkpoints/run'\)",
        ):
            model.fit(
                np.zeros((4, 2)), np.zeros(4), verbose=0, callbacks=[checkpoint]
            )
        self.assertEqual(int(model.optimizer.iterations), 0)


class BackupAndRestoreTest(TestCase):
    def assertSameWeights(self, got, expected, tolerance=1e-6):
        self.assertEqual(len(got), len(expected))
        for a, b in zip(got, expected):
            self.assertAllClose(a, b, atol=tolerance, rtol=tolerance)

    @pytest.mark.slow
    @orbax_warning
    def test_killed_classifier_resumes_to_the_same_weights(self):
        # The child runs on this suite's backend.
        directory = self.get_temp_dir()
        env = dict(os.environ, KERAS_BACKEND=keras.backend.backend())

        def child(mode):
            return subprocess.run(
                [sys.executable, "-c", CHILD, directory, mode],
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )

        killed = child("kill")
        self.assertEqual(
            killed.returncode, -signal.SIGKILL, killed.stderr[-3000:]
        )
        with open(
            os.path.join(directory, "backup", "training_metadata.json")
        ) as f:
            metadata = json.load(f)
        # Backed up after batch 2 of epoch 1; batch 3 was lost with the kill.
        self.assertEqual(metadata["epoch"], 1)
        self.assertEqual(metadata["keras_mm"]["batches_done"], 3)
        self.assertEqual(metadata["keras_mm"]["iterations"], 8)
        self.assertFalse(os.path.exists(os.path.join(directory, "weights.npz")))

        resumed = child("resume")
        self.assertEqual(resumed.returncode, 0, resumed.stderr[-3000:])
        self.assertIn("EPOCHS RUN 1", resumed.stdout)
        self.assertFalse(os.path.exists(os.path.join(directory, "backup")))

        # Never stopped, here, with no backup; saved with Orbax.
        data = scenes()
        model = classifier(data)
        orbax_dir = os.path.join(directory, "orbax")
        model.fit(
            {
                "images": data["train"]["images"],
                "text": data["train"]["statements"],
            },
            data["train"]["labels"],
            epochs=2,
            batch_size=16,
            verbose=0,
            callbacks=[keras.callbacks.OrbaxCheckpoint(orbax_dir)],
        )
        with np.load(os.path.join(directory, "weights.npz")) as saved:
            got = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        self.assertSameWeights(got, weights(model))

        # The Orbax checkpoint loads as the whole task, optimizer included.
        loaded = keras.saving.load_model(orbax_dir)
        self.assertIsInstance(loaded, keras_mm.models.MultimodalClassifier)
        self.assertEqual(int(loaded.optimizer.iterations), 10)
        test = {
            "images": data["test"]["images"],
            "text": data["test"]["statements"],
        }
        self.assertAllClose(
            loaded.predict(test, verbose=0), model.predict(test, verbose=0)
        )

    def check_task(self, build, x, y, batch_size, interruptions):
        """Trains `build()` for 2 epochs never stopped (with an Orbax
        checkpoint), then stopped at each of `interruptions` and resumed;
        both end with the same weights, and the Orbax checkpoint loads."""
        directory = self.get_temp_dir()
        orbax_dir = os.path.join(directory, "orbax")
        model = build()
        model.fit(
            x,
            y,
            epochs=2,
            batch_size=batch_size,
            verbose=0,
            callbacks=[keras.callbacks.OrbaxCheckpoint(orbax_dir)],
        )
        backup = os.path.join(directory, "backup")
        for epoch, batch in interruptions:
            stopped = build()
            with self.assertRaisesRegex(RuntimeError, "Interrupted"):
                stopped.fit(
                    x,
                    y,
                    epochs=2,
                    batch_size=batch_size,
                    verbose=0,
                    callbacks=[
                        keras.callbacks.BackupAndRestore(backup, save_freq=1),
                        Interrupt(epoch, batch),
                    ],
                )
        resumed = build()
        resumed.fit(
            x,
            y,
            epochs=2,
            batch_size=batch_size,
            verbose=0,
            callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=1)],
        )
        self.assertSameWeights(weights(resumed), weights(model))

        # Orbax: the weights into the stopped model, and the whole task.
        self.assertFalse(
            all(
                np.allclose(a, b)
                for a, b in zip(weights(stopped), weights(model))
            )
        )
        stopped.load_weights(orbax_dir)
        self.assertSameWeights(weights(stopped), weights(model))
        loaded = keras.saving.load_model(orbax_dir)
        self.assertIsInstance(loaded, type(model))
        self.assertEqual(
            loaded.preprocessor.get_config(), model.preprocessor.get_config()
        )
        self.assertSameWeights(weights(loaded), weights(model))

    @pytest.mark.slow
    @orbax_warning
    def test_captioner(self):
        data = scenes()
        self.check_task(
            lambda: captioner(data),
            {
                "images": data["train"]["images"][:24],
                "text": data["train"]["captions"][:24],
            },
            None,
            batch_size=8,
            interruptions=[(1, 1)],
        )

    @pytest.mark.slow
    @orbax_warning
    def test_speech_recognizer_stopped_twice(self):
        audio = np.random.default_rng(0).normal(0, 0.1, (12, 4000))
        audio = list(audio.astype("float32"))
        # The second stop falls in the epoch the first run resumed.
        self.check_task(
            recognizer,
            audio,
            ["ab", "ba", "a b", "b"] * 3,
            batch_size=4,
            interruptions=[(1, 0), (1, 1)],
        )


class ReadmeLongRunsTest(TestCase):
    @orbax_warning
    @pytest.mark.slow
    def test_readme_example(self):
        from tests.readme_test import python_blocks

        (block,) = [b for b in python_blocks() if "BackupAndRestore" in b]
        for old, new in (
            (
                "num_samples=800, image_size=64",
                "num_samples=100, image_size=32",
            ),
            ("(64, 64, 3)", "(32, 32, 3)"),
            ("epochs=3, batch_size=32,", "epochs=2, batch_size=32, verbose=0,"),
        ):
            self.assertIn(old, block)
            block = block.replace(old, new)
        cwd = os.getcwd()
        os.chdir(self.get_temp_dir())
        try:
            namespace = {}
            exec(block, namespace)  # noqa: S102
            # A finished run leaves no backup; the checkpoint is the task.
            self.assertFalse(os.path.exists("backups/scenes"))
            model = namespace["model"]
        finally:
            os.chdir(cwd)
        self.assertIsInstance(model, keras_mm.models.MultimodalClassifier)
        self.assertEqual(int(model.optimizer.iterations.numpy()), 2 * 3)
