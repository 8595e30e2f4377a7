import keras
import numpy as np
import pytest

from keras_mm.encoders import image_architectures
from tests.test_case import TestCase

# Backbone parameters at 224x224 (no classification head), with the
# moving statistics of batch normalisation counted, as `count_params` does.
# ResNet and MobileNet: the `params` metadata of KerasHub's presets.
# EfficientNet-B0: timm's 5,288,548 trainable parameters minus the
# 1280 * 1000 + 1000 head, plus the moving statistics. ViT-Ti/16: timm's
# 5,717,416 minus the 192 * 1000 + 1000 head.
PARAMS_AT_224 = {
    "resnet_18": 11_186_112,
    "resnet_50": 23_561_152,
    "efficientnet_b0": 4_049_564,
    "mobilenet_v3_small": 939_120,
    "vit_tiny": 5_524_416,
}
TRAINABLE_EFFICIENTNET_B0 = 5_288_548 - (1280 * 1000 + 1000)


class ImageArchitecturesTest(TestCase):
    def check_forward(self, model, image_shape, expected_shape):
        self.assertEqual(tuple(model.input.shape), (None, *image_shape))
        images = np.random.default_rng(0).normal(size=(2, *image_shape))
        outputs = keras.ops.convert_to_numpy(
            model(images.astype("float32"), training=False)
        )
        self.assertEqual(outputs.shape, expected_shape)
        self.assertTrue(np.all(np.isfinite(outputs)))

    def test_names_and_normalization(self):
        self.assertEqual(
            image_architectures.names(),
            [
                "cnn_shape_colour_small",
                "cnn_small",
                "efficientnet_b0",
                "mobilenet_v3_small",
                "resnet_18",
                "resnet_50",
                "vit_tiny",
            ],
        )
        self.assertEqual(
            sorted(image_architectures.NORMALIZATION),
            image_architectures.names(),
        )
        # Our own CNNs take pixels in [0, 1], the others their presets'.
        for name in ("cnn_small", "cnn_shape_colour_small"):
            self.assertIsNone(image_architectures.NORMALIZATION[name])
        for name in image_architectures.names()[2:]:
            mean, std = image_architectures.NORMALIZATION[name]
            self.assertLen(mean, 3)
            self.assertLen(std, 3)
            self.assertTrue(all(0.0 < value < 1.0 for value in mean + std))
        self.assertEqual(
            image_architectures.NORMALIZATION["resnet_50"],
            ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        )
        self.assertEqual(
            image_architectures.NORMALIZATION["vit_tiny"],
            ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
        )

    def test_cnn_small(self):
        model = image_architectures.ARCHITECTURES["cnn_small"]((32, 64, 3))
        self.check_forward(model, (32, 64, 3), (2, 2, 4, 64))
        self.assertEqual(model.name, "cnn_small")
        self.assertEqual(model.count_params(), 93_920)
        for layer in model.layers[1:]:
            self.assertStartsWith(layer.name, "conv_block_")
        images = np.random.default_rng(0).normal(size=(2, 32, 64, 3))
        self.run_model_saving_test(model, images.astype("float32"))
        model = image_architectures.cnn_small(np.array([28, 28, 1]))
        self.assertEqual(model.output.shape, (None, 2, 2, 64))

    def test_cnn_shape_colour_small(self):
        model = image_architectures.ARCHITECTURES["cnn_shape_colour_small"](
            (32, 64, 3)
        )
        self.check_forward(model, (32, 64, 3), (2, 2, 4, 80))
        self.assertEqual(model.name, "cnn_shape_colour_small")
        for layer in model.layers[1:]:
            self.assertRegex(layer.name, "^(shape_block_|colour_|shape_and)")
        # Blocks 1-3 are each followed by a stride-1 block of their width.
        for i, filters in ((1, 64), (2, 64), (3, 64)):
            refine = model.get_layer(f"shape_block_{i}_refine_conv")
            self.assertEqual(tuple(refine.strides), (1, 1))
            self.assertEqual(refine.filters, filters)
        # Shape features (the first 64) are the same whatever the colour of
        # an object; the colour features (the last 16) are not.
        image = np.full((1, 32, 64, 3), 0.2, "float32")
        image[:, 4:14, 6:16, 0] = 0.9
        features = [
            keras.ops.convert_to_numpy(
                model(np.roll(image, c, axis=-1), training=False)
            )
            for c in range(3)
        ]
        for other in features[1:]:
            self.assertAllClose(features[0][..., :64], other[..., :64])
        self.assertGreater(
            np.abs(features[0][..., 64:] - features[1][..., 64:]).max(), 1e-3
        )
        self.run_model_saving_test(model, image)
        model = image_architectures.cnn_shape_colour_small((28, 28, 1))
        self.assertEqual(model.output.shape, (None, 2, 2, 80))

    @pytest.mark.slow
    def test_cnn_small_trains(self):
        backbone = image_architectures.cnn_small((16, 16, 3))
        logits = keras.layers.Dense(2)(
            keras.layers.GlobalAveragePooling2D()(backbone.output)
        )
        model = keras.Model(backbone.input, logits)
        model.compile(
            optimizer="adam",
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        images = np.random.default_rng(0).normal(size=(4, 16, 16, 3))
        history = model.fit(
            images.astype("float32"),
            np.array([0, 1, 0, 1]),
            epochs=2,
            verbose=0,
        )
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))

    @pytest.mark.slow
    def test_resnet_18(self):
        model = image_architectures.resnet_18((32, 64, 3))
        self.check_forward(model, (32, 64, 3), (2, 1, 2, 512))

    @pytest.mark.slow
    def test_resnet_50(self):
        model = image_architectures.resnet_50((32, 64, 3))
        self.check_forward(model, (32, 64, 3), (2, 1, 2, 2048))

    @pytest.mark.slow
    def test_efficientnet_b0(self):
        model = image_architectures.efficientnet_b0((32, 64, 3))
        self.check_forward(model, (32, 64, 3), (2, 1, 2, 1280))

    @pytest.mark.slow
    def test_mobilenet_v3_small(self):
        model = image_architectures.mobilenet_v3_small((32, 64, 3))
        self.check_forward(model, (32, 64, 3), (2, 1, 2, 576))

    @pytest.mark.slow
    def test_vit_tiny(self):
        model = image_architectures.vit_tiny((32, 32, 3), patch_size=8)
        self.check_forward(model, (32, 32, 3), (2, 1 + 4 * 4, 192))

    def test_vit_patch_size(self):
        for image_shape, expected in [
            ((224, 224, 3), 16),
            ((64, 64, 3), 16),
            ((32, 32, 3), 16),
            ((32, 48, 3), 16),
            ((24, 24, 3), 8),
            ((16, 16, 3), 8),
            ((28, 28, 1), 4),
            ((8, 8, 3), 4),
            ((30, 30, 3), 2),
            ((7, 7, 3), 1),
        ]:
            self.assertEqual(
                image_architectures.vit_patch_size(image_shape),
                expected,
                msg=str(image_shape),
            )

    def test_bad_image_shape(self):
        for image_shape in [(None, None, 3), (32, 32), (0, 32, 3)]:
            for name in image_architectures.names():
                with pytest.raises(ValueError, match="image_shape="):
                    image_architectures.ARCHITECTURES[name](image_shape)

    @pytest.mark.slow
    def test_parameter_counts_at_224(self):
        for name, expected in PARAMS_AT_224.items():
            keras.backend.clear_session()
            model = image_architectures.ARCHITECTURES[name]((224, 224, 3))
            self.assertLess(
                abs(model.count_params() - expected) / expected,
                0.01,
                msg=f"{name}: {model.count_params()} != {expected}",
            )
            if name == "efficientnet_b0":
                trainable = sum(
                    int(np.prod(w.shape)) for w in model.trainable_weights
                )
                self.assertEqual(trainable, TRAINABLE_EFFICIENTNET_B0)
            if name == "vit_tiny":
                self.assertEqual(model.output.shape, (None, 197, 192))
            else:
                self.assertEqual(tuple(model.output.shape[1:3]), (7, 7))
