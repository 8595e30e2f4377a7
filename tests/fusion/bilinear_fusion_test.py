import numpy as np

from keras_mm.fusion.bilinear_fusion import BilinearFusion
from tests.fusion.concat_fusion_test import make_inputs
from tests.fusion.concat_fusion_test import make_model
from tests.test_case import TestCase


class BilinearFusionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            BilinearFusion,
            {"hidden_dim": 4, "rank": 2, "dropout": 0.1},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_unit_norm(self):
        outputs = np.asarray(BilinearFusion(4, rank=3)(make_inputs()))
        np.testing.assert_allclose(
            np.linalg.norm(outputs, axis=-1), [1.0, 1.0], atol=1e-4
        )

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, "Received: rank=0"):
            BilinearFusion(4, rank=0)

    def test_saving(self):
        input_data = make_inputs()
        model = make_model(BilinearFusion(4, rank=2), input_data)
        self.run_model_saving_test(model, input_data)
