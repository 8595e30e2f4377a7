import contextlib
import io
import json

import keras
import numpy as np
import pytest

import keras_mm
from keras_mm.callbacks import CaptionMetrics
from keras_mm.callbacks import TranscriptionMetrics
from keras_mm.callbacks import UnfreezeEncoders
from keras_mm.optimizers import Adam
from tests.optimizers_test import changed
from tests.optimizers_test import make_data
from tests.optimizers_test import make_model
from tests.optimizers_test import weights
from tests.test_case import TestCase


def compiled_model(multipliers=None):
    model = make_model()
    model.compile(
        optimizer=Adam(1e-2, learning_rate_multipliers=multipliers),
        loss="mse",
    )
    return model


class UnfreezeEncodersTest(TestCase):
    def fit_and_record(self, model, callback, **kwargs):
        """Fits 2 steps an epoch; returns the image encoder's weights at
        the start and after each epoch."""
        encoder = model.get_layer("image_encoder")
        history = [weights(encoder)]
        record = keras.callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs: history.append(weights(encoder))
        )
        x, y = make_data()
        model.fit(
            x,
            y,
            batch_size=4,
            callbacks=[callback, record],
            verbose=0,
            **kwargs,
        )
        return history

    def test_unfreezes_at_epoch(self):
        model = compiled_model({"image_encoder": 0.0})
        callback = UnfreezeEncoders({1: {"image_encoder": 1.0}}, verbose=1)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            history = self.fit_and_record(model, callback, epochs=3)
        self.assertEqual(changed(history[0], history[1]), [False] * 2)
        self.assertEqual(changed(history[1], history[2]), [True] * 2)
        self.assertEqual(changed(history[2], history[3]), [True] * 2)
        self.assertEqual(
            output.getvalue(),
            "Epoch 2: UnfreezeEncoders: learning-rate multiplier "
            "image_encoder=1.0\n",
        )
        self.assertEqual(
            model.optimizer.learning_rate_multipliers, {"image_encoder": 1.0}
        )

    def test_mixed_precision(self):
        # `compile` wraps the optimizer in a `LossScaleOptimizer`.
        keras.config.set_dtype_policy("mixed_float16")
        self.addCleanup(keras.config.set_dtype_policy, "float32")
        model = compiled_model({"image_encoder": 0.0})
        self.assertIsInstance(
            model.optimizer, keras.optimizers.LossScaleOptimizer
        )
        callback = UnfreezeEncoders({1: {"image_encoder": 1.0}})
        history = self.fit_and_record(model, callback, epochs=2)
        self.assertEqual(changed(history[0], history[1]), [False] * 2)
        self.assertEqual(changed(history[1], history[2]), [True] * 2)

    def test_stage_zero_and_resume(self):
        # A stage at epoch 0 applies before the first step.
        model = compiled_model()
        callback = UnfreezeEncoders({0: {"image_encoder": 0.0}})
        history = self.fit_and_record(model, callback, epochs=1)
        self.assertEqual(changed(history[0], history[1]), [False] * 2)
        # Resuming at epoch 2 applies the stages of epochs 1 and 2.
        model = compiled_model({"image_encoder": 0.0})
        callback = UnfreezeEncoders(
            {1: {"image_encoder": 0.5}, 2: {"text_encoder": 0.0}}
        )
        history = self.fit_and_record(
            model, callback, epochs=3, initial_epoch=2
        )
        self.assertEqual(changed(history[0], history[1]), [True] * 2)
        self.assertEqual(
            model.optimizer.learning_rate_multipliers,
            {"image_encoder": 0.5, "text_encoder": 0.0},
        )

    def test_needs_keras_mm_adam(self):
        model = make_model()
        model.compile(optimizer=keras.optimizers.Adam(), loss="mse")
        x, y = make_data()
        with self.assertRaisesRegex(
            ValueError,
            r"compiled with `keras_mm.optimizers.Adam`.*"
            r"learning_rate_multipliers=\{'image_encoder': 0.0\}.*"
            "Received: an optimizer of type keras.*Adam",
        ):
            model.fit(
                x,
                y,
                callbacks=[UnfreezeEncoders({1: {"image_encoder": 1.0}})],
                verbose=0,
            )

    def test_unmatched_prefix(self):
        model = compiled_model()
        x, y = make_data()
        callback = UnfreezeEncoders({3: {"audio_encoder": 1.0}})
        with self.assertRaisesRegex(
            ValueError, r"`schedule` has prefixes.*\['audio_encoder'\]"
        ):
            model.fit(x, y, callbacks=[callback], verbose=0)

    def test_validation(self):
        for schedule, message in [
            ({}, "non-empty dict"),
            ([(1, {"image_encoder": 1.0})], "non-empty dict"),
            ({-1: {"image_encoder": 1.0}}, "Received: -1"),
            ({"1": {"image_encoder": 1.0}}, "Received: '1'"),
            ({1: 1.0}, r"`schedule\[1\]` must be a dict"),
            ({1: {}}, "at least one prefix"),
            ({1: {"image_encoder": -1.0}}, r"schedule\[1\]\['image_encoder'\]"),
        ]:
            with self.assertRaisesRegex(ValueError, message):
                UnfreezeEncoders(schedule)
        with self.assertRaisesRegex(ValueError, "Received: verbose=2"):
            UnfreezeEncoders({1: {"image_encoder": 1.0}}, verbose=2)

    def test_config_round_trip(self):
        callback = UnfreezeEncoders(
            {6: {"image_encoder": 1.0}, 3: {"image_encoder": 0.1}}, verbose=1
        )
        config = json.loads(json.dumps(callback.get_config()))
        revived = UnfreezeEncoders.from_config(config)
        self.assertEqual(
            revived.schedule,
            {3: {"image_encoder": 0.1}, 6: {"image_encoder": 1.0}},
        )
        self.assertEqual(revived.get_config(), callback.get_config())
        revived = keras.saving.deserialize_keras_object(
            json.loads(
                json.dumps(keras.saving.serialize_keras_object(callback))
            )
        )
        self.assertIsInstance(revived, UnfreezeEncoders)


