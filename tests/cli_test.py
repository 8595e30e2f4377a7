import contextlib
import io
import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_mm
import keras_mm_cli as cli
from keras_mm import demo
from keras_mm.datasets.scenes import scenes
from tests.test_case import TestCase


class DemoTest(TestCase):
    @pytest.mark.slow
    def test_demo_command_trains_scores_plots_and_saves(self):
        output_dir = self.get_temp_dir()
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            code = cli.main(
                [
                    "demo",
                    "--num-samples",
                    "60",
                    "--epochs",
                    "2",
                    "--image-size",
                    "32",
                    "--output-dir",
                    output_dir,
                ]
            )
        self.assertEqual(code, 0)
        printed = output.getvalue()
        self.assertIn("Held-out scores", printed)
        self.assertIn("val_bleu4", printed)  # In the progress bar.
        with open(os.path.join(output_dir, "scores.json")) as f:
            scores = json.load(f)
        self.assertEqual(
            sorted(scores), ["beam_3", "greedy", "nearest_neighbour", "seconds"]
        )
        for name in ("greedy", "beam_3", "nearest_neighbour"):
            self.assertBetween(scores[name]["bleu4"], 0.0, 100.0)
            self.assertGreaterEqual(scores[name]["cider_d"], 0.0)
        for name in ("training_curves.png", "examples.png", "attention.png"):
            with open(os.path.join(output_dir, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        model = keras.saving.load_model(
            os.path.join(output_dir, "captioner.keras")
        )
        images = scenes(num_samples=60, image_size=32)["test"]["images"]
        captions = model.generate(images[:3])
        self.assertEqual(len(captions), 3)
        self.assertTrue(all(isinstance(c, str) for c in captions))

    @pytest.mark.backend_independent
    def test_bad_arguments_exit_with_a_message(self):
        errors = io.StringIO()
        for argv in (
            ["demo", "--num-samples", "10"],
            ["demo", "--image-size", "8"],
            ["demo", "--epochs", "0"],
        ):
            with contextlib.redirect_stderr(errors), pytest.raises(SystemExit):
                cli.main(argv)
        text = errors.getvalue()
        self.assertIn("num_samples=10", text)
        self.assertIn("image_size=8", text)
        self.assertIn("--epochs must be at least 1", text)


class VersionTest(TestCase):
    @pytest.mark.backend_independent
    def test_version_prints_the_package_version(self):
        output = io.StringIO()
        with contextlib.redirect_stdout(output), pytest.raises(SystemExit) as e:
            cli.main(["--version"])
        self.assertEqual(e.value.code, 0)
        self.assertEqual(
            output.getvalue(), f"keras-mm {keras_mm.__version__}\n"
        )


class ErrorTest(TestCase):
    @pytest.mark.slow
    def test_an_error_is_one_line_and_status_2_without_a_traceback(self):
        # Run as a user runs it, under this suite's backend: the error is
        # all of stderr, with the libraries' start-up logs held back.
        path = os.path.join(self.get_temp_dir(), "model.keras")
        with open(path, "wb") as f:
            f.write(b"PK\x03\x04" + bytes(200))
        result = subprocess.run(
            [sys.executable, "-m", "keras_mm_cli", "export", path],
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(result.returncode, 2, result.stderr[-3000:])
        self.assertNotIn("Traceback", result.stderr)
        (line,) = result.stderr.splitlines()
        self.assertIn("keras-mm export: error: The model file", line)
        self.assertIn("corrupt or not a `.keras` archive (204 bytes", line)
        self.assertEqual(result.stdout, "")

    def test_help_imports_no_backend(self):
        code = (
            "import sys, keras_mm_cli\n"
            "try:\n"
            "    keras_mm_cli.main(['--help'])\n"
            "except SystemExit:\n"
            "    pass\n"
            "heavy = ('keras', 'tensorflow', 'jax', 'keras_mm')\n"
            "print('imported:', [m for m in heavy if m in sys.modules])\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")
        self.assertIn("usage: keras-mm", result.stdout)
        self.assertIn("imported: []", result.stdout)


class NearestNeighbourTest(TestCase):
    def test_retrieves_the_closest_training_caption(self):
        data = scenes(num_samples=60, image_size=32, seed=3)["train"]
        images, captions = data["images"], data["captions"]
        # A training image retrieves its own caption.
        self.assertEqual(
            demo.nearest_neighbour_captions(images, captions, images[:5]),
            captions[:5],
        )
        # Slight noise does not change the neighbour.
        noisy = np.clip(images[:5] + 3.0, 0, 255)
        self.assertEqual(
            demo.nearest_neighbour_captions(images, captions, noisy),
            captions[:5],
        )
