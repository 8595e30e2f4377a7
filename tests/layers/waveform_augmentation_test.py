import keras
import numpy as np
import pytest

from keras_mm.layers.waveform_augmentation import WaveformAugmentation
from tests.test_case import TestCase

SAMPLE_RATE = 8000
# Every augmentation off: tests turn on the ones they check.
OFF = {
    "gain_probability": 0.0,
    "noise_probability": 0.0,
    "band_probability": 0.0,
    "reverb_probability": 0.0,
    "speed_probability": 0.0,
}


def only(name, **kwargs):
    """A layer with only `name`'s augmentation, always applied."""
    options = dict(OFF, sample_rate=SAMPLE_RATE, seed=1)
    options[f"{name}_probability"] = 1.0
    options.update(kwargs)
    return WaveformAugmentation(**options)


def padded_tones(lengths, samples=2000, frequency=440.0):
    """Tones of `lengths` samples padded with zeros, and their mask."""
    t = np.arange(samples) / SAMPLE_RATE
    tone = 0.5 * np.sin(2 * np.pi * frequency * t).astype("float32")
    mask = np.arange(samples)[None] < np.array(lengths)[:, None]
    return np.where(mask, tone, 0.0).astype("float32"), mask


def rms(x):
    return np.sqrt(np.mean(np.square(x), axis=-1))


