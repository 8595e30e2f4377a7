import numpy as np

from keras_mm.fusion.late_fusion import LateFusion
from tests.fusion.concat_fusion_test import make_inputs
from tests.fusion.concat_fusion_test import make_model
from tests.test_case import TestCase


class LateFusionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            LateFusion,
            {"num_classes": 3, "hidden_dim": 4, "dropout": 0.1},
            make_inputs(),
            expected_output_shape=(2, 3),
        )

    def test_linear_heads_average_logits(self):
        layer = LateFusion(num_classes=3)
        inputs = make_inputs()
        outputs = np.asarray(layer(inputs))
        # Zero-initialised modality weights: the plain mean of the heads.
        per_modality = [
            np.asarray(head(inputs[m]["pooled_output"]))
            for m, head in zip(["images", "text"], layer.logits_layers)
        ]
        np.testing.assert_allclose(
            outputs, np.mean(per_modality, axis=0), atol=1e-6
        )

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, "Received: num_classes=0"):
            LateFusion(0)
        with self.assertRaisesRegex(ValueError, "Received: hidden_dim=-1"):
            LateFusion(3, hidden_dim=-1)

    def test_saving(self):
        input_data = make_inputs()
        model = make_model(LateFusion(3, hidden_dim=4), input_data)
        self.run_model_saving_test(model, input_data)
