import numpy as np

from keras_mm.fusion.gated_fusion import GatedFusion
from tests.fusion.concat_fusion_test import make_inputs
from tests.fusion.concat_fusion_test import make_model
from tests.test_case import TestCase


class GatedFusionTest(TestCase):
    def test_layer_softmax(self):
        self.run_layer_test(
            GatedFusion,
            {"hidden_dim": 4, "dropout": 0.1},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_layer_sigmoid(self):
        self.run_layer_test(
            GatedFusion,
            {"hidden_dim": 4, "gate": "sigmoid"},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_softmax_output_is_convex_combination(self):
        layer = GatedFusion(4)
        inputs = make_inputs()
        outputs = np.asarray(layer(inputs))
        # tanh projections lie in (-1, 1), and so does any convex mix.
        self.assertTrue(np.all(np.abs(outputs) < 1.0))

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, "Received: gate='relu'"):
            GatedFusion(4, gate="relu")

    def test_saving(self):
        input_data = make_inputs()
        model = make_model(GatedFusion(4, gate="sigmoid"), input_data)
        self.run_model_saving_test(model, input_data)
