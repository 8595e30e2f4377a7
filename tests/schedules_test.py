import warnings

import keras
import numpy as np
import pytest

import keras_mm
from keras_mm.base.pipeline_model import PipelineModel
from keras_mm.schedules import WarmupCosineDecay
from tests.test_case import TestCase


def rates(schedule, steps):
    return [float(schedule(step)) for step in steps]


def make_model(schedule):
    inputs = keras.Input((3,))
    model = PipelineModel(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    return model


def fit(model, rows, batch_size, epochs, **kwargs):
    data = np.random.default_rng(0).normal(size=(rows, 3)).astype("float32")
    model.fit(
        data,
        data[:, :1],
        batch_size=batch_size,
        epochs=epochs,
        verbose=0,
        **kwargs,
    )


class WarmupCosineDecayTest(TestCase):
    def test_warms_up_then_decays_to_zero(self):
        schedule = WarmupCosineDecay(2.0, warmup_steps=4, total_steps=100)
        values = rates(schedule, range(101))
        # The warm-up is a tenth of the run at most: 4 steps here.
        self.assertAllClose(values[:4], [0.5, 1.0, 1.5, 2.0])
        self.assertTrue(np.all(np.diff(values[4:]) <= 1e-6))
        self.assertAllClose(values[52], 1.0, atol=1e-6)
        self.assertAllClose(values[100], 0.0, atol=1e-6)

    def test_short_run_shortens_the_warmup(self):
        schedule = WarmupCosineDecay(1.0, warmup_steps=200, total_steps=50)
        values = rates(schedule, range(50))
        self.assertAllClose(values[4], 1.0)  # Warm-up: 50 // 10 steps.

    def test_without_total_steps_stays_at_peak(self):
        schedule = WarmupCosineDecay(1.0, warmup_steps=10)
        self.assertAllClose(rates(schedule, [0, 9, 10_000]), [0.1, 1.0, 1.0])

    def test_start_step_shifts_the_run(self):
        schedule = WarmupCosineDecay(
            1.0, warmup_steps=0, total_steps=10, start_step=20
        )
        self.assertAllClose(rates(schedule, [20, 30]), [1.0, 0.0], atol=1e-6)

    def test_config_round_trip(self):
        schedule = WarmupCosineDecay(3e-3, warmup_steps=7, total_steps=70)
        restored = keras.optimizers.schedules.deserialize(
            keras.optimizers.schedules.serialize(schedule)
        )
        self.assertIsInstance(restored, WarmupCosineDecay)
        self.assertEqual(restored.get_config(), schedule.get_config())

    def test_bad_arguments_say_what_was_received(self):
        for kwargs, match in [
            ({"peak": 0}, "peak=0"),
            ({"peak": float("nan")}, "peak=nan"),
            ({"peak": 1.0, "warmup_steps": -1}, "warmup_steps=-1"),
            ({"peak": 1.0, "total_steps": 0}, "total_steps=0"),
            ({"peak": 1.0, "start_step": 1.5}, "start_step=1.5"),
        ]:
            with self.assertRaisesRegex(ValueError, match):
                WarmupCosineDecay(**kwargs)


class FitSpanTest(TestCase):
    def test_each_fit_warms_up_and_decays_once(self):
        schedule = WarmupCosineDecay(0.01, warmup_steps=2)
        model = make_model(schedule)
        fit(model, rows=40, batch_size=8, epochs=3)  # 5 batches x 3.
        self.assertEqual((schedule.start_step, schedule.total_steps), (0, 15))
        self.assertAllClose(model.optimizer.learning_rate, 0.0, atol=1e-6)
        fit(model, rows=40, batch_size=10, epochs=2)  # 4 batches x 2.
        self.assertEqual((schedule.start_step, schedule.total_steps), (15, 8))
        self.assertAllClose(model.optimizer.learning_rate, 0.0, atol=1e-6)

    def test_steps_per_epoch_and_validation_split_count(self):
        schedule = WarmupCosineDecay(0.01)
        model = make_model(schedule)
        fit(model, rows=40, batch_size=8, epochs=2, validation_split=0.5)
        self.assertEqual(schedule.total_steps, 6)  # 20 rows: 3 batches.
        fit(model, rows=40, batch_size=8, epochs=2, steps_per_epoch=2)
        self.assertEqual(schedule.total_steps, 4)

    def test_dataset_of_unknown_length_keeps_the_peak(self):
        schedule = WarmupCosineDecay(0.01, warmup_steps=1)
        model = make_model(schedule)

        import tensorflow as tf

        rows = np.ones((8, 3), "float32")
        data = tf.data.Dataset.from_tensor_slices((rows, rows[:, :1]))
        data = data.filter(lambda x, y: True).batch(2)  # Unknown length.
        with warnings.catch_warnings():
            # Keras warns at the end of an epoch of unknown length.
            warnings.simplefilter("ignore", UserWarning)
            model.fit(data, epochs=1, shuffle=False, verbose=0)
        self.assertIsNone(schedule.total_steps)
        self.assertAllClose(model.optimizer.learning_rate, 0.01)


@pytest.mark.slow
class RecognizerRecipeTest(TestCase):
    def test_recognizer_defaults_carry_the_schedule(self):
        asr = keras_mm.build_speech_recognizer(
            list("ab "), sample_rate=8000, max_duration=0.5, num_mel_bins=16
        )
        schedule = asr.optimizer._learning_rate
        self.assertIsInstance(schedule, WarmupCosineDecay)
        self.assertEqual(schedule.peak, 3e-3)
        audio = [np.zeros(4000, "float32")] * 4
        asr.fit(
            audio, ["ab", "a", "b", "ba"], batch_size=2, epochs=2, verbose=0
        )
        self.assertEqual(schedule.total_steps, 4)
        self.assertAllClose(asr.optimizer.learning_rate, 0.0, atol=1e-6)
        constant = keras_mm.build_speech_recognizer(
            list("ab "),
            sample_rate=8000,
            max_duration=0.5,
            num_mel_bins=16,
            hidden_dim=16,
            num_layers=1,
            schedule=None,
        )
        self.assertAllClose(constant.optimizer.learning_rate, 3e-3)
        with self.assertRaisesRegex(ValueError, "schedule='cosine'"):
            keras_mm.build_speech_recognizer(list("ab "), schedule="cosine")


class ClassifierScheduleTest(TestCase):
    def build(self, **kwargs):
        encoders = {
            "images": keras_mm.encoders.image(
                "cnn_small", image_shape=(16, 16, 3)
            )
        }
        return keras_mm.build_classifier(
            encoders, num_classes=2, hidden_dim=8, **kwargs
        )

    def test_classifier_warms_up_by_default(self):
        model = self.build(learning_rate=2e-3, learning_rates={"images": 0})
        schedule = model.optimizer._learning_rate
        self.assertIsInstance(schedule, WarmupCosineDecay)
        self.assertEqual(schedule.peak, 2e-3)
        # The per-encoder rates are relative to the peak.
        self.assertEqual(
            model.optimizer.learning_rate_multipliers, {"image_encoder": 0.0}
        )
        images = np.zeros((6, 16, 16, 3), "uint8")
        model.fit({"images": images}, [0, 1] * 3, batch_size=2, verbose=0)
        self.assertEqual(schedule.total_steps, 3)
        self.assertAllClose(model.optimizer.learning_rate, 0.0, atol=1e-6)

    def test_classifier_constant_rate_and_bad_schedule(self):
        model = self.build(learning_rate=2e-3, schedule=None)
        self.assertAllClose(model.optimizer.learning_rate, 2e-3)
        with self.assertRaisesRegex(ValueError, "schedule='step'"):
            self.build(schedule="step")
