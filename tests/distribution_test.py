"""Training on several devices: the examples of the README's "Scale"
section, each in a child process with simulated devices (4 host devices
under JAX, 2 logical CPUs under TensorFlow: both must be set before the
backend starts). The model each child trains is saved; loaded here, on
one device, it predicts what the child predicted.

Under JAX, `benchmarks/distribution_check.py` trains, evaluates and runs
every task on one device and on several (`DataParallel` on 4, and a
classifier under `ModelParallel` on a 2 x 2 mesh), and two processes
train together on loopback."""

import os
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mm
from benchmarks import distribution_check
from keras_mm.base.replicas import pad_rows
from keras_mm.base.replicas import trim_rows
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


# 13 rows in batches of 8 leave 5 for 4 devices: `evaluate` fails with a
# clear error, not one from deep inside JAX's sharding code; `predict`
# pads the last batch and returns the 13 rows.
BAD_BATCH = """
rows = {k: v[:13] for k, v in test.items()}
try:
    model.evaluate(rows, data["test"]["labels"][:13], batch_size=8)
except ValueError as error:
    print("BATCHES", error)
print("PREDICTED", len(model.predict(rows, batch_size=8, verbose=0)))
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


# A tiny classifier trained for one epoch: by two processes together
# under `DataParallel` (one device each), and by this test on one device.
MULTI_PROCESS_FIT = """
import keras
import keras_mm
data = keras_mm.datasets.scenes(num_samples=100, image_size=24, seed=0)
train = data["train"]
vocab = keras_mm.encoders.text_vocabulary(train["statements"])
keras.utils.set_random_seed(0)
model = keras_mm.build_classifier(
    {"text": keras_mm.encoders.text("bag_of_words_small", vocabulary=vocab,
                                    sequence_length=8)},
    num_classes=3, hidden_dim=8)
keras.utils.set_random_seed(0)
history = model.fit({"text": train["statements"][:64]}, train["labels"][:64],
                    epochs=1, batch_size=16, verbose=0)
"""
WORKER = (
    """
import os, sys
os.environ["KERAS_BACKEND"] = "jax"
port, index, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
import keras
import numpy as np
keras.distribution.initialize(
    job_addresses=f"localhost:{port}", num_processes=2, process_id=index)
devices = keras.distribution.list_devices()
keras.distribution.set_distribution(
    keras.distribution.DataParallel(devices=devices))
"""
    + MULTI_PROCESS_FIT
    + """
np.savez(f"{directory}/weights_{index}.npz",
         *[np.asarray(v.value) for v in model.trainable_variables])
