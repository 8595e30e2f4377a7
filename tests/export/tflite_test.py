"""TFLite export: builtin ops only, checked in a process that imports the
LiteRT interpreter alone, on every backend."""

import os

import keras
import numpy as np
import pytest

import keras_mm
from keras_mm.export import litert_runner
from keras_mm.export.tflite import _write_files
from keras_mm.layers import CaptionPreprocessor
from keras_mm.layers import SpeechPreprocessor
from keras_mm.layers import WordTokenizer
from tests.export.saved_model_test import CAPTIONS
from tests.export.saved_model_test import classifier
from tests.export.saved_model_test import inputs
from tests.test_case import TestCase


class TFLiteTest(TestCase):
    @pytest.mark.slow
    def test_query_fusion_exports_with_builtin_ops(self):
        # Sigmoid masks over image and padded audio tokens, on raw inputs.
        model = classifier(fusion="query")
        path = keras_mm.export.tflite(
            model, os.path.join(self.get_temp_dir(), "query.tflite")
        )
        self.assertLess(keras_mm.export.verify(path, model, inputs()), 1e-3)

    def test_shape_colour_cnn_and_bag_of_words_export_with_builtin_ops(self):
        x = inputs()
        vocab = keras_mm.encoders.text_vocabulary(x["text"])
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_shape_colour_small", image_shape=(32, 32, 3)
                ),
                "text": keras_mm.encoders.text(
                    "bag_of_words_small", vocabulary=vocab, sequence_length=6
                ),
            },
            num_classes=3,
            hidden_dim=16,
            fusion="query",
        )
        path = keras_mm.export.tflite(
            model, os.path.join(self.get_temp_dir(), "shape_colour.tflite")
        )
        x = {"images": x["images"], "text": x["text"]}
        self.assertLess(keras_mm.export.verify(path, model, x), 1e-3)

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

    @pytest.mark.backend_independent
    def test_failed_write_leaves_the_old_files(self):
        tmp = self.get_temp_dir()
        model = os.path.join(tmp, "m.tflite")
        assets = os.path.join(tmp, "m.json")
        _write_files({assets: b"old json", model: b"old model"})
        with self.assertRaises(TypeError):  # Not bytes: the write fails.
            _write_files({assets: b"new json", model: None})
        self.assertEqual(sorted(os.listdir(tmp)), ["m.json", "m.tflite"])
        for path, content in ((assets, b"old json"), (model, b"old model")):
            with open(path, "rb") as f:
                self.assertEqual(f.read(), content)
        _write_files({assets: b"new json", model: b"new model"})
        self.assertEqual(sorted(os.listdir(tmp)), ["m.json", "m.tflite"])
        with open(model, "rb") as f:
            self.assertEqual(f.read(), b"new model")

    def test_dynamic_image_size_is_refused(self):
        # A SavedModel serves any size; a TFLite file needs a fixed one.
        images = keras.Input((None, None, 3), name="images")
        outputs = keras.layers.Dense(2)(
            keras.layers.GlobalAveragePooling2D()(images)
        )
        model = keras_mm.models.MultimodalClassifier(
            {"images": images}, outputs, num_classes=2
        )
        tmp = self.get_temp_dir()
        with self.assertRaisesRegex(ValueError, "fixed `image_shape`"):
            keras_mm.export.tflite(model, os.path.join(tmp, "m.tflite"))
        self.assertEqual(os.listdir(tmp), [])

    @pytest.mark.backend_independent
    def test_runner_text_matches_the_layers(self):
        # The runner stands alone (NumPy only), so it repeats the
        # tokenizer and the detokenizers; they must agree.
        texts = CAPTIONS + ["Two RED, squares!", "", "unknown (words) here."]
        vocab = keras_mm.encoders.text_vocabulary(CAPTIONS)
        np.testing.assert_array_equal(
            litert_runner.tokenize(texts, vocab, 6),
            WordTokenizer(vocab, 6)(texts)["token_ids"],
        )
        np.testing.assert_array_equal(
            litert_runner.tokenize(texts, litert_runner.word_index(vocab), 6),
            litert_runner.tokenize(texts, vocab, 6),
        )
        ids = np.random.default_rng(0).integers(0, len(vocab), (50, 9))
        self.assertEqual(
            litert_runner.captions_from_ids(ids, vocab),
            CaptionPreprocessor(vocab, 8).detokenize(ids),
        )
        # And the greedy CTC decoder: the runner's, and the recognizer's
        # (`keras.ops.ctc_decode`, then the preprocessor's detokenizer).
        characters = list("abc '")
        frames = np.random.default_rng(1).integers(0, 6, (50, 12))
        logits = 10.0 * np.eye(6, dtype="float32")[frames]
        decoded, _ = keras.ops.ctc_decode(
            logits, np.full(50, 12, "int32"), strategy="greedy", mask_index=0
        )
        preprocessor = SpeechPreprocessor(characters, 8000, 0.5, 12)
        self.assertEqual(
            litert_runner.transcripts_from_frames(frames, characters),
            preprocessor.detokenize(decoded[0]),
        )
