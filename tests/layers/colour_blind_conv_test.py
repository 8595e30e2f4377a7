import keras
import numpy as np
import pytest

from keras_mm.layers.colour_blind_conv import ColourBlindConv2D
from tests.test_case import TestCase


def square(channel, size=9, channels=3):
    """A bright square on a dark grey background, in one channel."""
    image = np.full((1, size, size, channels), 0.2, "float32")
    image[:, 2:6, 3:7, channel] = 0.9
    return image


class ColourBlindConv2DTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            ColourBlindConv2D,
            {"filters": 4, "kernel_size": 3, "strides": 2},
            np.random.rand(2, 9, 8, 3).astype("float32"),
            expected_output_shape=(2, 5, 4, 4),
        )

    def test_same_features_in_every_colour(self):
        layer = ColourBlindConv2D(8, 3, strides=2)
        red, green, blue = (layer(square(c)) for c in range(3))
        self.assertAllClose(red, green)
        self.assertAllClose(red, blue)
        # It is not blind to the outline: another shape gives other
        # features.
        moved = np.roll(square(0), 2, axis=1)
        self.assertGreater(np.abs(np.asarray(layer(moved)) - red).max(), 1e-3)

    def test_each_channel_alone_through_one_kernel(self):
        layer = ColourBlindConv2D(2, 3, use_bias=False)
        images = np.random.default_rng(0).random((2, 6, 5, 3), "float32")
        out = np.asarray(layer(images))
        per_channel = [
            np.asarray(layer.conv(images[..., c : c + 1])) for c in range(3)
        ]
        self.assertAllClose(out, np.max(per_channel, axis=0), atol=1e-5)
        self.assertEqual(layer.conv.kernel.shape, (3, 3, 1, 2))

    def test_saving(self):
        inputs = np.random.rand(2, 8, 8, 3).astype("float32")
        model = keras.Sequential(
            [keras.Input((8, 8, 3)), ColourBlindConv2D(4, 3, strides=2)]
        )
        self.run_model_saving_test(model, inputs)

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="filters=0"):
            ColourBlindConv2D(0, 3)
        with pytest.raises(ValueError, match="strides=-1"):
            ColourBlindConv2D(4, 3, strides=-1)
