"""Serving signatures called as a server calls them: with tensors, through
`tf.saved_model.load`."""

import os

import numpy as np
import pytest
import tensorflow as tf

import keras_mm
from tests.test_case import TestCase


# Exported in this process: no child process under TensorFlow (the
# signatures are the same from any backend).
@pytest.mark.tf_only
class SignaturesTest(TestCase):
    def test_tensors_of_another_shape_are_refused_and_encoded_images_resized(
        self,
    ):
        model = keras_mm.build_classifier(
            {"images": keras_mm.encoders.image("cnn_small", (32, 32, 3))},
            num_classes=3,
            hidden_dim=8,
        )
        path = keras_mm.export.saved_model(
            model, os.path.join(self.get_temp_dir(), "m")
        )
        signatures = tf.saved_model.load(path).signatures
        served, encoded = (
            signatures["serving_default"],
            signatures["encoded_images"],
        )
        colour = np.array([200, 30, 90], "uint8")
        pixels = np.broadcast_to(colour, (2, 32, 32, 3))
        expected = served(images=tf.constant(pixels))["probabilities"]
        # Encoded at another size, the image is resized (one colour: the
        # same pixels at every size).
        for side in (32, 48, 20):
            image = np.broadcast_to(colour, (side, side, 3))
            png = tf.io.encode_png(image)
            answer = encoded(images=tf.stack([png, png]))["probabilities"]
            np.testing.assert_allclose(answer, expected, atol=1e-6)
        # Tensors are not checked against the signature's shapes by
        # TensorFlow: the function checks them (without the batch axis,
        # images aborted the process; another size was answered).
        for shape in ((2, 31, 31, 3), (2, 1, 32, 32, 3), (32, 32, 3)):
            with self.assertRaisesRegex(
                tf.errors.InvalidArgumentError, "not compatible"
            ):
                served(images=tf.zeros(shape, tf.uint8))
        with self.assertRaisesRegex(
            tf.errors.InvalidArgumentError, "not compatible"
        ):
            encoded(images=tf.stack([[png]]))
