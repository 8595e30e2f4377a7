"""`LiteRTModel`: one instance called from many threads, the files it
needs, and the requests it refuses."""

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import keras_mm
from keras_mm.export import litert_runner
from tests.test_case import TestCase

TEXTS = ["a red circle", "a blue square", "two green crosses", ""]
ASSETS = {
    "kind": "classifier",
    "inputs": {
        "images": {"type": "images", "shape": [4, 4, 3]},
        "text": {
            "type": "text",
            "vocabulary": ["[PAD]", "[UNK]", "[START]", "[END]", "red"],
            "sequence_length": 3,
            "lowercase": True,
        },
        "audio": {"type": "audio", "num_samples": 8, "sample_rate": 16},
    },
}


def raw_inputs(batch=2):
    return {
        "images": np.zeros((batch, 4, 4, 3), "uint8"),
        "text": ["red"] * batch,
        "audio": np.zeros((batch, 8), "float32"),
    }


class LiteRTModelTest(TestCase):
    # Exported in this process: no child process under TensorFlow. The
    # runner itself imports neither Keras nor TensorFlow.
    @pytest.mark.tf_only
    def test_one_instance_serves_many_threads(self):
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                ),
                "text": keras_mm.encoders.text(
                    "bag_of_words_small",
                    vocabulary=keras_mm.encoders.text_vocabulary(TEXTS),
                    sequence_length=6,
                ),
            },
            num_classes=3,
            hidden_dim=16,
        )
        path = keras_mm.export.tflite(
            model, os.path.join(self.get_temp_dir(), "m.tflite")
        )
        runner = keras_mm.export.LiteRTModel(path)
        # Batches of 1 to 4: each call resizes the interpreter's tensors.
        rng = np.random.default_rng(0)
        requests = [
            {
                "images": rng.integers(0, 256, (b, 32, 32, 3), "uint8"),
                "text": [TEXTS[(i + j) % 4] for j in range(b)],
            }
            for i, b in enumerate([1, 2, 3, 4] * 4)
        ]
        expected = [runner(request) for request in requests]
        self.assertGreater(
            len({round(float(e["probabilities"][0, 0]), 6) for e in expected}),
            8,
        )
        # Without the runner's lock, many of these calls raised or returned
        # another call's outputs (and a captioner's crashed the process).
        calls = [i % len(requests) for i in range(16 * 40)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(lambda i: runner(requests[i]), calls))
        for i, answer in zip(calls, answers):
            for key in ("probabilities", "labels"):
                np.testing.assert_array_equal(answer[key], expected[i][key])

    @pytest.mark.backend_independent
    def test_missing_files_are_named(self):
        with self.assertRaises(FileNotFoundError) as raised:
            keras_mm.export.LiteRTModel("missing.tflite")
        self.assertEqual(raised.exception.filename, "missing.tflite")
        self.assertIn("'missing.tflite'", str(raised.exception))
        self.assertNotIn(".json", str(raised.exception))
        # A model file without its assets names them and says why.
        path = os.path.join(self.get_temp_dir(), "m.tflite")
        open(path, "wb").close()
        with self.assertRaisesRegex(
            FileNotFoundError, r"m\.tflite needs .*m\.json"
        ):
            keras_mm.export.LiteRTModel(path)

    @pytest.mark.backend_independent
    def test_malformed_batches_are_refused(self):
        prepare = litert_runner.prepare_inputs
        arrays = prepare(ASSETS, raw_inputs())
        self.assertEqual(arrays["text_token_ids"].tolist(), [[4, 0, 0]] * 2)
        x = raw_inputs()
        cases = [
            (
                "The batch is empty",
                {k: v[:0] for k, v in x.items()},
            ),
            (
                r"same batch size. Received: \{'images': 2, 'text': 3, ",
                dict(x, text=["red"] * 3),
            ),
            (r"'text' must hold one entry per example", dict(x, text="red")),
            (r"'audio' must hold one entry per example", dict(x, audio=0.0)),
            ("a batch of single samples", dict(x, audio=np.zeros(2))),
        ]
        for message, inputs in cases:
            with self.assertRaisesRegex(ValueError, message):
                prepare(ASSETS, inputs)
        # Waveforms of different lengths are padded, each with its mask.
        audio = [np.ones(3), np.ones(12)]
        arrays = prepare(ASSETS, dict(raw_inputs(), audio=audio))
        self.assertEqual(
            arrays["audio_padding_mask"].sum(axis=1).tolist(), [3, 8]
        )