class WaveformAugmentationTest(TestCase):
    @pytest.mark.slow
    def test_layer_basics(self):
        self.run_layer_test(
            WaveformAugmentation,
            init_kwargs={"sample_rate": SAMPLE_RATE, "seed": 1},
            input_data=np.random.rand(2, 800).astype("float32"),
            expected_output_shape=(2, 800),
        )

    def test_identity_outside_training(self):
        waveforms, mask = padded_tones([2000, 1200])
        layer = WaveformAugmentation(sample_rate=SAMPLE_RATE, seed=1)
        self.assertAllClose(layer(waveforms), waveforms)
        self.assertAllClose(layer(waveforms, training=False), waveforms)
        same, same_mask = layer(waveforms, padding_mask=mask)
        self.assertAllClose(same, waveforms)
        np.testing.assert_array_equal(np.asarray(same_mask), mask)

    def test_changes_waveforms_in_training_and_keeps_shape_and_dtype(self):
        waveforms, mask = padded_tones([2000, 1500, 1200, 800])
        layer = WaveformAugmentation(
            sample_rate=SAMPLE_RATE,
            **{name: 1.0 for name in OFF},
            seed=3,
        )
        outputs, new_mask = layer(waveforms, padding_mask=mask, training=True)
        self.assertEqual(tuple(outputs.shape), waveforms.shape)
        self.assertEqual(
            keras.backend.standardize_dtype(outputs.dtype), "float32"
        )
        self.assertEqual(
            keras.backend.standardize_dtype(new_mask.dtype), "bool"
        )
        outputs, new_mask = np.asarray(outputs), np.asarray(new_mask)
        self.assertTrue(np.isfinite(outputs).all())
        self.assertFalse(np.allclose(outputs, waveforms, atol=1e-3))
        # Padded samples stay zero.
        self.assertEqual(np.abs(outputs[~new_mask]).max(initial=0.0), 0.0)
        # Each call draws anew.
        again = np.asarray(layer(waveforms, training=True))
        self.assertFalse(np.allclose(again, outputs))
        # No probability: the identity, in training too.
        plain = WaveformAugmentation(sample_rate=SAMPLE_RATE, **OFF)
        self.assertAllClose(plain(waveforms, training=True), waveforms)

    def test_noise_at_the_signal_to_noise_ratio(self):
        waveforms, mask = padded_tones([2000, 1000])
        layer = only("noise", snr_range_db=(20.0, 20.0))
        outputs, _ = layer(waveforms, padding_mask=mask, training=True)
        noise = np.asarray(outputs) - waveforms
        self.assertTrue((noise[~mask] == 0).all())
        for row, valid in zip(range(2), (2000, 1000)):
            signal = rms(waveforms[row, :valid])
            ratio = 20 * np.log10(signal / rms(noise[row, :valid]))
            self.assertAlmostEqual(ratio, 20.0, delta=0.5)

    def test_gain_in_its_range(self):
        waveforms, _ = padded_tones([2000, 2000, 2000])
        layer = only("gain", gain_range_db=(-6.0, 6.0))
        outputs = np.asarray(layer(waveforms, training=True))
        decibels = 20 * np.log10(rms(outputs) / rms(waveforms))
        self.assertTrue((np.abs(decibels) <= 6.0 + 1e-4).all())
        ratios = outputs / np.where(waveforms == 0, 1.0, waveforms)
        for row in range(3):
            nonzero = waveforms[row] != 0
            self.assertAllClose(
                ratios[row][nonzero],
                np.full(nonzero.sum(), ratios[row][1]),
                atol=1e-4,
                rtol=1e-4,
            )

    def test_telephone_band(self):
        t = np.arange(4000) / SAMPLE_RATE
        tones = np.stack(
            [np.sin(2 * np.pi * f * t) for f in (60.0, 1000.0, 3900.0)]
        ).astype("float32")
        outputs = np.asarray(only("band")(tones, training=True))
        levels = rms(outputs[:, 200:-200]) / rms(tones[:, 200:-200])
        self.assertLess(levels[0], 0.1)
        self.assertAlmostEqual(levels[1], 1.0, delta=0.05)
        self.assertLess(levels[2], 0.1)

    def test_reverb_spreads_an_impulse(self):
        impulses = np.zeros((2, 2000), "float32")
        impulses[:, 100] = 1.0
        layer = only("reverb", reverb_range=(0.05, 0.1))
        outputs = np.asarray(layer(impulses, training=True))
        self.assertAllClose(outputs[:, :100], np.zeros((2, 100)), atol=1e-5)
        # A direct path, then a tail that dies out within 0.1 s (800).
        self.assertTrue((np.abs(outputs[:, 100]) > 0.1).all())
        self.assertTrue((np.abs(outputs[:, 101:900]) > 1e-3).any(axis=1).all())
        self.assertAllClose(outputs[:, 901:], np.zeros((2, 1099)), atol=1e-5)
        self.assertAllClose(rms(outputs), rms(impulses), rtol=1e-3)

    def test_speed_moves_the_audio_and_its_mask(self):
        waveforms, mask = padded_tones([1000, 1000, 2000])
        layer = only("speed", speed_range=(0.9, 0.9))
        outputs, new_mask = layer(waveforms, padding_mask=mask, training=True)
        outputs, new_mask = np.asarray(outputs), np.asarray(new_mask)
        # Slowed to 0.9: 1000 samples last 1112; a full clip may not slow.
        np.testing.assert_array_equal(new_mask.sum(axis=1), [1112, 1112, 2000])
        self.assertAllClose(outputs[2], waveforms[2])
        self.assertEqual(np.abs(outputs[~new_mask]).max(), 0.0)
        position = 500 * 0.9
        expected = np.interp(position, np.arange(2000), waveforms[0])
        self.assertAlmostEqual(outputs[0, 500], expected, places=5)
        faster = only("speed", speed_range=(1.1, 1.1))
        outputs, new_mask = faster(waveforms, padding_mask=mask, training=True)
        np.testing.assert_array_equal(
            np.asarray(new_mask).sum(axis=1), [910, 910, 1818]
        )

    def test_config_round_trip(self):
        layer = WaveformAugmentation(
            sample_rate=SAMPLE_RATE,
            noise_probability=0.9,
            snr_range_db=[5, 15],
            speed_range=(0.95, 1.05),
            seed=7,
        )
        config = layer.get_config()
        self.assertEqual(config["snr_range_db"], (5.0, 15.0))
        self.assertEqual(config["seed"], 7)
        revived = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(layer)
        )
        self.assertIsInstance(revived, WaveformAugmentation)
        self.assertEqual(revived.get_config(), config)

    def test_bad_arguments(self):
        bad = [
            ({"sample_rate": 0}, "sample_rate=0"),
            ({"noise_probability": 1.5}, "noise_probability=1.5"),
            ({"gain_probability": -0.1}, "gain_probability=-0.1"),
            ({"speed_probability": True}, "speed_probability=True"),
            ({"snr_range_db": (30.0, 10.0)}, "low <= high"),
            ({"snr_range_db": 10.0}, "pair of numbers"),
            ({"gain_range_db": (0.0, float("inf"))}, "finite"),
            ({"band_hz": (300.0, 4000.0)}, "below 4000"),
            ({"band_hz": (300.0, 300.0)}, "low < high"),
            ({"reverb_range": (0.0, 0.1)}, "above 0.0"),
            ({"speed_range": (-1.0, 1.0)}, "above 0.0"),
        ]
        for kwargs, message in bad:
            with self.assertRaisesRegex(ValueError, message, msg=kwargs):
                WaveformAugmentation(**dict({"sample_rate": 8000}, **kwargs))
        layer = WaveformAugmentation(sample_rate=SAMPLE_RATE)
        with self.assertRaisesRegex(ValueError, "known number of samples"):
            layer(keras.KerasTensor((2, None)))

    def test_in_a_jitted_model(self):
        inputs = keras.Input((800,))
        mask = keras.Input((800,), dtype="bool")
        waveforms, new_mask = WaveformAugmentation(
            sample_rate=SAMPLE_RATE,
            **{name: 1.0 for name in OFF},
            seed=1,
        )(inputs, padding_mask=mask)
        features = waveforms * keras.ops.cast(new_mask, "float32")
        outputs = keras.layers.Dense(1)(features)
        model = keras.Model([inputs, mask], outputs)
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
        rng = np.random.default_rng(0)
        x = rng.uniform(-0.5, 0.5, (8, 800)).astype("float32")
        m = np.arange(800)[None] < rng.integers(400, 801, (8, 1))
        x = np.where(m, x, 0.0).astype("float32")
        history = model.fit(
            [x, m], np.zeros((8, 1)), batch_size=4, epochs=2, verbose=0
        )
        self.assertTrue(np.isfinite(history.history["loss"]).all())
        # Inference: the layer is the identity.
        dense = model.layers[-1]
        expected = x @ np.asarray(dense.kernel) + np.asarray(dense.bias)
        self.assertAllClose(
            model.predict([x, m], verbose=0), expected, atol=1e-5
        )