print("DEVICES", len(devices), "LOSS", history.history["loss"][0])
"""
)


def free_port():
    with socket.socket() as connection:
        connection.bind(("localhost", 0))
        return connection.getsockname()[1]


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
        self.assertIn("PREDICTED 13", output)

    @pytest.mark.tf_only
    @pytest.mark.slow
    def test_tensorflow_mirrored_strategy_example(self):
        output = self.run_child(TF_MIRRORED, devices=2)
        self.assertIn("CAPTION ", output)
        self.assertIn("TRANSCRIPTS 2", output)

    @pytest.mark.one_backend
    @pytest.mark.slow
    def test_jax_several_devices_match_one_device(self):
        # One child: every task on one device, then under `DataParallel`
        # on 4, then the classifier under `ModelParallel` on 2 x 2.
        results, _ = distribution_check.run_child("jax")
        methods = {
            "classifier": ["fit", "weights", "evaluate", "predict"],
            "captioner": ["fit", "weights", "evaluate", "predict"]
            + ["generate"],
            "recognizer": ["fit", "weights", "evaluate", "predict"]
            + ["transcribe"],
        }
        self.assertEqual(
            {task: list(d) for task, d in results["data_parallel"].items()},
            methods,
        )
        self.assertEqual(
            list(results["model_parallel"]["classifier"]),
            methods["classifier"],
        )
        for name in ("data_parallel", "model_parallel"):
            for task, differences in results[name].items():
                for method, difference in differences.items():
                    with self.subTest(name=name, task=task, method=method):
                        if isinstance(difference, str):
                            self.assertEqual(difference, "0 of 6 differ")
                        else:
                            self.assertLess(difference, 1e-4)
        # The distributions took effect: weights on all 4 devices, and
        # about half of them on each device of the 2 x 2 mesh.
        self.assertEqual(results["data_parallel_devices"], 4)
        layout = results["model_parallel_layout"]
        self.assertGreater(layout["split"], layout["variables"] // 3)
        self.assertLess(layout["weights_per_device"], 0.6)

    @pytest.mark.one_backend
    @pytest.mark.slow
    def test_jax_two_processes_train_as_one(self):
        directory = self.get_temp_dir()
        port = free_port()
        env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
        workers = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, str(port), str(i), directory],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for i in range(2)
        ]
        outputs = []
        try:
            for worker in workers:
                outputs.append(worker.communicate(timeout=300))
        finally:
            for worker in workers:
                if worker.poll() is None:
                    worker.kill()
                    worker.communicate()
        for worker, (stdout, stderr) in zip(workers, outputs):
            self.assertEqual(worker.returncode, 0, stderr[-3000:])
            self.assertIn("DEVICES 2 LOSS", stdout)
        weights = [
            np.load(os.path.join(directory, f"weights_{i}.npz"))
            for i in range(2)
        ]
        # Both processes hold the same weights, and they are those of the
        # same training on one device (the same global batches).
        namespace = {}
        exec(MULTI_PROCESS_FIT, namespace)  # noqa: S102
        expected = namespace["model"].trainable_variables
        self.assertEqual(len(weights[0].files), len(expected))
        for i, variable in enumerate(expected):
            self.assertAllClose(
                weights[0][f"arr_{i}"], weights[1][f"arr_{i}"], 0.0
            )
            self.assertAllClose(weights[0][f"arr_{i}"], variable, 1e-5)


@pytest.mark.backend_independent
class PadRowsTest(TestCase):
    def test_pads_the_last_batch_for_the_devices(self):
        x = {
            "images": np.arange(13)[:, None] * np.ones((13, 2)),
            "text": [f"row {i}" for i in range(13)],
        }
        padded, rows = pad_rows(x, 13, 8, 4)
        self.assertEqual(rows, 13)
        self.assertEqual(len(padded["text"]), 16)
        self.assertEqual(padded["images"].shape, (16, 2))
        # Copies of the last row.
        self.assertEqual(padded["text"][13:], ["row 12"] * 3)
        self.assertAllClose(padded["images"][13:], np.full((3, 2), 12.0))
        outputs = {"scores": np.arange(16), "more": np.zeros((16, 3))}
        trimmed = trim_rows(outputs, rows)
        self.assertEqual(trimmed["scores"].shape, (13,))
        self.assertEqual(trimmed["more"].shape, (13, 3))

    def test_leaves_even_batches_alone(self):
        x = np.zeros((12, 2))
        self.assertIs(pad_rows(x, 12, 8, 4)[0], x)
        self.assertIs(pad_rows(x, 12, 8, 1)[0], x)
        # A batch size the devices cannot split is `check_batches`' error.
        five = x[:5]
        self.assertIs(pad_rows(five, 5, 6, 4)[0], five)
        self.assertIs(trim_rows(x, None), x)


class LayoutMapTest(TestCase):
    def test_splits_the_last_axis_that_the_devices_divide(self):
        model = keras.Sequential(
            [
                keras.Input((6,)),
                keras.layers.Embedding(10, 4, name="embedding"),
                keras.layers.Dense(8, name="hidden"),
                keras.layers.Dense(3, name="output"),
            ],
            name="mlp",
        )
        # A mesh is only read for its axes here: device names suffice.
        mesh = keras.distribution.DeviceMesh(
            (2, 2), ["batch", "model"], [f"cpu:{i}" for i in range(4)]
        )
        layouts = keras_mm.distribution.layout_map(model, mesh)
        self.assertEqual(
            {key: layouts[key].axes for key in layouts},
            {
                "mlp/embedding/embeddings": (None, "model"),
                "mlp/hidden/kernel": (None, "model"),
                # 3 outputs: split over the 8 inputs instead.
                "mlp/output/kernel": ("model", None),
            },
        )
        self.assertIs(layouts.device_mesh, mesh)

    def test_errors(self):
        mesh = keras.distribution.DeviceMesh(
            (2, 2), ["batch", "model"], [f"cpu:{i}" for i in range(4)]
        )
        with self.assertRaisesRegex(ValueError, "must be a built"):
            keras_mm.distribution.layout_map(keras.Sequential(), mesh)
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
        with self.assertRaisesRegex(
            ValueError,
            r"one of \['batch', 'model'\]. Received: "
            "model_dim_name='tensor'",
        ):
            keras_mm.distribution.layout_map(model, mesh, "tensor")


@pytest.mark.backend_independent
class DistributionCheckTableTest(TestCase):
    def test_compares_and_tabulates(self):
        one = {
            "captioner": {
                "fit": [1.0, 0.5],
                "weights": [np.zeros(3), np.ones((2, 2))],
                "generate": ["a red circle", "a blue square"],
            }
        }
        several = {
            "captioner": {
                "fit": [1.0, 0.5 + 1e-6],
                "weights": [np.zeros(3), np.ones((2, 2)) - 2e-6],
                "generate": ["a red circle", "a red square"],
            }
        }
        differences = distribution_check.compare(one, several)
        self.assertAllClose(differences["captioner"]["fit"], 1e-6, 1e-9)
        self.assertAllClose(differences["captioner"]["weights"], 2e-6, 1e-9)
        self.assertEqual(differences["captioner"]["generate"], "1 of 2 differ")
        lines = distribution_check.table(differences, "Title").splitlines()
        self.assertEqual(lines[0], "Title")
        self.assertEqual(
            lines[-1],
            "| captioner | 1.0e-06 | 2.0e-06 |  |  | 1 of 2 differ |  |",
        )
