import keras
import numpy as np
import pytest

from keras_mm.encoders.audio import audio
from keras_mm.encoders.encoder import Encoder
from keras_mm.layers.waveform_augmentation import WaveformAugmentation
from tests.test_case import TestCase

TINY = {
    "sample_rate": 8000,
    "max_duration": 0.25,
    "num_mel_bins": 16,
    "hidden_dim": 8,
}


def clips(*lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, n).astype("float32") for n in lengths]


class AudioEncoderTest(TestCase):
    def test_predict_on_waveforms_of_any_length(self):
        encoder = audio(**TINY)
        self.assertIsInstance(encoder, Encoder)
        self.assertEqual(encoder.hidden_dim, 8)
        waveforms = clips(300, 2000, 5000, 0)
        outputs = encoder.predict(waveforms, batch_size=4, verbose=0)
        self.assertEqual(outputs["sequence_output"].shape, (4, 6, 8))
        self.assertEqual(outputs["pooled_output"].shape, (4, 8))
        self.assertTrue(np.isfinite(outputs["sequence_output"]).all())
        # The empty clip has no valid token: it pools to zeros.
        self.assertAllClose(outputs["pooled_output"][3], np.zeros(8))
        # Token-level padding: 300 samples fill 1 of the 6 tokens of 0.25 s
        # at 8 kHz; 2000 fill them all, and 5000 are cropped.
        np.testing.assert_array_equal(
            outputs["padding_mask"].sum(axis=1), [1, 6, 6, 0]
        )
        # Same as calling the network on the preprocessed batch.
        direct = encoder(encoder.preprocessor(waveforms))
        self.assertAllClose(outputs, direct, atol=1e-5)

    def test_feature_kinds(self):
        for features in ("stft", "mfcc"):
            encoder = audio(features=features, spec_augment=False, **TINY)
            outputs = encoder(encoder.preprocessor(clips(100, 2000)))
            self.assertEqual(
                tuple(outputs["sequence_output"].shape),
                (2, 6, 8),
                msg=features,
            )

    def test_normalized_features_ignore_loudness(self):
        # A louder clip shifts every log-mel bin by the same amount, which
        # per-clip normalisation removes; without it the outputs differ.
        quiet = clips(2000)[0] * np.float32(0.05)
        loud = quiet * np.float32(20.0)
        for normalize in (True, False):
            encoder = audio(
                spec_augment=False, normalize_features=normalize, **TINY
            )
            outputs = encoder.predict([quiet, loud], verbose=0)
            pooled = outputs["pooled_output"]
            if normalize:
                self.assertAllClose(pooled[0], pooled[1], atol=1e-3)
            else:
                self.assertGreater(np.abs(pooled[0] - pooled[1]).max(), 1e-2)

    def test_padding_barely_changes_the_pooled_output(self):
        short = audio(**TINY)
        long = audio(**dict(TINY, max_duration=0.5))
        long.set_weights(short.get_weights())
        waveform = clips(1500)
        pooled_short = short.predict(waveform, verbose=0)["pooled_output"]
        pooled_long = long.predict(waveform, verbose=0)["pooled_output"]
        self.assertAllClose(pooled_short, pooled_long, atol=1e-4, rtol=1e-4)
        # Whatever lies under the padding mask is ignored.
        inputs = short.preprocessor(waveform)
        noisy = dict(
            inputs,
            audio=inputs["audio"]
            + (~inputs["audio_padding_mask"]) * np.float32(0.9),
        )
        self.assertAllClose(short(inputs), short(noisy), atol=1e-6)

    def test_spec_augment_only_in_training(self):
        inputs = audio(**TINY).preprocessor(clips(2000, 2000))
        encoder = audio(**TINY)
        first = encoder(inputs, training=True)["pooled_output"]
        second = encoder(inputs, training=True)["pooled_output"]
        self.assertGreater(np.abs(np.asarray(first - second)).max(), 1e-4)
        self.assertAllClose(encoder(inputs), encoder(inputs))
        plain = audio(spec_augment=False, **TINY)
        self.assertAllClose(
            plain(inputs, training=True), plain(inputs, training=True)
        )

    def test_waveform_augmentation_only_in_training(self):
        inputs = audio(**TINY).preprocessor(clips(2000, 1000))
        encoder = audio(spec_augment=False, waveform_augmentation=True, **TINY)
        layer = encoder.network.get_layer("audio_encoder_waveform_augmentation")
        self.assertIsInstance(layer, WaveformAugmentation)
        self.assertEqual(layer.sample_rate, TINY["sample_rate"])
        first = encoder(inputs, training=True)["pooled_output"]
        second = encoder(inputs, training=True)["pooled_output"]
        self.assertGreater(np.abs(np.asarray(first - second)).max(), 1e-4)
        self.assertAllClose(encoder(inputs), encoder(inputs))
        # The same weights without the layer: the same outputs in inference.
        plain = audio(spec_augment=False, **TINY)
        plain.set_weights(encoder.get_weights())
        self.assertAllClose(plain(inputs), encoder(inputs))
        # A layer of one's own, saved and loaded with the encoder.
        given = WaveformAugmentation(
            TINY["sample_rate"], noise_probability=1.0, seed=3, name="aug"
        )
        encoder = audio(waveform_augmentation=given, **TINY)
        self.assertIs(encoder.network.get_layer("aug"), given)
        restored = self.run_model_saving_test(encoder, inputs, atol=1e-5)
        revived = restored.network.get_layer("aug")
        self.assertEqual(revived.get_config(), given.get_config())
        for bad in ("yes", WaveformAugmentation(16000)):
            with self.assertRaisesRegex(ValueError, "waveform_augmentation="):
                audio(waveform_augmentation=bad, **TINY)

    @pytest.mark.slow
    def test_fit_one_step_with_a_head(self):
        encoder = audio(**TINY)
        inputs = encoder.input
        logits = keras.layers.Dense(2)(encoder(inputs)["pooled_output"])
        model = keras.Model(inputs, logits)
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        x = encoder.preprocessor(clips(2000, 800, 1600, 50))
        before = [np.array(w) for w in encoder.trainable_weights]
        history = model.fit(
            x, np.array([0, 1, 0, 1]), batch_size=4, epochs=1, verbose=0
        )
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        after = encoder.trainable_weights
        self.assertTrue(
            any(not np.allclose(b, a) for b, a in zip(before, after))
        )

    def test_frozen_encoder(self):
        encoder = audio(trainable=False, **TINY)
        self.assertEqual(encoder.trainable_weights, [])
        self.assertEqual(
            audio(**TINY)
            .network.get_layer("audio_encoder_features")
            .trainable_weights,
            [],
        )

    def test_saving(self):
        encoder = audio(**TINY)
        inputs = encoder.preprocessor(clips(700, 2000))
        restored = self.run_model_saving_test(encoder, inputs, atol=1e-5)
        self.assertEqual(restored.preprocessor.num_samples, 2000)

    @pytest.mark.slow
    def test_cross_backend(self):
        encoder = audio(**TINY)
        waveforms = np.stack(clips(1500, 1500))
        self.run_cross_backend_test(
            encoder, waveforms, atol=1e-4, mode="predict"
        )

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "Allowed: spectrogram_cnn"):
            audio("wav2vec")
        with self.assertRaisesRegex(ValueError, "features='mel'"):
            audio(features="mel", **TINY)
        with self.assertRaisesRegex(ValueError, "max_duration=0.001"):
            audio(**dict(TINY, max_duration=0.001))
        encoder = audio(**TINY)
        with self.assertRaisesRegex(ValueError, "dtype=int64"):
            encoder.predict(np.zeros((2, 100), "int64"), verbose=0)
        with self.assertRaisesRegex(ValueError, "not strings"):
            encoder.predict(["a.wav", "b.wav"], verbose=0)