class CaptionMetricsTest(TestCase):
    def test_scores_every_frequency_epochs_and_the_last(self):
        from tests.models.captioner_test import CAPTIONS
        from tests.models.captioner_test import solid_images
        from tests.models.captioner_test import tiny_captioner

        model = tiny_captioner()
        images = solid_images()
        references = [[caption] for caption in CAPTIONS]
        scores = CaptionMetrics(images, references, frequency=2, max_length=5)
        history = model.fit(
            {"images": images, "text": CAPTIONS},
            epochs=5,
            callbacks=[scores],
            verbose=0,
        )
        self.assertEqual(scores.history["epoch"], [2, 4, 5])
        # History has a value per epoch: NaN where no score was computed.
        logged = history.history["val_bleu4"]
        self.assertTrue(np.isnan(logged[0]) and np.isnan(logged[2]))
        self.assertEqual(
            [logged[1], logged[3], logged[4]], scores.history["val_bleu4"]
        )
        self.assertEqual(len(history.history["val_cider_d"]), 5)
        # The last scores are those of the trained model's captions.
        predictions = model.generate(images, max_length=5)
        self.assertEqual(scores.predictions, predictions)
        self.assertAlmostEqual(
            scores.history["val_bleu4"][-1],
            keras_mm.metrics.bleu4(predictions, references),
        )
        self.assertAlmostEqual(
            scores.history["val_cider_d"][-1],
            keras_mm.metrics.cider_d(predictions, references),
        )

    def test_prints_captions(self):
        from tests.models.captioner_test import CAPTIONS
        from tests.models.captioner_test import solid_images
        from tests.models.captioner_test import tiny_captioner

        model = tiny_captioner()
        scores = CaptionMetrics(
            solid_images(), [[c] for c in CAPTIONS], verbose=1, max_length=3
        )
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            model.fit(
                {"images": solid_images(), "text": CAPTIONS},
                callbacks=[scores],
                verbose=0,
            )
        self.assertIn("Epoch 1: CaptionMetrics: val_bleu4 ", output.getvalue())

    def test_bad_arguments(self):
        from tests.models.captioner_test import solid_images

        images = solid_images()
        references = [["a"]] * 4
        with pytest.raises(ValueError, match="one entry per prediction"):
            CaptionMetrics(images, references[:3])
        with pytest.raises(ValueError, match="frequency=0"):
            CaptionMetrics(images, references, frequency=0)
        with pytest.raises(ValueError, match=r"Received: shape \(32, 32, 3\)"):
            CaptionMetrics(images[0], references)
        model = compiled_model()
        with pytest.raises(ValueError, match="`generate` method"):
            model.fit(
                *make_data(),
                callbacks=[CaptionMetrics(images, references)],
                verbose=0,
            )


class TranscriptionMetricsTest(TestCase):
    def test_logs_cer_and_wer_of_the_transcriptions(self):
        from tests.models.speech_recognizer_test import tiny_recognizer
        from tests.models.speech_recognizer_test import tone_data

        audio, texts = tone_data(4)
        model = tiny_recognizer()
        scores = TranscriptionMetrics(audio, texts, frequency=2, verbose=1)
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            history = model.fit(
                audio, texts, epochs=3, callbacks=[scores], verbose=0
            )
        self.assertEqual(scores.history["epoch"], [2, 3])
        logged = history.history["val_cer"]
        self.assertTrue(np.isnan(logged[0]))
        self.assertEqual(logged[1:], scores.history["val_cer"])
        predictions = model.transcribe(audio)
        self.assertEqual(scores.predictions, predictions)
        self.assertAlmostEqual(
            scores.history["val_wer"][-1],
            keras_mm.metrics.wer(predictions, texts),
        )
        self.assertIn(
            "Epoch 2: TranscriptionMetrics: val_cer ", output.getvalue()
        )

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="2 clips and 1 transcripts"):
            TranscriptionMetrics([np.zeros(10), np.zeros(10)], ["a"])
        with pytest.raises(ValueError, match="empty reference"):
            TranscriptionMetrics([np.zeros(10)], [""])
        model = compiled_model()
        with pytest.raises(ValueError, match="`transcribe` method"):
            model.fit(
                *make_data(),
                callbacks=[TranscriptionMetrics([np.zeros(10)], ["a"])],
                verbose=0,
            )
