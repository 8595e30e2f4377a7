import numpy as np

from keras_mm.layers.masked_average_pooling import MaskedAveragePooling
from tests.test_case import TestCase


class MaskedAveragePoolingTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            MaskedAveragePooling,
            {},
            np.random.rand(2, 3, 4).astype("float32"),
            expected_output_shape=(2, 4),
        )

    def test_mask_and_empty_rows(self):
        x = np.arange(12, dtype="float32").reshape(2, 3, 2)
        mask = np.array([[True, False, True], [False, False, False]])
        out = MaskedAveragePooling()(x, padding_mask=mask)
        np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0]])
