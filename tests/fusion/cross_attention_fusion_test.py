import numpy as np

from keras_mm.fusion.cross_attention_fusion import CrossAttentionFusion
from tests.fusion.concat_fusion_test import MASK
from tests.fusion.concat_fusion_test import make_inputs
from tests.fusion.concat_fusion_test import make_model
from tests.test_case import TestCase


class CrossAttentionFusionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            CrossAttentionFusion,
            {"hidden_dim": 4, "num_heads": 2, "dropout": 0.1},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_masked_values_ignored(self):
        layer = CrossAttentionFusion(4, num_heads=2, num_layers=2)
        a = layer(make_inputs(masked_values=0.0))
        b = layer(make_inputs(masked_values=100.0))
        self.assertAllClose(a, b, atol=1e-5)

    def test_attention_scores(self):
        layer = CrossAttentionFusion(4, num_heads=2)
        fused, scores = layer(make_inputs(), return_attention_scores=True)
        self.assertEqual(tuple(fused.shape), (2, 4))
        shapes = {key: tuple(value.shape) for key, value in scores.items()}
        self.assertEqual(
            shapes, {"images->text": (2, 2, 3, 4), "text->images": (2, 2, 4, 3)}
        )
        to_text = np.asarray(scores["images->text"])
        # Padded text tokens get no attention; the valid ones get it all.
        np.testing.assert_allclose(to_text[:, :, :, ~MASK[1]][1], 0.0)
        np.testing.assert_allclose(to_text.sum(-1), 1.0, atol=1e-5)

    def test_three_and_one_modalities(self):
        inputs = make_inputs()
        inputs["audio"] = {
            "sequence_output": np.ones((2, 2, 5), "float32"),
            "pooled_output": np.ones((2, 5), "float32"),
        }
        layer = CrossAttentionFusion(4, num_heads=2)
        fused, scores = layer(inputs, return_attention_scores=True)
        self.assertEqual(tuple(fused.shape), (2, 4))
        self.assertEqual(len(scores), 6)
        self.assertEqual(tuple(scores["audio->text"].shape), (2, 2, 2, 4))
        one = {"text": inputs["text"]}
        fused, scores = CrossAttentionFusion(4, num_heads=2)(
            one, return_attention_scores=True
        )
        self.assertEqual(tuple(fused.shape), (2, 4))
        self.assertEqual(list(scores), ["text->text"])

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, "Received: num_layers=0"):
            CrossAttentionFusion(4, num_layers=0)
        with self.assertRaisesRegex(ValueError, "divisible by `num_heads`"):
            CrossAttentionFusion(6, num_heads=4)

    def test_saving(self):
        input_data = make_inputs()
        model = make_model(CrossAttentionFusion(4, num_heads=2), input_data)
        self.run_model_saving_test(model, input_data)
