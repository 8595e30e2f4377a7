"""SavedModel export: raw-input signatures checked in a TensorFlow-only
process, on every backend (JAX exports through a TensorFlow child)."""

import contextlib
import hashlib
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from unittest import mock

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_mm
import keras_mm_cli as cli
from keras_mm.export import child_process
from keras_mm.export.saved_model import version_path
from keras_mm.utils.files import write_atomically
from tests.encoders.text_test import tiny_bert
from tests.test_case import TestCase
from tests.utils.files_test import watching_version

TEXTS = ["a red circle", "a blue square", "two green crosses", ""]
CAPTIONS = ["a red circle.", "two blue squares, on grass", "a cross"]
SAMPLE_RATE = 8000


def scramble(layer, scale=3.0, seed=0):
    """Large random weights, so an untrained model's decoded outputs vary
    with its inputs (instead of one repeated token)."""
    rng = np.random.default_rng(seed)
    for weight in layer.weights:
        weight.assign(scale * rng.normal(size=weight.shape))


def scramble_captioner(model):
    """Weights under which an untrained captioner's captions differ from
    image to image."""
    scramble(model.logits_dense)
    rng = np.random.default_rng(1)
    for modality, encoder in model.encoders.items():
        scramble(model.encoder_projections[modality], scale=1.0)
        for weight in encoder.weights:
            if "kernel" in weight.path:
                weight.assign(0.5 * rng.normal(size=weight.shape))


def image_captioner():
    """A tiny captioner whose captions differ from image to image."""
    model = keras_mm.build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        keras_mm.encoders.text_vocabulary(CAPTIONS),
        sequence_length=8,
        num_layers=1,
        hidden_dim=16,
    )
    scramble_captioner(model)
    return model


def speech_recognizer():
    """A tiny recognizer whose transcripts are not empty."""
    model = keras_mm.build_speech_recognizer(
        list("abcdefgh '"),
        sample_rate=SAMPLE_RATE,
        max_duration=0.5,
        hidden_dim=16,
        num_layers=1,
    )
    scramble(model.logits_dense)
    return model


def inputs(n=4):
    rng = np.random.default_rng(0)
    # Two-tone images, far apart from one another.
    images = np.zeros((n, 32, 32, 3), "uint8")
    images[:] = rng.integers(0, 256, (n, 1, 1, 3))
    images[:, :16] = 255 - images[:, :16]
    return {
        "images": images,
        "text": TEXTS[:n],
        "audio": (0.3 * rng.normal(size=(n, SAMPLE_RATE // 2))).astype("f4"),
    }


def classifier(**kwargs):
    vocab = keras_mm.encoders.text_vocabulary(TEXTS)
    return keras_mm.build_classifier(
        {
            "images": keras_mm.encoders.image(
                "cnn_small", image_shape=(32, 32, 3)
            ),
            "text": keras_mm.encoders.text(
                "transformer_small", vocabulary=vocab, sequence_length=6
            ),
            "audio": keras_mm.encoders.audio(
                sample_rate=SAMPLE_RATE,
                max_duration=0.5,
                num_mel_bins=16,
                hidden_dim=16,
            ),
        },
        num_classes=3,
        hidden_dim=16,
        **kwargs,
    )


class SavedModelTest(TestCase):
    @pytest.mark.slow
    def test_keras_hub_tokenizer_serves_token_ids(self):
        backbone, tokenizer = tiny_bert()
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                ),
                "text": keras_mm.encoders.text(
                    backbone, tokenizer=tokenizer, sequence_length=8
                ),
            },
            num_classes=3,
            hidden_dim=8,
        )
        x = {"images": inputs()["images"], "text": ["a red circle."] * 4}
        root = os.path.join(self.get_temp_dir(), "bert")
        with self.assertWarnsRegex(
            keras_mm.export.ExportWarning, "take their token ids"
        ):
            path = keras_mm.export.saved_model(model, root)
        # A stock TensorFlow loads it and serves the token ids (`verify`
        # tokenizes the sample texts with the model's preprocessor).
        self.assertLess(keras_mm.export.verify(path, model, x), 1e-4)

    def test_model_without_preprocessor_serves_its_own_inputs(self):
        # A SavedModel needs no fixed image size: any size is served.
        images = keras.Input((None, None, 3), name="images")
        outputs = keras.layers.Dense(2, activation="softmax")(
            keras.layers.GlobalAveragePooling2D()(images)
        )
        model = keras_mm.models.MultimodalClassifier(
            {"images": images}, outputs, num_classes=2
        )
        path = keras_mm.export.saved_model(
            model, os.path.join(self.get_temp_dir(), "plain")
        )
        for size in (8, 12):
            x = {"images": np.random.rand(2, size, size, 3).astype("f4")}
            self.assertLess(keras_mm.export.verify(path, model, x), 1e-5)
        with self.assertRaisesRegex(ValueError, "no signature"):
            keras_mm.export.verify(path, model, x, signature="encoded_images")

    def test_class_names_are_served(self):
        images = keras.Input((4, 4, 3), name="images")
        outputs = keras.layers.Dense(3, activation="softmax")(
            keras.layers.Flatten()(images)
        )
        model = keras_mm.models.MultimodalClassifier(
            {"images": images},
            outputs,
            num_classes=3,
            class_names=["cat", "dog", "owl"],
        )
        path = keras_mm.export.saved_model(
            model, os.path.join(self.get_temp_dir(), "named")
        )
        x = {"images": np.random.rand(5, 4, 4, 3).astype("f4")}
        served = tf.saved_model.load(path).signatures["serving_default"](
            images=tf.constant(x["images"])
        )
        np.testing.assert_array_equal(
            served["label_names"].numpy().astype(str),
            model.predict_labels(x, verbose=0),
        )

    def test_verify_needs_a_saved_model(self):
        with self.assertRaisesRegex(ValueError, "not a SavedModel"):
            keras_mm.export.verify(self.get_temp_dir(), None, {})


