import numpy as np
import pytest
import tensorflow as tf

from keras_mm.layers.word_tokenizer import WordTokenizer
from tests.test_case import TestCase

VOCAB = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "red", "circle", ",", "."]


class WordTokenizerTest(TestCase):
    def test_preprocessing_layer_contract(self):
        out = self.run_preprocessing_layer_test(
            WordTokenizer,
            {"vocabulary": VOCAB, "sequence_length": 5},
            ["A red, BLUE circle.", "", "red"],
        )
        self.assertEqual(out["token_ids"].shape, (3, 5))

    def test_tokenize_pads_and_masks(self):
        tokenizer = WordTokenizer(VOCAB, sequence_length=6)
        out = tokenizer(["A red, BLUE circle.", ""])
        np.testing.assert_array_equal(
            out["token_ids"], [[4, 5, 7, 1, 6, 8], [0, 0, 0, 0, 0, 0]]
        )
        np.testing.assert_array_equal(out["padding_mask"], out["token_ids"] > 0)
        self.assertEqual(out["token_ids"].dtype, np.int32)

    def test_truncates_and_start_end(self):
        tokenizer = WordTokenizer(VOCAB, sequence_length=4, add_start_end=True)
        out = tokenizer(["a red circle a red"])
        np.testing.assert_array_equal(out["token_ids"], [[2, 4, 5, 6]])

    def test_single_string_and_labels_pass_through(self):
        tokenizer = WordTokenizer(VOCAB, sequence_length=3)
        x, y = tokenizer("red", y=np.array([1]))
        np.testing.assert_array_equal(x["token_ids"], [[5, 0, 0]])
        np.testing.assert_array_equal(y, [1])

    def test_in_tf_data(self):
        tokenizer = WordTokenizer(VOCAB, sequence_length=3)
        ds = tf.data.Dataset.from_tensor_slices(["a circle", "red"]).batch(2)
        batch = next(iter(ds.map(tokenizer)))
        np.testing.assert_array_equal(
            batch["token_ids"], [[4, 6, 0], [5, 0, 0]]
        )

    def test_detokenize_drops_special_tokens(self):
        tokenizer = WordTokenizer(VOCAB, sequence_length=5)
        self.assertEqual(tokenizer.detokenize([[2, 4, 5, 3, 0]]), ["a red"])

    def test_config_round_trip(self):
        tokenizer = WordTokenizer(VOCAB, sequence_length=5, lowercase=False)
        revived = WordTokenizer.from_config(tokenizer.get_config())
        self.assertEqual(revived.get_config(), tokenizer.get_config())
        np.testing.assert_array_equal(
            revived(["A red"])["token_ids"], [[1, 5, 0, 0, 0]]
        )

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="must start with"):
            WordTokenizer(["a", "b"], sequence_length=4)
        with pytest.raises(ValueError, match="sequence_length=0"):
            WordTokenizer(VOCAB, sequence_length=0)
        with pytest.raises(ValueError, match="must be strings.*int"):
            WordTokenizer(VOCAB, sequence_length=3)(np.array([1, 2]))
