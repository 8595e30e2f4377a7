import numpy as np
import pytest
import tensorflow as tf

from keras_mm.layers.caption_preprocessor import CaptionPreprocessor
from tests.test_case import TestCase

VOCAB = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "red", "circle", "."]


def images(n):
    return np.zeros((n, 4, 4, 3), "uint8")


class CaptionPreprocessorTest(TestCase):
    def test_preprocessing_layer_contract(self):
        x, y, weights = self.run_preprocessing_layer_test(
            CaptionPreprocessor,
            {"vocabulary": VOCAB, "sequence_length": 4},
            {
                "images": np.zeros((2, 4, 4, 3), "uint8"),
                "text": ["a red circle", "red"],
            },
        )
        self.assertEqual(x["token_ids"].shape, (2, 4))
        self.assertEqual(weights.sum(axis=1).tolist(), [4.0, 2.0])

    def test_teacher_forcing(self):
        preprocessor = CaptionPreprocessor(VOCAB, sequence_length=5)
        x, y, weights = preprocessor(
            {"images": images(2), "text": ["A red circle.", ""]}
        )
        self.assertEqual(sorted(x), ["images", "padding_mask", "token_ids"])
        np.testing.assert_array_equal(
            x["token_ids"], [[2, 4, 5, 6, 7], [2, 3, 0, 0, 0]]
        )
        np.testing.assert_array_equal(x["padding_mask"], x["token_ids"] != 0)
        np.testing.assert_array_equal(y, [[4, 5, 6, 7, 3], [3, 0, 0, 0, 0]])
        np.testing.assert_array_equal(
            weights, [[1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]
        )
        self.assertEqual(x["token_ids"].dtype, np.int32)
        self.assertEqual(weights.dtype, np.float32)
        self.assertEqual(x["images"].shape, (2, 4, 4, 3))

    def test_truncates_long_captions_and_maps_unknown_words(self):
        preprocessor = CaptionPreprocessor(VOCAB, sequence_length=3)
        x, y, weights = preprocessor(
            {"images": images(1), "text": ["a big red circle"]}
        )
        # "[START] a big red" in, "a big red" out: the "[END]" is cut off.
        np.testing.assert_array_equal(x["token_ids"], [[2, 4, 1]])
        np.testing.assert_array_equal(y, [[4, 1, 5]])
        np.testing.assert_array_equal(weights, [[1, 1, 1]])

    def test_sample_weight_per_caption(self):
        preprocessor = CaptionPreprocessor(VOCAB, sequence_length=3)
        _, _, weights = preprocessor(
            {"images": images(2), "text": ["a", "red"]},
            sample_weight=np.array([2.0, 0.5]),
        )
        np.testing.assert_allclose(weights, [[2, 2, 0], [0.5, 0.5, 0]])

    def test_in_tf_data(self):
        preprocessor = CaptionPreprocessor(VOCAB, sequence_length=4)
        dataset = tf.data.Dataset.from_tensor_slices(
            {"images": images(2), "text": ["a circle", "red"]}
        ).batch(2)
        x, y, weights = next(iter(dataset.map(preprocessor)))
        np.testing.assert_array_equal(
            x["token_ids"], [[2, 4, 6, 3], [2, 5, 3, 0]]
        )
        np.testing.assert_array_equal(y, [[4, 6, 3, 0], [5, 3, 0, 0]])
        self.assertEqual(tuple(weights.shape), (2, 4))

    def test_tokenised_inputs_pass_through(self):
        preprocessor = CaptionPreprocessor(VOCAB, sequence_length=2)
        x = {
            "images": images(1),
            "token_ids": np.array([[2, 4]], "int32"),
            "padding_mask": np.array([[True, True]]),
        }
        out_x, out_y = preprocessor(x, y=np.array([[4, 3]]))
        np.testing.assert_array_equal(out_x["token_ids"], [[2, 4]])
        np.testing.assert_array_equal(out_y, [[4, 3]])

    def test_detokenize_stops_at_end(self):
        preprocessor = CaptionPreprocessor(VOCAB, sequence_length=6)
        self.assertEqual(
            preprocessor.detokenize(
                [[2, 4, 1, 5, 3, 6, 6], [2, 3, 4, 4, 4, 4, 4]]
            ),
            ["a red", ""],
        )

    def test_detokenize_attaches_closing_punctuation(self):
        vocab = VOCAB + [","]
        comma, period = len(VOCAB), VOCAB.index(".")
        preprocessor = CaptionPreprocessor(vocab, sequence_length=6)
        self.assertEqual(
            preprocessor.detokenize([[2, comma, 4, comma, 5, period, 3]]),
            [", a, red."],
        )
        x, _, _ = preprocessor({"images": images(1), "text": ["a, red."]})
        np.testing.assert_array_equal(
            x["token_ids"], [[2, 4, comma, 5, period, 3]]
        )

    def test_config_round_trip(self):
        preprocessor = CaptionPreprocessor(VOCAB, 5, lowercase=False)
        revived = CaptionPreprocessor.from_config(preprocessor.get_config())
        self.assertEqual(revived.get_config(), preprocessor.get_config())
        x, _, _ = revived({"images": images(1), "text": ["A red"]})
        np.testing.assert_array_equal(x["token_ids"], [[2, 1, 5, 3, 0]])

    def test_bad_inputs(self):
        preprocessor = CaptionPreprocessor(VOCAB, sequence_length=3)
        with pytest.raises(ValueError, match=r"keys \['images', 'text'\]"):
            preprocessor(["a red circle"])
        with pytest.raises(ValueError, match="generate"):
            preprocessor({"images": images(1)})
        with pytest.raises(ValueError, match="pass no `y`"):
            preprocessor({"images": images(1), "text": ["a"]}, y=[1])
        with pytest.raises(ValueError, match="unexpected keys: \\['audio'\\]"):
            preprocessor({"images": images(1), "text": ["a"], "audio": [1]})
        with pytest.raises(ValueError, match="sequence_length=0"):
            CaptionPreprocessor(VOCAB, sequence_length=0)
        with pytest.raises(ValueError, match="must start with"):
            CaptionPreprocessor(["a", "b"], sequence_length=3)