@pytest.mark.backend_independent
class LayoutTest(TestCase):
    def test_version_path(self):
        root = os.path.join(self.get_temp_dir(), "model")
        self.assertEqual(version_path(root), os.path.join(root, "1"))
        os.makedirs(os.path.join(root, "1"))
        os.makedirs(os.path.join(root, "7"))
        os.makedirs(os.path.join(root, "notes"))
        self.assertEqual(version_path(root), os.path.join(root, "8"))
        self.assertEqual(
            version_path(os.path.join(root, "3")), os.path.join(root, "3")
        )
        with self.assertRaisesRegex(ValueError, "overwrite=True"):
            version_path(os.path.join(root, "7"))
        self.assertEqual(
            version_path(os.path.join(root, "7"), overwrite=True),
            os.path.join(root, "7"),
        )

    def test_failed_write_leaves_nothing_and_keeps_the_old_version(self):
        root = self.get_temp_dir()
        path = os.path.join(root, "1")

        def write(target, content="new"):
            os.makedirs(target)
            with open(os.path.join(target, "saved_model.pb"), "w") as f:
                f.write(content)

        def fail(target):
            write(target)
            raise RuntimeError("conversion failed")

        with self.assertRaisesRegex(RuntimeError, "conversion failed"):
            write_atomically(path, fail)
        self.assertEqual(os.listdir(root), [])
        write_atomically(path, lambda target: write(target, "old"))
        with self.assertRaisesRegex(RuntimeError, "conversion failed"):
            write_atomically(path, fail, overwrite=True)
        self.assertEqual(os.listdir(root), ["1"])
        with open(os.path.join(path, "saved_model.pb")) as f:
            self.assertEqual(f.read(), "old")
        write_atomically(path, write, overwrite=True)
        self.assertEqual(os.listdir(root), ["1"])
        with open(os.path.join(path, "saved_model.pb")) as f:
            self.assertEqual(f.read(), "new")


class ExportCommandTest(TestCase):
    # The command's own work (arguments, layout, messages) is the same
    # under both backends; exporting from JAX through a TensorFlow child
    # process is the contract test's (tests/models/task_contract_test.py).
    @pytest.mark.tf_only
    @pytest.mark.slow
    def test_export_command_writes_the_serving_layout(self):
        model = keras_mm.build_classifier(
            {"images": keras_mm.encoders.image("cnn_small", (32, 32, 3))},
            num_classes=2,
            hidden_dim=8,
        )
        tmp = self.get_temp_dir()
        model_file = os.path.join(tmp, "scenes.keras")
        model.save(model_file)
        output = io.StringIO()
        load_model = mock.patch.object(
            keras.saving, "load_model", wraps=keras.saving.load_model
        )
        with contextlib.redirect_stdout(output), load_model as loads:
            code = cli.main(
                [
                    "export",
                    model_file,
                    "--root",
                    tmp,
                    "--format",
                    "saved_model,tflite",
                ]
            )
        self.assertEqual(code, 0)
        # Loaded once under TensorFlow; other backends hand the file to
        # the TensorFlow process as it is.
        tensorflow = keras.config.backend() == "tensorflow"
        self.assertEqual(loads.call_count, 1 if tensorflow else 0)
        path = os.path.join(tmp, "scenes", "1")
        self.assertIn(f"saved_model: {path}", output.getvalue())
        x = {"images": inputs(2)["images"]}
        self.assertLess(keras_mm.export.verify(path, model, x), 1e-4)
        path = os.path.join(tmp, "scenes.tflite")
        self.assertIn(f"tflite: {path}", output.getvalue())
        self.assertLess(keras_mm.export.verify(path, model, x), 1e-3)

    def test_export_command_refuses_bad_arguments(self):
        tmp = self.get_temp_dir()
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors), self.assertRaises(SystemExit):
            cli.main(["export", os.path.join(tmp, "none.keras")])
        self.assertIn("No such model file", errors.getvalue())
        with contextlib.redirect_stderr(errors), self.assertRaises(SystemExit):
            cli.main(["export", "m.keras", "--format", "onnx"])
        self.assertIn("--format must list formats among", errors.getvalue())


