from keras_mm.fusion.token_fusion import TokenFusion
from tests.fusion.concat_fusion_test import make_inputs
from tests.fusion.concat_fusion_test import make_model
from tests.test_case import TestCase


class TokenFusionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            TokenFusion,
            {"hidden_dim": 4, "num_heads": 2, "dropout": 0.1},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_masked_values_ignored(self):
        layer = TokenFusion(4, num_heads=2, num_layers=2)
        a = layer(make_inputs(masked_values=0.0))
        b = layer(make_inputs(masked_values=100.0))
        self.assertAllClose(a, b, atol=1e-5)

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, "divisible by `num_heads`"):
            TokenFusion(6, num_heads=4)

    def test_saving(self):
        input_data = make_inputs()
        model = make_model(TokenFusion(4, num_heads=2), input_data)
        self.run_model_saving_test(model, input_data)
