"""`keras-mm train`, `predict` and `evaluate` on a table of files and text."""

import contextlib
import io
import json
import os

import numpy as np
import pandas as pd
import pytest
import soundfile

import keras_mm
import keras_mm_cli as cli
from tests.test_case import TestCase


def write_table(folder, rows=8):
    """A table of red and blue images, low and high tones, notes, labels
    and captions, with paths relative to the table's folder."""
    import tensorflow as tf

    os.makedirs(os.path.join(folder, "files"))
    records = []
    for i in range(rows):
        red = i % 2 == 0
        image = np.zeros((40, 48, 3), "uint8")
        image[..., 0 if red else 2] = 200
        name = os.path.join("files", f"{i}.png")
        tf.io.write_file(os.path.join(folder, name), tf.io.encode_png(image))
        t = np.arange(8000 + 800 * (i % 3)) / 16000
        tone = 0.3 * np.sin(2 * np.pi * (300 if red else 900) * t)
        clip = os.path.join("files", f"{i}.wav")
        soundfile.write(os.path.join(folder, clip), tone, 16000)
        colour = "red" if red else "blue"
        records.append(
            {
                "image": name,
                "audio": clip,
                "note": f"a {colour} thing",
                "label": colour,
                "caption": f"a {colour} square",
            }
        )
    path = os.path.join(folder, "table.csv")
    pd.DataFrame(records).to_csv(path, index=False)
    return path


def run(*argv):
    """`keras-mm ARGV` in this process: its exit code and stdout."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = cli.main([str(a) for a in argv])
    return code, output.getvalue()


class TablesTest(TestCase):
    def round_trip(self, task, *columns):
        folder = self.get_temp_dir()
        table = write_table(folder)
        model_dir = os.path.join(folder, "model")
        code, printed = run(
            "train", "--task", task, "--data", table, "--output", model_dir,
            *columns, "--epochs", 2, "--batch-size", 4, "--image-size", 32,
        )  # fmt: skip
        self.assertEqual(code, 0)
        self.assertIn("Trained on 8 rows", printed)
        with open(os.path.join(model_dir, "metrics.json")) as f:
            metrics = json.load(f)
        self.assertEqual(metrics["epochs"], 2)
        self.assertLen(metrics["history"]["loss"], 2)
        self.assertEqual(
            metrics["final"]["loss"], metrics["history"]["loss"][-1]
        )

        # Predictions: the table, and one output per row.
        self.assertEqual(run("predict", model_dir, "--data", table)[0], 0)
        written = pd.read_csv(
            os.path.join(model_dir, "predictions.csv"), keep_default_na=False
        )
        frame = pd.read_csv(table)
        self.assertEqual(list(written.columns[:-1]), list(frame.columns))
        self.assertLen(written, len(frame))

        # The preset holds the same model.
        preset = keras_mm.models.Task.from_preset(
            os.path.join(model_dir, "preset")
        )
        model = keras_mm.utils.files.load_keras_file(
            os.path.join(model_dir, "model.keras")
        )
        self.assertEqual(type(preset), type(model))

        scores_path = os.path.join(folder, "scores.json")
        code, printed = run(
            "evaluate", model_dir, "--data", table, "--output", scores_path
        )
        self.assertEqual(code, 0)
        with open(scores_path) as f:
            scores = json.load(f)
        self.assertEqual(scores["rows"], 8)
        return frame, written, scores

    @pytest.mark.slow
    def test_classifier_round_trip(self):
        frame, written, scores = self.round_trip(
            "classifier",
            "--image-column", "image",
            "--text-column", "note",
            "--audio-column", "audio",
        )  # fmt: skip
        predicted = written["predicted_label"]
        self.assertTrue(set(predicted) <= {"red", "blue"})
        # `evaluate` scores what `predict` wrote.
        self.assertAllClose(
            scores["sparse_categorical_accuracy"],
            np.mean(predicted == frame["label"]),
        )

    @pytest.mark.slow
    @pytest.mark.one_backend
    def test_captioner_and_speech_round_trips(self):
        frame, written, scores = self.round_trip(
            "captioner", "--image-column", "image", "--label-column", "caption"
        )
        self.assertEqual(sorted(scores), ["bleu4", "cider_d", "rows", "task"])
        self.assertTrue(
            all(isinstance(c, str) for c in written["predicted_caption"])
        )
        frame, written, scores = self.round_trip(
            "speech", "--audio-column", "audio", "--label-column", "label"
        )
        self.assertEqual(sorted(scores), ["cer", "rows", "task", "wer"])
        self.assertBetween(scores["cer"], 0.0, 10.0)


@pytest.mark.backend_independent
class TableErrorsTest(TestCase):
    def error(self, *argv):
        """The one-line error of `keras-mm ARGV`."""
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            with self.assertRaises(SystemExit) as raised:
                run(*argv)
        self.assertEqual(raised.exception.code, 2)
        (line,) = stderr.getvalue().splitlines()
        return line

    def test_bad_arguments_name_the_argument(self):
        folder = self.get_temp_dir()
        table = write_table(folder, rows=2)
        out = os.path.join(folder, "out")
        train = ["train", "--data", table, "--output", out]
        cases = {
            "--task": [*train, "--task", "regressor"],
            "--image-column 'picture' is not a column": [
                *train, "--task", "classifier", "--image-column", "picture",
            ],
            "--task captioner reads ['images', 'audio'] only": [
                *train, "--task", "captioner", "--text-column", "note",
            ],
            "--task captioner needs an input column": [
                *train, "--task", "captioner", "--label-column", "caption",
            ],
            "--task speech reads ['audio'] only": [
                *train, "--task", "speech", "--audio-column", "audio",
                "--image-column", "image",
            ],
            "--label-column 'truth' is not a column": [
                *train, "--task", "classifier", "--image-column", "image",
                "--label-column", "truth",
            ],
            "--data: no such file": [
                "train", "--task", "classifier", "--data", table + ".csv",
                "--output", out, "--image-column", "image",
            ],
            "--data must be a table file": [
                "train", "--task", "classifier", "--data", out + ".xlsx",
                "--output", out, "--image-column", "image",
            ],
            "--epochs must be at least 1": [
                *train, "--task", "classifier", "--image-column", "image",
                "--epochs", 0,
            ],
            "not a folder written by `keras-mm train`": [
                "predict", folder, "--data", table,
            ],
        }  # fmt: skip
        for expected, argv in cases.items():
            with self.subTest(expected):
                self.assertIn(expected, self.error(*argv))
        self.assertFalse(os.path.exists(out))

    def test_an_existing_model_is_kept(self):
        folder = self.get_temp_dir()
        table = write_table(folder, rows=2)
        out = os.path.join(folder, "out")
        os.makedirs(out)
        with open(os.path.join(out, "model.keras"), "wb") as f:
            f.write(b"mine")
        line = self.error(
            "train", "--task", "classifier", "--data", table, "--output", out,
            "--image-column", "image",
        )  # fmt: skip
        self.assertIn("add --overwrite", line)
        with open(os.path.join(out, "model.keras"), "rb") as f:
            self.assertEqual(f.read(), b"mine")
