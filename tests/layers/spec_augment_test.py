import numpy as np
import pytest

from keras_mm.layers.spec_augment import SpecAugment
from tests.test_case import TestCase


class SpecAugmentTest(TestCase):
    @pytest.mark.slow
    def test_layer_basics(self):
        self.run_layer_test(
            SpecAugment,
            init_kwargs={"max_time_mask": 4, "max_freq_mask": 3, "seed": 1},
            input_data=np.random.rand(2, 20, 16).astype("float32"),
            expected_output_shape=(2, 20, 16),
        )

    def test_identity_outside_training(self):
        features = np.random.rand(2, 20, 16).astype("float32")
        layer = SpecAugment(seed=1)
        self.assertAllClose(layer(features), features)
        self.assertAllClose(layer(features, training=False), features)

    def test_masks_bands_with_the_mean_in_training(self):
        features = np.random.rand(4, 20, 16).astype("float32") + 1.0
        layer = SpecAugment(
            num_time_masks=1,
            max_time_mask=5,
            num_freq_masks=1,
            max_freq_mask=4,
            seed=3,
        )
        outputs = np.asarray(layer(features, training=True))
        changed = outputs != features
        self.assertTrue(changed.any())
        means = features.mean(axis=(1, 2), keepdims=True)
        np.testing.assert_allclose(
            outputs[changed],
            np.broadcast_to(means, outputs.shape)[changed],
            rtol=1e-6,
        )
        # A masked cell lies in a fully masked row (time) or column (freq).
        for example in changed:
            rows = example.all(axis=1)
            columns = example.all(axis=0)
            self.assertTrue(
                (example == (rows[:, None] | columns[None, :])).all()
            )
            self.assertLessEqual(rows.sum(), 5)
            self.assertLessEqual(columns.sum(), 4)
        # Each call draws new masks.
        again = np.asarray(layer(features, training=True))
        self.assertFalse((again == outputs).all())

    def test_no_masks_is_identity(self):
        features = np.random.rand(2, 20, 16).astype("float32")
        layer = SpecAugment(num_time_masks=0, num_freq_masks=0)
        self.assertAllClose(layer(features, training=True), features)

    def test_config_and_bad_arguments(self):
        layer = SpecAugment(max_time_mask=3, seed=7)
        config = layer.get_config()
        self.assertEqual(config["max_time_mask"], 3)
        self.assertEqual(config["seed"], 7)
        with self.assertRaisesRegex(ValueError, "max_freq_mask=-1"):
            SpecAugment(max_freq_mask=-1)
