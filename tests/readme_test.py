"""The README's examples run as written (the captioning one smaller)."""

import os
import re
import textwrap
from unittest import mock

import numpy as np
import pytest

from tests.test_case import TestCase

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


def python_blocks():
    with open(README) as f:
        blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
    # Blocks inside list items are indented.
    return [textwrap.dedent(block) for block in blocks]


class ReadmeTest(TestCase):
    def test_encoder_example(self):
        blocks = python_blocks()
        self.assertTrue(blocks)
        namespace = {}
        exec(blocks[0], namespace)  # noqa: S102
        outputs = namespace["audio_encoder"].predict(
            namespace["waveforms"], verbose=0
        )
        self.assertEqual(outputs["pooled_output"].shape, (4, 128))
        self.assertTrue(np.isfinite(outputs["pooled_output"]).all())

    @pytest.mark.slow
    def test_captioning_example(self):
        (block,) = [
            b
            for b in python_blocks()
            if "build_captioner" in b and "scenes" in b
        ]
        # 200 scenes and 1 epoch instead of 4000 and 2; nothing else changes.
        self.assertIn("num_samples=4000", block)
        self.assertIn("epochs=2", block)
        small = block.replace("num_samples=4000", "num_samples=200")
        small = small.replace("epochs=2", "epochs=1")
        namespace = {}
        exec(small, namespace)  # noqa: S102
        captioner, test = namespace["captioner"], namespace["data"]["test"]
        self.assertEqual(captioner.sequence_length, 20)
        for options in ({}, {"sampler": "beam", "num_beams": 3}):
            captions = captioner.generate(test["images"][:4], **options)
            self.assertEqual(len(captions), 4)
            self.assertTrue(all(isinstance(c, str) for c in captions))
        # The preset example continues it.
        (preset,) = [b for b in python_blocks() if "save_to_preset" in b]
        directory = os.path.join(self.get_temp_dir(), "scenes_captioner")
        self.assertIn('"presets/scenes_captioner"', preset)
        exec(  # noqa: S102
            preset.replace('"presets/scenes_captioner"', repr(directory)),
            namespace | {"keras_mm": __import__("keras_mm")},
        )
        self.assertTrue(os.path.isfile(os.path.join(directory, "config.json")))

    @pytest.mark.slow
    def test_speech_examples(self):
        (block,) = [
            b for b in python_blocks() if "build_speech_recognizer" in b
        ]
        (attention,) = [
            b
            for b in python_blocks()
            if "build_captioner" in b and "audio" in b
        ]
        # 60 sentences and 1 epoch instead of 3000 and 2; nothing else.
        self.assertIn("num_samples=3000", block)
        self.assertIn("epochs=2", block)
        small = block.replace("num_samples=3000", "num_samples=60")
        small = small.replace("epochs=2", "epochs=1")
        small = small.replace(
            "seed=0)", f"seed=0, cache_dir={self.get_temp_dir()!r})"
        )
        namespace = {}
        exec(small, namespace)  # noqa: S102
        asr, test = namespace["asr"], namespace["data"]["test"]
        self.assertEqual(asr.sample_rate, 16000)
        texts = asr.transcribe(test["audio"][:4], sampler="beam")
        self.assertEqual(len(texts), 4)
        self.assertTrue(all(isinstance(t, str) for t in texts))
        # The attention example continues the first, also with 1 epoch.
        self.assertIn("epochs=2", attention)
        exec(attention.replace("epochs=2", "epochs=1"), namespace)  # noqa: S102
        s2s = namespace["s2s"]
        self.assertEqual(s2s.modalities, ("audio",))
        texts = s2s.generate(test["audio"][:4])
        self.assertEqual(len(texts), 4)
        self.assertTrue(all(isinstance(t, str) for t in texts))
        # The recognizer's encoder under a classifier continues them.
        (matcher,) = [b for b in python_blocks() if "audio_encoder()" in b]
        exec(matcher, namespace)  # noqa: S102
        probabilities = namespace["matcher"].predict(
            {"audio": test["audio"][:4], "text": test["transcripts"][:4]},
            verbose=0,
        )
        self.assertEqual(probabilities.shape, (4, 2))
        self.assertFalse(namespace["encoder"].trainable)

    @pytest.mark.slow
    def test_applications_example(self):
        (block,) = [b for b in python_blocks() if '"spoken_sentiment"' in b]
        # 60 examples a dataset instead of 3000, no progress bars, and the
        # cache in a temporary directory; nothing else changes.
        self.assertIn("num_samples=3000", block)
        self.assertIn("epochs=1)", block)
        small = block.replace("num_samples=3000", "num_samples=60")
        small = small.replace("epochs=1)", "epochs=1, verbose=0)")
        namespace = {}
        with mock.patch.dict(os.environ, KERAS_MM_CACHE=self.get_temp_dir()):
            exec(small, namespace)  # noqa: S102
        # The loop's last model fused the spoken sentiment's audio and text.
        model, train = namespace["model"], namespace["train"]
        self.assertEqual(sorted(namespace["inputs"]), ["audio", "text"])
        probabilities = model.predict(
            {"audio": train["audio"][:2], "text": train["text"][:2]},
            verbose=0,
        )
        self.assertEqual(probabilities.shape, (2, 3))
        np.testing.assert_allclose(probabilities.sum(-1), 1.0, rtol=1e-5)

    # Under TensorFlow, where the example exports in this process: exports
    # from JAX through a TensorFlow child process are the contract test's.
    @pytest.mark.tf_only
    @pytest.mark.slow
    def test_export_example(self):
        (block,) = [b for b in python_blocks() if "export.saved_model" in b]
        root = os.path.join(self.get_temp_dir(), "scenes")
        self.assertIn('"savedmodels/scenes"', block)
        namespace = {}
        exec(block.replace('"savedmodels/scenes"', repr(root)), namespace)  # noqa: S102
        self.assertEqual(namespace["path"], os.path.join(root, "1"))
        labels = namespace["outputs"]["labels"].numpy()
        expected = namespace["model"].predict(namespace["sample"], verbose=0)
        np.testing.assert_array_equal(labels, expected.argmax(-1))
        # The TFLite example continues the first.
        (tflite,) = [b for b in python_blocks() if "export.tflite" in b]
        path = os.path.join(self.get_temp_dir(), "scenes.tflite")
        self.assertIn('"savedmodels/scenes.tflite"', tflite)
        exec(  # noqa: S102
            tflite.replace('"savedmodels/scenes.tflite"', repr(path)),
            namespace,
        )
        self.assertTrue(os.path.isfile(path.replace(".tflite", ".json")))