def tiny_model_file(directory):
    """A tiny classifier, saved as `directory/model.keras`."""
    model = keras_mm.build_classifier(
        {"images": keras_mm.encoders.image("cnn_small", (8, 8, 3))},
        num_classes=2,
        hidden_dim=8,
    )
    path = os.path.join(directory, "model.keras")
    model.save(path)
    return model, path


def read_only_directory(test):
    """A directory that this process cannot write in: mode 0o500, or, for
    root (whom modes do not stop), the immutable attribute; skips the test
    where neither holds."""
    directory = test.get_temp_dir()
    os.chmod(directory, 0o500)
    test.addCleanup(os.chmod, directory, 0o700)
    if os.access(directory, os.W_OK):
        chattr = shutil.which("chattr")
        if not chattr or subprocess.run([chattr, "+i", directory]).returncode:
            test.skipTest("no read-only directory for this user")
        test.addCleanup(subprocess.run, [chattr, "-i", directory])
    return directory


class ExportErrorTest(TestCase):
    # Under JAX the export runs in a TensorFlow child process: its errors
    # must be raised as they are under TensorFlow, the same builtin type
    # with the same message, without the child's log.
    @pytest.mark.slow
    def test_unwritable_places_raise_the_same_error_on_every_backend(self):
        _, model_file = tiny_model_file(self.get_temp_dir())
        read_only = read_only_directory(self)
        with self.assertRaises(PermissionError) as caught:
            keras_mm.export.saved_model(
                model_file, os.path.join(read_only, "1")
            )
        message = str(caught.exception)
        self.assertRegex(message, "Permission denied|Operation not permitted")
        self.assertIn(f"'{read_only}/.staging-1-", message)
        self.assertNotIn("Traceback", message)
        self.assertEqual(os.listdir(read_only), [])
        # A directory under a regular file cannot be.
        regular = os.path.join(self.get_temp_dir(), "file")
        open(regular, "w").close()
        for export, path, directory in (
            (keras_mm.export.saved_model, "m", "m"),
            (keras_mm.export.tflite, "sub/m.tflite", "sub"),
        ):
            with self.assertRaises(NotADirectoryError) as caught:
                export(model_file, os.path.join(regular, path))
            self.assertEqual(
                str(caught.exception),
                "[Errno 20] Not a directory: "
                f"'{os.path.join(regular, directory)}'",
            )

    @pytest.mark.backend_independent
    def test_child_errors_are_raised_as_the_child_raised_them(self):
        # The error reporting alone (imported by path: no Keras to load).
        script = (
            "import importlib.util, sys\n"
            "spec = importlib.util.spec_from_file_location('c', sys.argv[1])\n"
            "child = importlib.util.module_from_spec(spec)\n"
            "spec.loader.exec_module(child)\n"
            "try:\n"
            "    exec(sys.argv[2])\n"
            "except Exception as error:\n"
            "    child.report_error(error)\n"
            "    print('a long log', file=sys.stderr)\n"
            "    sys.exit(1)\n"
        )

        def run(statement):
            child_process.run(
                [
                    sys.executable,
                    "-c",
                    script,
                    child_process.__file__,
                    statement,
                ],
                "The step",
            )

        with self.assertRaises(PermissionError) as caught:
            run("raise PermissionError(13, 'Permission denied', '/x/y')")
        self.assertEqual(caught.exception.filename, "/x/y")
        self.assertEqual(
            str(caught.exception), "[Errno 13] Permission denied: '/x/y'"
        )
        with self.assertRaisesRegex(KeyError, "^'key'$"):
            run("{}['key']")
        # Not a builtin: its nearest builtin class.
        with self.assertRaisesRegex(ValueError, "^Expecting value"):
            run("import json; json.loads('')")
        # Neither: a `RuntimeError` that names the type, and the file that
        # holds the child's log.
        with self.assertRaisesRegex(
            RuntimeError, "raised zipfile.BadZipFile"
        ) as unknown:
            run("import zipfile; raise zipfile.BadZipFile('bad')")
        # No report: the same.
        with self.assertRaisesRegex(RuntimeError, "exit status 3") as silent:
            run("import os; os._exit(3)")
        logs = [
            re.search(r"/\S*keras_mm-child-\w+\.log", str(c.exception))[0]
            for c in (unknown, silent)
        ]
        with open(logs[0]) as file:
            self.assertEqual(file.read(), "a long log\n")
        for log in logs:
            os.remove(log)


