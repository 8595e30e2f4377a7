import keras
import keras_hub
import numpy as np
import pytest

import keras_mm
from keras_mm.base.pipeline_model import PipelineModel
from tests.test_case import TestCase

SHAPE = (32, 32, 3)


def random_images(n=2, size=32, channels=3):
    return np.random.randint(0, 256, (n, size, size, channels)).astype("uint8")


def tiny_resnet():
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64],
        stackwise_num_blocks=[1],
        stackwise_num_strides=[1],
        block_type="basic_block",
        image_shape=(None, None, 3),
    )


class ImageEncoderTest(TestCase):
    def test_cnn_small_shapes_and_resize(self):
        encoder = keras_mm.encoders.image("cnn_small", image_shape=SHAPE)
        for size in (32, 48):  # Other sizes are resized in the graph.
            out = encoder.predict(random_images(size=size), verbose=0)
            self.assertEqual(out["sequence_output"].shape, (2, 4, 64))
            self.assertEqual(out["pooled_output"].shape, (2, 64))
        np.testing.assert_allclose(
            out["pooled_output"],
            out["sequence_output"].mean(axis=1),
            rtol=1e-5,
            atol=1e-6,
        )

    def test_uint8_and_float_pixels_agree(self):
        encoder = keras_mm.encoders.image("cnn_small", image_shape=SHAPE)
        images = random_images()
        self.assertAllClose(
            encoder(images), encoder(images.astype("float32")), atol=1e-5
        )

    def test_fit_step(self):
        encoder = keras_mm.encoders.image("cnn_small", image_shape=SHAPE)
        images = keras.Input((None, None, 3), name="images")
        logits = keras.layers.Dense(2)(encoder(images)["pooled_output"])
        model = PipelineModel(images, logits)
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        x, y = random_images(8), np.array([0, 1] * 4)
        before = [
            w.numpy() if hasattr(w, "numpy") else np.array(w)
            for w in encoder.trainable_weights
        ]
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"]).all())
        after = keras.ops.convert_to_numpy(encoder.trainable_weights[0])
        self.assertFalse(np.allclose(before[0], after))

    def test_freeze(self):
        encoder = keras_mm.encoders.image(
            "cnn_small", image_shape=SHAPE, trainable=False
        )
        self.assertEqual(encoder.trainable_weights, [])

    def test_saving(self):
        encoder = keras_mm.encoders.image("cnn_small", image_shape=SHAPE)
        self.run_model_saving_test(encoder, random_images())

    @pytest.mark.slow
    def test_cross_backend(self):
        encoder = keras_mm.encoders.image("cnn_small", image_shape=SHAPE)
        self.run_cross_backend_test(encoder, random_images().astype("float32"))

    def test_keras_model_object(self):
        backbone = keras.Sequential(
            [keras.layers.Conv2D(5, 3, strides=2)], name="user_backbone"
        )
        encoder = keras_mm.encoders.image(backbone, image_shape=(16, 16, 3))
        out = encoder.predict(random_images(size=16), verbose=0)
        self.assertEqual(out["sequence_output"].shape, (2, 49, 5))

    def test_local_preset_directory(self):
        directory = self.get_temp_dir()
        backbone = tiny_resnet()
        backbone.save_to_preset(directory)
        encoder = keras_mm.encoders.image(directory, image_shape=SHAPE)
        images = random_images()
        out = encoder.predict(images, verbose=0)
        self.assertEqual(out["pooled_output"].shape, (2, 64))
        # The weights are the saved ones: same features as the backbone on
        # the same normalised pixels.
        normalised = encoder.network.get_layer("image_preprocessing")(images)
        expected = np.mean(
            keras.ops.convert_to_numpy(backbone(normalised)), axis=(1, 2)
        )
        np.testing.assert_allclose(
            out["pooled_output"], expected, rtol=1e-4, atol=1e-5
        )
        self.run_model_saving_test(encoder, images)

    def test_unreachable_preset_names_alternatives(self):
        self.run_offline_preset_test(
            keras_mm.encoders.image,
            "resnet_50_imagenet",
            builtins=("cnn_small", "vit_tiny"),
        )

    def test_bad_inputs(self):
        with pytest.raises(
            ValueError, match="Unknown image encoder.*resnet_18"
        ):
            keras_mm.encoders.image("resnet_7")
        with pytest.raises(ValueError, match="Received: backbone=42"):
            keras_mm.encoders.image(42)
        encoder = keras_mm.encoders.image("cnn_small", image_shape=SHAPE)
        with pytest.raises(
            ValueError,
            match=r"\(batch, None, None, 3\).*"
            r"Received shape: \(2, 32, 32, 1\)",
        ):
            encoder.predict(random_images(channels=1), verbose=0)
        with pytest.raises(ValueError, match=r"Received shape: \(2, 32, 32\)"):
            encoder.predict(np.zeros((2, 32, 32), "uint8"), verbose=0)
        with pytest.raises(ValueError, match="must hold numbers"):
            encoder.predict(np.array([["a"]]), verbose=0)
        # The ImagePreprocessing layer checks calls inside other models too.
        with pytest.raises(ValueError, match="Images must have shape"):
            encoder(np.zeros((2, 32, 32, 1), "float32"))
        # A failed call leaves the encoder usable.
        out = encoder.predict(random_images(), verbose=0)
        self.assertEqual(out["pooled_output"].shape, (2, 64))
