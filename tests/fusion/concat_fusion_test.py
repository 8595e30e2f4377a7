import keras
import numpy as np
import pytest

from keras_mm import fusion
from keras_mm.fusion.concat_fusion import ConcatFusion
from tests.test_case import TestCase

MASK = np.array([[True, True, True, True], [True, True, False, False]])


def make_inputs(seed=0, masked_values=None):
    """Two modalities of different dims and lengths; text is padded."""
    rng = np.random.default_rng(seed)
    text = rng.normal(size=(2, 4, 8)).astype("float32")
    if masked_values is not None:
        text[~MASK] = masked_values
    return {
        "images": {
            "sequence_output": rng.normal(size=(2, 3, 6)).astype("float32"),
            "pooled_output": rng.normal(size=(2, 6)).astype("float32"),
        },
        "text": {
            "sequence_output": text,
            "pooled_output": rng.normal(size=(2, 8)).astype("float32"),
            "padding_mask": MASK,
        },
    }


def make_model(layer, input_data):
    """A functional model over `input_data`'s structure, ending in `layer`."""
    inputs = keras.tree.map_structure(
        lambda x: keras.Input(shape=x.shape[1:], dtype=x.dtype), input_data
    )
    return keras.Model(inputs, layer(inputs))


class ConcatFusionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            ConcatFusion,
            {"hidden_dim": 4, "dropout": 0.1},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_one_and_three_modalities(self):
        inputs = make_inputs()
        inputs["audio"] = {
            "sequence_output": np.ones((2, 2, 5), "float32"),
            "pooled_output": np.ones((2, 5), "float32"),
        }
        self.assertEqual(tuple(ConcatFusion(4)(inputs).shape), (2, 4))
        one = {"text": inputs["text"]}
        self.assertEqual(tuple(ConcatFusion(4)(one).shape), (2, 4))

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, "Received: hidden_dim=0"):
            ConcatFusion(0)
        with self.assertRaisesRegex(ValueError, "Received: dropout=1.5"):
            ConcatFusion(4, dropout=1.5)

    def test_saving(self):
        input_data = make_inputs()
        model = make_model(ConcatFusion(4), input_data)
        self.run_model_saving_test(model, input_data)

    def test_get(self):
        expected = {
            "concat": fusion.ConcatFusion,
            "gated": fusion.GatedFusion,
            "cross_attention": fusion.CrossAttentionFusion,
            "film": fusion.FiLMFusion,
            "bilinear": fusion.BilinearFusion,
            "tokens": fusion.TokenFusion,
            "query": fusion.QueryFusion,
        }
        for name, cls in expected.items():
            layer = fusion.get(name, hidden_dim=4)
            self.assertIsInstance(layer, cls)
            self.assertEqual(layer.hidden_dim, 4)
        late = fusion.get("late", num_classes=3)
        self.assertIsInstance(late, fusion.LateFusion)
        layer = ConcatFusion(4)
        self.assertIs(fusion.get(layer), layer)
        with pytest.raises(ValueError, match="'cross_attention'.*'tokens'"):
            fusion.get("sum", hidden_dim=4)