# Saves a tiny model and exports a version of it, then overwrites the
# version, stalling (forever) mid-write; the test kills it there.
KILLED_EXPORT = """
import importlib, os, sys, time
import keras_mm
saved_model = importlib.import_module("keras_mm.export.saved_model")
model_file, root, flags = sys.argv[1:]
keras_mm.build_classifier(
    {"images": keras_mm.encoders.image("cnn_small", (8, 8, 3))},
    num_classes=2, hidden_dim=8,
).save(model_file)
keras_mm.export.saved_model(model_file, os.path.join(root, "1"))
open(os.path.join(flags, "exported"), "w").close()

def stalled(model, path, raw_inputs):
    os.makedirs(path)
    with open(os.path.join(path, "saved_model.pb"), "wb") as f:
        f.write(b"half")
    open(os.path.join(flags, "writing"), "w").close()
    time.sleep(600)

saved_model._write = stalled
keras_mm.export.saved_model(model_file, os.path.join(root, "1"), overwrite=True)
"""


def fingerprint(directory):
    """`{relative path: sha256}` of the files under `directory`."""
    found = {}
    for folder, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, directory)] = hashlib.sha256(
                    f.read()
                ).hexdigest()
    return found


class StagingTest(TestCase):
    @pytest.mark.slow
    @pytest.mark.backend_independent
    def test_a_killed_export_leaves_the_old_version_and_is_cleaned_up(self):
        tmp = self.get_temp_dir()
        model_file = os.path.join(tmp, "model.keras")
        root, flags = os.path.join(tmp, "model"), os.path.join(tmp, "flags")
        os.makedirs(flags)
        log = os.path.join(tmp, "log")
        with open(log, "w") as output:
            child = subprocess.Popen(
                [sys.executable, "-c", KILLED_EXPORT, model_file, root, flags],
                env=dict(os.environ, KERAS_BACKEND="tensorflow"),
                stdout=output,
                stderr=output,
            )
        self.addCleanup(child.kill)
        old = None
        deadline = time.time() + 300
        while not os.path.exists(os.path.join(flags, "writing")):
            if old is None and os.path.exists(os.path.join(flags, "exported")):
                old = fingerprint(os.path.join(root, "1"))
            if child.poll() is not None or time.time() > deadline:
                with open(log) as output:
                    self.fail(
                        f"The export ended early:\n{output.read()[-3000:]}"
                    )
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        self.assertEqual(child.wait(), -signal.SIGKILL)
        self.assertIn("saved_model.pb", old)
        self.assertEqual(fingerprint(os.path.join(root, "1")), old)
        leftovers = [e for e in os.listdir(root) if e != "1"]
        self.assertLen(leftovers, 1)
        self.assertStartsWith(leftovers[0], ".staging-1-")
        # The next export removes it: its writer is gone.
        path = keras_mm.export.saved_model(model_file, root)
        self.assertEqual(sorted(os.listdir(root)), ["1", "2"])
        self.assertEqual(path, os.path.join(root, "2"))

    # The same swap under every backend (`write_atomically` runs in the
    # TensorFlow process); here the export runs in this process.
    @pytest.mark.tf_only
    @pytest.mark.slow
    def test_an_overwrite_never_leaves_the_version_missing(self):
        model, _ = tiny_model_file(self.get_temp_dir())
        path = keras_mm.export.saved_model(
            model, os.path.join(self.get_temp_dir(), "model", "1")
        )
        before = os.stat(path).st_ino
        with watching_version(path) as seen:
            keras_mm.export.saved_model(model, path, overwrite=True)
        self.assertNotEqual(os.stat(path).st_ino, before)  # Replaced.
        self.assertEqual(os.listdir(os.path.dirname(path)), ["1"])
        self.assertGreater(seen["checks"], 0)
        self.assertEqual(seen["missing"], [])
