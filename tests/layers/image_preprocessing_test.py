import numpy as np
import pytest

from keras_mm.layers.image_preprocessing import ImagePreprocessing
from tests.test_case import TestCase


class ImagePreprocessingTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            ImagePreprocessing,
            {"image_shape": (8, 8, 3)},
            np.random.randint(0, 256, (2, 16, 12, 3)).astype("uint8"),
            expected_output_shape=(2, 8, 8, 3),
            run_training_check=False,  # No weights to train.
        )

    def test_scale_and_offset_per_channel(self):
        layer = ImagePreprocessing(
            (2, 2, 3), scale=[1.0, 0.5, 0.1], offset=[0.0, -1.0, 2.0]
        )
        out = layer(np.full((1, 2, 2, 3), 10, "uint8"))
        np.testing.assert_allclose(out[0, 0, 0], [10.0, 4.0, 3.0], rtol=1e-6)

    def test_same_size_is_not_resized(self):
        x = np.random.randint(0, 256, (1, 4, 4, 1)).astype("float32")
        out = ImagePreprocessing((4, 4, 1), scale=1.0)(x)
        np.testing.assert_allclose(out, x)

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="image_shape"):
            ImagePreprocessing((8, 8))
        layer = ImagePreprocessing((8, 8, 3))
        with pytest.raises(ValueError, match=r"Received: images of shape"):
            layer(np.zeros((2, 8, 8, 1)))
        with pytest.raises(ValueError, match=r"\(batch, height, width, 3\)"):
            ImagePreprocessing((8, 8, 3))(np.zeros((8, 8, 3)))
