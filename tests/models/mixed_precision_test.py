import os

import keras
import numpy as np
import pytest
from absl.testing import parameterized

import keras_mm
from tests.test_case import TestCase

STATEMENTS = ["the circles are red", "the squares are big", "a word", ""]


def images(n=4, size=32):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3)).astype("uint8")


@pytest.mark.slow
class MixedPrecisionTest(TestCase):
    """`keras.config.set_dtype_policy(...)` before building is the one line
    that trains every builder's model in mixed precision."""

    def setUp(self):
        super().setUp()
        self.addCleanup(keras.config.set_dtype_policy, "float32")

    def check_classifier(self, policy):
        keras.config.set_dtype_policy(policy)
        vocab = keras_mm.encoders.text_vocabulary(STATEMENTS)
        classifier = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                ),
                "text": keras_mm.encoders.text(
                    "transformer_small",
                    vocabulary=vocab,
                    sequence_length=6,
                    hidden_dim=16,
                ),
            },
            num_classes=3,
            fusion="cross_attention",
        )
        x = {"images": images(), "text": STATEMENTS}
        history = classifier.fit(x, np.array([0, 1, 2, 0]), epochs=2, verbose=0)
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        probabilities = classifier.predict(x, verbose=0)
        # Heads and logits compute in float32 whatever the policy.
        self.assertEqual(probabilities.dtype, np.float32)
        np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
        # Weights stay float32; only the compute dtype changes.
        self.assertEqual(
            {v.dtype for v in classifier.trainable_variables}, {"float32"}
        )
        compute = policy.removeprefix("mixed_")
        self.assertEqual(classifier.layers[-2].compute_dtype, compute)
        # float16 needs loss scaling, which `compile` adds.
        self.assertEqual(
            isinstance(
                classifier.optimizer, keras.optimizers.LossScaleOptimizer
            ),
            policy == "mixed_float16",
        )
        path = os.path.join(self.get_temp_dir(), "classifier.keras")
        classifier.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual(loaded.dtype_policy.name, policy)
        np.testing.assert_allclose(
            loaded.predict(x, verbose=0), probabilities, atol=1e-6
        )

    @parameterized.named_parameters(
        ("bfloat16", "mixed_bfloat16"), ("float16", "mixed_float16")
    )
    def test_classifier_trains_with_float32_outputs(self, policy):
        self.check_classifier(policy)

    def test_sequence_models_train_in_mixed_bfloat16(self):
        # float16 is slow on CPUs, and sequence models run the same layers.
        keras.config.set_dtype_policy("mixed_bfloat16")
        vocab = keras_mm.encoders.text_vocabulary(STATEMENTS)
        captioner = keras_mm.build_captioner(
            keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
            vocab,
            sequence_length=6,
            num_layers=1,
            num_heads=2,
            hidden_dim=16,
        )
        history = captioner.fit(
            {"images": images(), "text": STATEMENTS}, epochs=2, verbose=0
        )
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        self.assertLen(captioner.generate(images(2)), 2)

        recognizer = keras_mm.build_speech_recognizer(
            list("abc "),
            sample_rate=8000,
            max_duration=0.5,
            num_mel_bins=16,
            hidden_dim=16,
            num_layers=1,
            filters=4,
        )
        rng = np.random.default_rng(0)
        audio = [0.1 * rng.standard_normal(4000).astype("float32")] * 4
        history = recognizer.fit(audio, ["abc", "a b"] * 2, epochs=2, verbose=0)
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        self.assertLen(recognizer.transcribe(audio[:2]), 2)
