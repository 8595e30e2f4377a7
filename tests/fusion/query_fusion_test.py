import numpy as np

from keras_mm.fusion.query_fusion import QueryFusion
from tests.fusion.concat_fusion_test import MASK
from tests.fusion.concat_fusion_test import make_inputs
from tests.fusion.concat_fusion_test import make_model
from tests.test_case import TestCase


def audio_inputs(seed=1):
    """`make_inputs()` plus a padded audio modality looked up by text."""
    inputs = make_inputs(seed)
    rng = np.random.default_rng(seed)
    inputs["audio"] = {
        "sequence_output": rng.normal(size=(2, 4, 5)).astype("float32"),
        "pooled_output": rng.normal(size=(2, 5)).astype("float32"),
        "padding_mask": MASK,
    }
    return inputs


class QueryFusionTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            QueryFusion,
            {"hidden_dim": 4, "num_heads": 2, "key_dim": 3, "max_count": 2},
            make_inputs(),
            expected_output_shape=(2, 4),
        )

    def test_scores_are_masks_that_ignore_padding(self):
        layer = QueryFusion(4, num_heads=2, key_dim=3)
        fused, scores = layer(audio_inputs(), return_attention_scores=True)
        self.assertEqual(tuple(fused.shape), (2, 4))
        self.assertEqual(sorted(scores), ["text->audio", "text->images"])
        self.assertEqual(tuple(scores["text->images"].shape), (2, 2, 1, 3))
        to_audio = np.asarray(scores["text->audio"])
        self.assertEqual(to_audio.shape, (2, 2, 1, 4))
        # Sigmoid weights: each in (0, 1), not summing to one; padded
        # audio tokens get exactly zero.
        valid = to_audio[:, :, 0][np.broadcast_to(MASK[:, None], (2, 2, 4))]
        self.assertTrue(np.all((valid > 0) & (valid < 1)))
        np.testing.assert_array_equal(to_audio[1, :, 0, 2:], 0.0)
        self.assertFalse(np.allclose(to_audio[0].sum(-1), 1.0))

    def test_padded_values_ignored(self):
        layer = QueryFusion(4, num_heads=2, key_dim=3)
        a, b = audio_inputs(), audio_inputs()
        a["audio"]["sequence_output"][~MASK] = 0.0
        b["audio"]["sequence_output"][~MASK] = 100.0
        self.assertAllClose(layer(a), layer(b), atol=1e-5)

    def test_mass_counts_selected_tokens(self):
        # Keys equal to the tokens and one query of ones: tokens whose
        # features are large get weight ~1, the others ~0, so a head's
        # mass is the number of selected tokens.
        layer = QueryFusion(
            2, num_heads=1, key_dim=2, max_count=3, position_embedding=False
        )
        tokens = np.zeros((2, 4, 2), "float32")
        tokens[0, :1] = 30.0  # One token selected.
        tokens[1, :3] = 30.0  # Three.
        inputs = {
            "images": {
                "sequence_output": tokens,
                "pooled_output": np.zeros((2, 2), "float32"),
            },
            "text": {
                "sequence_output": np.zeros((2, 1, 2), "float32"),
                "pooled_output": np.ones((2, 2), "float32"),
            },
        }
        layer(inputs)
        layer.query_projection.set_weights([np.eye(2), np.zeros(2)])
        layer.keys[0].set_weights([np.eye(2), np.zeros(2)])
        layer.biases[0].assign([-20.0])
        _, scores = layer(inputs, return_attention_scores=True)
        mass = np.asarray(scores["text->images"]).sum(-1)[:, 0, 0]
        np.testing.assert_allclose(mass, [1.0, 3.0], atol=1e-3)

    def test_query_choice_and_single_modality(self):
        inputs = make_inputs()
        layer = QueryFusion(4, num_heads=2, key_dim=3)
        _, scores = layer(inputs, return_attention_scores=True)
        self.assertEqual(list(scores), ["text->images"])
        layer = QueryFusion(4, query="images", num_heads=2, key_dim=3)
        _, scores = layer(inputs, return_attention_scores=True)
        self.assertEqual(list(scores), ["images->text"])
        one = {"text": inputs["text"]}
        _, scores = QueryFusion(4, num_heads=2, key_dim=3)(
            one, return_attention_scores=True
        )
        self.assertEqual(list(scores), ["text->text"])

    def test_validation(self):
        with self.assertRaisesRegex(ValueError, "Received: query='audio'"):
            QueryFusion(4, query="audio")(make_inputs())
        with self.assertRaisesRegex(ValueError, "Received: num_heads=0"):
            QueryFusion(4, num_heads=0)
        with self.assertRaisesRegex(ValueError, "Received: query=3"):
            QueryFusion(4, query=3)
        with self.assertRaisesRegex(ValueError, "position_embedding=1"):
            QueryFusion(4, position_embedding=1)
        layer = QueryFusion(4)
        shapes = {
            "images": {
                "sequence_output": (None, None, 6),
                "pooled_output": (None, 6),
            },
            "text": {
                "sequence_output": (None, 4, 8),
                "pooled_output": (None, 8),
            },
        }
        with self.assertRaisesRegex(ValueError, "static number of tokens"):
            layer.build(shapes)

    def test_saving(self):
        input_data = audio_inputs()
        model = make_model(QueryFusion(4, num_heads=2, key_dim=3), input_data)
        self.run_model_saving_test(model, input_data)
