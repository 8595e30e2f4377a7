from keras_mm.fusion.film_fusion import FiLMFusion
from tests.fusion.concat_fusion_test import make_inputs
from tests.fusion.concat_fusion_test import make_model
from tests.test_case import TestCase


class FiLMFusionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            FiLMFusion,
            {"hidden_dim": 4, "conditioned": "text", "dropout": 0.1},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_default_conditioned_and_single_modality(self):
        inputs = make_inputs()
        layer = FiLMFusion(4)
        self.assertEqual(tuple(layer(inputs).shape), (2, 4))
        self.assertEqual(layer.token_projection.kernel.shape, (6, 4))
        one = {"text": inputs["text"]}
        self.assertEqual(tuple(FiLMFusion(4)(one).shape), (2, 4))

    def test_masked_values_ignored(self):
        layer = FiLMFusion(4, conditioned="text")
        a = layer(make_inputs(masked_values=0.0))
        b = layer(make_inputs(masked_values=100.0))
        self.assertAllClose(a, b, atol=1e-5)

    def test_unknown_conditioned(self):
        with self.assertRaisesRegex(ValueError, "Received: conditioned='x'"):
            FiLMFusion(4, conditioned="x")(make_inputs())

    def test_saving(self):
        input_data = make_inputs()
        model = make_model(FiLMFusion(4, conditioned="text"), input_data)
        self.run_model_saving_test(model, input_data)
