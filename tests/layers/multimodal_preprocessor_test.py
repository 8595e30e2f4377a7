import keras
import numpy as np
import pytest

from keras_mm.layers.multimodal_preprocessor import MultimodalPreprocessor
from keras_mm.layers.word_tokenizer import WordTokenizer
from tests.test_case import TestCase

VOCAB = ["[PAD]", "[UNK]", "[START]", "[END]", "red", "circle"]


class MultimodalPreprocessorTest(TestCase):
    def test_preprocesses_its_keys_and_passes_others(self):
        layer = MultimodalPreprocessor({"text": WordTokenizer(VOCAB, 3)})
        images = np.ones((2, 4, 4, 3), "uint8")
        x, y = layer(
            {"text": ["red circle", "blue"], "images": images},
            y=np.array([1, 0]),
        )
        np.testing.assert_array_equal(
            x["text"]["token_ids"], [[4, 5, 0], [1, 0, 0]]
        )
        np.testing.assert_array_equal(x["images"], images)
        np.testing.assert_array_equal(y, [1, 0])

    def test_serialization(self):
        layer = MultimodalPreprocessor({"text": WordTokenizer(VOCAB, 3)})
        revived = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(layer)
        )
        np.testing.assert_array_equal(
            revived({"text": ["circle"]})["text"]["token_ids"], [[5, 0, 0]]
        )

    def test_bad_inputs(self):
        with pytest.raises(ValueError, match="must be a dict"):
            MultimodalPreprocessor([WordTokenizer(VOCAB, 3)])
        layer = MultimodalPreprocessor({"text": WordTokenizer(VOCAB, 3)})
        with pytest.raises(ValueError, match=r"keys \['text'\]"):
            layer(["red"])
