"""TFLite export: builtin ops only, checked in a process that imports the
LiteRT interpreter alone, on every backend."""

import os

import numpy as np
import pytest

import keras_mm
from tests.export.saved_model_test import CAPTIONS
from tests.export.saved_model_test import SAMPLE_RATE
from tests.export.saved_model_test import classifier
from tests.export.saved_model_test import inputs
from tests.export.saved_model_test import scramble
from tests.export.saved_model_test import scramble_captioner
from tests.test_case import TestCase


class TFLiteTest(TestCase):
    @pytest.mark.slow
    def test_three_modality_classifier_and_quantizations(self):
        model = classifier(fusion="cross_attention", allow_missing=["text"])
        x = inputs()
        tmp = self.get_temp_dir()
        path = keras_mm.export.tflite(model, os.path.join(tmp, "clf.tflite"))
        self.assertEqual(sorted(os.listdir(tmp)), ["clf.json", "clf.tflite"])
        self.assertLess(keras_mm.export.verify(path, model, x), 1e-3)
        without_text = {k: v for k, v in x.items() if k != "text"}
        self.assertLess(keras_mm.export.verify(path, model, without_text), 1e-3)
        # The runner on raw inputs, in this process.
        outputs = keras_mm.export.LiteRTModel(path)(x)
        np.testing.assert_array_equal(
            outputs["labels"], model.predict(x, verbose=0).argmax(-1)
        )
        size = os.path.getsize(path)
        for quantization, tolerance in (
            ("float16", 1e-2),
            ("dynamic", 0.1),
            ("int8", 0.2),
        ):
            quantized = keras_mm.export.tflite(
                model,
                os.path.join(tmp, f"{quantization}.tflite"),
                quantization=quantization,
                representative_data=x,
            )
            self.assertLess(os.path.getsize(quantized), size)
            difference = keras_mm.export.verify(
                quantized, model, x, tolerance=tolerance
            )
            self.assertGreater(difference, 0.0)  # It is quantized.

    @pytest.mark.slow
    def test_captioner_and_speech_recognizer_decode_the_same(self):
        x = inputs()
        tmp = self.get_temp_dir()
        captioner = keras_mm.build_captioner(
            keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
            keras_mm.encoders.text_vocabulary(CAPTIONS),
            sequence_length=8,
            num_layers=1,
            hidden_dim=16,
        )
        scramble_captioner(captioner)
        self.assertGreater(len(set(captioner.generate(x["images"]))), 1)
        path = keras_mm.export.tflite(
            captioner, os.path.join(tmp, "captioner.tflite")
        )
        self.assertEqual(
            keras_mm.export.verify(path, captioner, x["images"]), 0.0
        )
        recognizer = keras_mm.build_speech_recognizer(
            list("abcdefgh '"),
            sample_rate=SAMPLE_RATE,
            max_duration=0.5,
            hidden_dim=16,
            num_layers=1,
        )
        scramble(recognizer.logits_dense)
        transcripts = recognizer.transcribe(x["audio"])
        self.assertTrue(all(transcripts))
        path = keras_mm.export.tflite(
            recognizer, os.path.join(tmp, "recognizer.tflite")
        )
        self.assertEqual(
            keras_mm.export.verify(path, recognizer, x["audio"]), 0.0
        )
        # Waveforms of different lengths: the runner pads them.
        clips = [x["audio"][0][:1000], x["audio"][1]]
        runner = keras_mm.export.LiteRTModel(path)
        self.assertEqual(
            runner(clips)["transcripts"], recognizer.transcribe(clips)
        )

    def test_bad_arguments(self):
        model = keras_mm.build_classifier(
            {"images": keras_mm.encoders.image("cnn_small", (32, 32, 3))},
            num_classes=2,
            hidden_dim=8,
        )
        tmp = self.get_temp_dir()
        path = os.path.join(tmp, "m.tflite")
        with self.assertRaisesRegex(ValueError, "must be one of"):
            keras_mm.export.tflite(model, path, quantization="int4")
        with self.assertRaisesRegex(ValueError, "representative_data"):
            keras_mm.export.tflite(model, path, quantization="int8")
        with self.assertRaisesRegex(ValueError, "must end with '.tflite'"):
            keras_mm.export.tflite(model, os.path.join(tmp, "m.lite"))
        open(path, "w").close()
        with self.assertRaisesRegex(ValueError, "overwrite=True"):
            keras_mm.export.tflite(model, path)
        self.assertEqual(os.listdir(tmp), ["m.tflite"])
