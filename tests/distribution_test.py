"""Training on several devices: the examples of the README's "Scale"
section, each in a child process with simulated devices (4 host devices
under JAX, 2 logical CPUs under TensorFlow: both must be set before the
backend starts). The model each child trains is saved; loaded here, on
one device, it predicts what the child predicted."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mm
from tests.readme_test import python_blocks
from tests.test_case import TestCase

# The README's example, at 200 scenes of 32 px instead of 800 of 64 px.
DATA = """
import numpy as np
import keras_mm
data = keras_mm.datasets.scenes(num_samples=200, image_size=32, seed=0)
vocab = keras_mm.encoders.text_vocabulary(data["train"]["statements"])
"""
BUILD = """
model = keras_mm.build_classifier(
    {"images": keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
     "text": keras_mm.encoders.text("transformer_small", vocabulary=vocab,
                                    sequence_length=16)},
    num_classes=3, fusion="cross_attention")
"""
FIT = """
history = model.fit(
    {"images": data["train"]["images"], "text": data["train"]["statements"]},
    data["train"]["labels"], epochs=1, batch_size=32, verbose=0)
"""
SAVE = """
import sys
import numpy as np
test = {"images": data["test"]["images"], "text": data["test"]["statements"]}
np.save(sys.argv[1] + "/predictions.npy", model.predict(test, verbose=0))
model.save(sys.argv[1] + "/model.keras")
print("DEVICES", DEVICES, "LOSS", history.history["loss"][-1])
"""


def readme_data_parallel_example():
    """The README's `DataParallel` example, as written, at 200 scenes of
    32 px and without printing progress bars."""
    (block,) = [b for b in python_blocks() if "DataParallel" in b]
    for old, new in (
        ("num_samples=800, image_size=64", "num_samples=200, image_size=32"),
        ("(64, 64, 3)", "(32, 32, 3)"),
        ("batch_size=32)", "batch_size=32, verbose=0)"),
        ("model.fit(", "history = model.fit("),
    ):
        assert old in block, old
        block = block.replace(old, new)
    return (
        block
        + "DEVICES = len(keras.distribution.list_devices())\n"
        + SAVE
        + BAD_BATCH
    )


# 13 rows in batches of 8 leave 5 for 4 devices: a clear error, not one
# from deep inside JAX's sharding code.
BAD_BATCH = """
try:
    model.predict({k: v[:13] for k, v in test.items()}, batch_size=8)
except ValueError as error:
    print("BATCHES", error)
"""


TF_MIRRORED = (
    """
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
DEVICES = strategy.num_replicas_in_sync
"""
    + DATA
    + "with strategy.scope():\n"
    + "".join(f"    {line}\n" for line in BUILD.strip().splitlines())
    + FIT
    + """
# Every task trains under the strategy: a captioner and, over audio, a
# speech recognizer.
with strategy.scope():
    captioner = keras_mm.build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        keras_mm.encoders.text_vocabulary(data["train"]["captions"]),
        sequence_length=8, num_layers=1, hidden_dim=32)
    recognizer = keras_mm.build_speech_recognizer(
        vocabulary=list("ab "), sample_rate=8000, max_duration=1.0,
        hidden_dim=16, num_layers=1)
captioner.fit({"images": data["train"]["images"][:32],
               "text": data["train"]["captions"][:32]},
              epochs=1, batch_size=16, verbose=0)
print("CAPTION", captioner.generate(data["test"]["images"][:1])[0])
audio = np.random.default_rng(0).normal(0, 0.1, (8, 8000)).astype("float32")
recognizer.fit(list(audio), ["ab", "ba", "a b", "b"] * 2, epochs=1,
               batch_size=4, verbose=0)
print("TRANSCRIPTS", len(recognizer.transcribe(list(audio[:2]))))
"""
    + SAVE
)


class DistributionTest(TestCase):
    def run_child(self, script, devices):
        directory = self.get_temp_dir()
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        result = subprocess.run(
            [sys.executable, "-c", script, directory],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        words = result.stdout.split("DEVICES ")[-1].split()
        self.assertEqual(int(words[0]), devices)
        self.assertTrue(np.isfinite(float(words[2])))
        # Loaded on this process's one device: the same predictions.
        model = keras.saving.load_model(os.path.join(directory, "model.keras"))
        expected = np.load(os.path.join(directory, "predictions.npy"))
        data = keras_mm.datasets.scenes(num_samples=200, image_size=32, seed=0)
        test = {
            "images": data["test"]["images"],
            "text": data["test"]["statements"],
        }
        self.assertAllClose(model.predict(test, verbose=0), expected, 1e-4)
        return result.stdout

    # Each child starts its own backend, so each runs in one suite.
    @pytest.mark.one_backend
    @pytest.mark.slow
    def test_jax_data_parallel_example(self):
        output = self.run_child(readme_data_parallel_example(), devices=4)
        self.assertIn(
            "BATCHES The `keras.distribution` splits every batch over 4 "
            "devices, so each batch must hold a multiple of 4 rows. Received "
            "13 rows in batches of 8 (the last holds 5)",
            output,
        )

    @pytest.mark.tf_only
    @pytest.mark.slow
    def test_tensorflow_mirrored_strategy_example(self):
        output = self.run_child(TF_MIRRORED, devices=2)
        self.assertIn("CAPTION ", output)
        self.assertIn("TRANSCRIPTS 2", output)
