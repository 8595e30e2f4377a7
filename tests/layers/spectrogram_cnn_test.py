import numpy as np
import pytest

from keras_mm.layers.spectrogram_cnn import SpectrogramCNN
from tests.test_case import TestCase

KWARGS = {"hidden_dim": 8, "num_layers": 2, "filters": 4}


class SpectrogramCNNTest(TestCase):
    @pytest.mark.slow
    def test_layer_basics(self):
        self.run_layer_test(
            SpectrogramCNN,
            init_kwargs=KWARGS,
            input_data=np.random.rand(2, 23, 16).astype("float32"),
            expected_output_shape={
                "sequence_output": (2, 6, 8),
                "pooled_output": (2, 8),
            },
        )

    def test_pooled_output_ignores_padded_tokens(self):
        layer = SpectrogramCNN(**KWARGS)
        features = np.random.rand(2, 23, 16).astype("float32")
        # Frames 0..8 valid -> tokens 0, 1, 2 (frames 0, 4, 8) valid.
        mask = np.arange(23)[None].repeat(2, 0) < np.array([[9], [0]])
        outputs = layer(features, padding_mask=mask)
        sequence = np.asarray(outputs["sequence_output"])
        pooled = np.asarray(outputs["pooled_output"])
        self.assertAllClose(pooled[0], sequence[0, :3].mean(axis=0), atol=1e-5)
        self.assertAllClose(pooled[1], np.zeros(8))
        unmasked = layer(features)["pooled_output"]
        self.assertAllClose(unmasked, sequence.mean(axis=1), atol=1e-5)

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "hidden_dim=0"):
            SpectrogramCNN(hidden_dim=0)
        with self.assertRaisesRegex(ValueError, "filters=2.5"):
            SpectrogramCNN(hidden_dim=8, filters=2.5)
