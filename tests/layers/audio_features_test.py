import keras
import numpy as np
import pytest

from keras_mm.layers.audio_features import AudioFeatures
from keras_mm.layers.audio_features import dct_matrix
from keras_mm.layers.audio_features import mel_filterbank
from tests.test_case import TestCase

KWARGS = {
    "sample_rate": 8000,
    "num_mel_bins": 16,
    "frame_length": 200,
    "frame_step": 80,
}


def tone(hertz, samples=2000, sample_rate=8000):
    t = np.arange(samples) / sample_rate
    return np.sin(2 * np.pi * hertz * t).astype("float32")


class AudioFeaturesTest(TestCase):
    @pytest.mark.slow
    def test_layer_basics(self):
        self.run_layer_test(
            AudioFeatures,
            init_kwargs=KWARGS,
            input_data=np.random.rand(2, 2000).astype("float32"),
            expected_output_shape=(2, 23, 16),
            run_training_check=False,
        )

    def test_feature_kinds_shapes(self):
        waveform = np.stack([tone(440), tone(2000)])
        for features, bins in (("stft", 129), ("log_mel", 16), ("mfcc", 13)):
            layer = AudioFeatures(features=features, **KWARGS)
            output = np.asarray(layer(waveform))
            self.assertEqual(output.shape, (2, 23, bins), msg=features)
            self.assertTrue(np.isfinite(output).all(), msg=features)

    def test_mel_energy_follows_pitch(self):
        layer = AudioFeatures(**KWARGS)
        output = np.asarray(layer(np.stack([tone(300), tone(3000)])))
        low, high = output.mean(axis=1).argmax(axis=-1)
        self.assertLess(low, high)

    def test_silence_is_finite_floor(self):
        output = np.asarray(AudioFeatures(**KWARGS)(np.zeros((1, 2000))))
        self.assertAllClose(output, np.full_like(output, np.log(1e-6)))

    def test_padding_mask_zeroes_audio_and_gives_frame_mask(self):
        layer = AudioFeatures(**KWARGS)
        noise = np.random.rand(1, 2000).astype("float32")
        mask = np.arange(2000)[None] < 1000
        features, frame_mask = layer(noise, padding_mask=mask)
        clean, _ = layer(noise * mask, padding_mask=mask)
        self.assertAllClose(features, clean)
        # A frame is valid when its first sample is: 0, 80, ..., 960.
        np.testing.assert_array_equal(
            np.asarray(frame_mask)[0], np.arange(23) * 80 < 1000
        )

    def test_matches_numpy_and_the_stft_layer(self):
        # An FFT over Hann-windowed frames, checked against numpy and
        # against `keras.layers.STFTSpectrogram` (the convolution that
        # computed these features before, so saved models keep their
        # inputs).
        waveform = np.random.default_rng(0).standard_normal((2, 2000))
        waveform = waveform.astype("float32")
        layer = AudioFeatures(features="stft", **KWARGS)
        starts = np.arange(23)[:, None] * 80
        frames = waveform[:, starts + np.arange(200)]
        window = np.hanning(200) / np.sqrt(np.sum(np.hanning(200) ** 2))
        spectrum = np.fft.rfft(frames * window, n=256)
        expected = np.log(np.abs(spectrum) ** 2 + 1e-6)
        self.assertAllClose(layer(waveform), expected, atol=1e-3)
        stft = keras.layers.STFTSpectrogram(
            mode="stft", frame_length=200, frame_step=80, fft_length=256
        )
        real, imag = np.split(np.asarray(stft(waveform[..., None])), 2, -1)
        self.assertAllClose(
            layer(waveform), np.log(real**2 + imag**2 + 1e-6), atol=1e-3
        )
        self.assertEqual(layer.weights, [])

    def test_normalize_per_clip_over_valid_frames(self):
        layer = AudioFeatures(normalize=True, **KWARGS)
        rng = np.random.default_rng(0)
        # Two clips of different loudness; the second half-padded.
        waveform = rng.standard_normal((2, 2000)).astype("float32")
        waveform[1] *= 30.0
        mask = np.arange(2000)[None] < np.array([[2000], [1000]])
        features, frame_mask = layer(waveform, padding_mask=mask)
        features, frame_mask = np.asarray(features), np.asarray(frame_mask)
        for clip in range(2):
            valid = features[clip][frame_mask[clip]]
            self.assertAllClose(valid.mean(axis=0), np.zeros(16), atol=1e-4)
            self.assertAllClose(valid.std(axis=0), np.ones(16), atol=1e-3)
        self.assertAllClose(features[1][~frame_mask[1]], 0.0)
        # Loudness is gone: a clip and its louder copy give one result.
        louder = layer(waveform[:1] * 30.0)
        self.assertAllClose(louder, layer(waveform[:1]), atol=1e-3)
        self.assertTrue(
            AudioFeatures(**KWARGS).get_config()["normalize"] is False
        )
        silence = np.asarray(layer(np.zeros((1, 2000), "float32")))
        self.assertAllClose(silence, np.zeros_like(silence), atol=1e-2)

    def test_matrices(self):
        dct = dct_matrix(16, 16)
        self.assertAllClose(dct.T @ dct, np.eye(16), atol=1e-5)
        filters = mel_filterbank(16, 129, 8000)
        self.assertEqual(filters.shape, (129, 16))
        self.assertTrue((filters.max(axis=0) > 0).all())

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "features='mel'"):
            AudioFeatures(features="mel")
        with self.assertRaisesRegex(ValueError, "num_mel_bins=0"):
            AudioFeatures(num_mel_bins=0)
        with self.assertRaisesRegex(ValueError, "num_mfcc=20, num_mel"):
            AudioFeatures(num_mfcc=20, num_mel_bins=16)
        with self.assertRaisesRegex(ValueError, "frame_step=300"):
            AudioFeatures(frame_length=200, frame_step=300)
        with self.assertRaisesRegex(ValueError, "at least `frame_length"):
            AudioFeatures(**KWARGS)(np.zeros((1, 100), "float32"))
