"""Properties of the word tokenizer, the caption preprocessor and the text
encoder's preprocessing, on random unicode text."""

import keras
import numpy as np
import pytest
from hypothesis import example
from hypothesis import given
from hypothesis import strategies as st

import keras_mm
from keras_mm.export.litert_runner import tokenize as python_tokenize
from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
from keras_mm.layers.caption_preprocessor import START_TOKEN_ID
from keras_mm.layers.caption_preprocessor import CaptionPreprocessor
from keras_mm.layers.word_tokenizer import SPECIAL_TOKENS
from keras_mm.layers.word_tokenizer import WordTokenizer
from tests.properties import settings
from tests.test_case import TestCase

VOCAB = list(SPECIAL_TOKENS) + [
    "a",
    "red",
    "circle",
    ",",
    ".",
    "é",
    "🙂",
    "שלום",
    "x",
]
SEQUENCE_LENGTH = 7
# Pieces that tokenizers get wrong: every kind of whitespace (Unicode
# spaces, separators, NUL), emoji (with skin tones and joiners), combining
# marks, right-to-left text and marks, punctuation, vocabulary words in
# any case, and a very long word.
PIECES = [
    "",
    " ",
    "\t",
    "\n\r\x0b\x0c",
    "\xa0",
    "\u2003",
    "\u3000",
    "\u2028",
    "\x85",
    "\x1c",
    "\x00",
    "\x01",
    "🙂",
    "👍🏽",
    "👩\u200d👩\u200d👧",
    "e\u0301",
    "é",
    "\u0301",
    "שלום",
    "مرحبا",
    "\u200f",
    "\u202e",
    "\ufeff",
    ",",
    ".!?",
    "[PAD]",
    "[unk]",
    "A",
    "RED",
    "Circle",
    "x" * 20_000,
]
piece = st.one_of(st.sampled_from(PIECES), st.text(max_size=8))
texts = st.lists(piece, max_size=8).map("".join)
batches = st.lists(texts, min_size=1, max_size=6)
# Case mapping that Python and ICU agree on, for comparing lower-cased
# tokens with `str.lower`.
simple_piece = st.one_of(
    st.sampled_from(PIECES),
    st.text(alphabet="abcXYZ éÉ.,'-\t\x00", max_size=8),
)
simple_batches = st.lists(
    st.lists(simple_piece, max_size=8).map("".join), min_size=1, max_size=6
)
blank_texts = st.lists(
    st.sampled_from(
        ["", " ", "\t", "\n", "\xa0", "\u3000", "\u2028", "\x00", "\x1f"]
    ),
    max_size=6,
).map("".join)


def assert_tokens(test, out, batch_size, sequence_length, vocabulary_size):
    """Shapes, dtypes and ranges of `{"token_ids", "padding_mask"}`, the
    mask `True` on a prefix of each row."""
    ids, mask = out["token_ids"], out["padding_mask"]
    test.assertEqual(ids.shape, (batch_size, sequence_length))
    test.assertEqual(ids.dtype, np.int32)
    test.assertEqual(mask.shape, (batch_size, sequence_length))
    test.assertEqual(mask.dtype, bool)
    np.testing.assert_array_equal(mask, ids != 0)
    test.assertTrue(((ids >= 0) & (ids < vocabulary_size)).all())
    # Padding only at the end: no real token after a pad.
    np.testing.assert_array_equal(mask, np.cumprod(mask, axis=1) > 0)


@pytest.mark.backend_independent
class WordTokenizerPropertiesTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tokenizer = WordTokenizer(VOCAB, SEQUENCE_LENGTH)
        cls.cased = WordTokenizer(VOCAB, SEQUENCE_LENGTH, lowercase=False)
        cls.start_end = WordTokenizer(
            VOCAB, SEQUENCE_LENGTH, add_start_end=True
        )

    @settings(20)
    @given(batches)
    def test_shaped_typed_and_deterministic(self, batch):
        out = self.tokenizer(batch)
        assert_tokens(self, out, len(batch), SEQUENCE_LENGTH, len(VOCAB))
        again = self.tokenizer(batch)
        np.testing.assert_array_equal(out["token_ids"], again["token_ids"])
        # Rows are independent of the batch they come in, and in order.
        for row, text in enumerate(batch):
            np.testing.assert_array_equal(
                self.tokenizer([text])["token_ids"][0], out["token_ids"][row]
            )

    @settings(25)
    @given(batches)
    def test_matches_python_reference_without_lowercase(self, batch):
        # `litert_runner.tokenize` is the tokenizer in Python, for the
        # exported TFLite model: the same ids for every text.
        np.testing.assert_array_equal(
            self.cased(batch)["token_ids"],
            python_tokenize(batch, VOCAB, SEQUENCE_LENGTH, lowercase=False),
        )

    @settings(25)
    @given(simple_batches)
    def test_matches_python_reference_with_lowercase(self, batch):
        np.testing.assert_array_equal(
            self.tokenizer(batch)["token_ids"],
            python_tokenize(batch, VOCAB, SEQUENCE_LENGTH),
        )

    @settings(25)
    @given(batches)
    def test_lowercase_keeps_the_word_count(self, batch):
        # Lower-casing changes words, never where they break: no text is
        # cut short (NUL once ended the text there).
        np.testing.assert_array_equal(
            self.tokenizer(batch)["padding_mask"],
            self.cased(batch)["padding_mask"],
        )

    @settings(20)
    @given(st.lists(blank_texts, min_size=1, max_size=6))
    def test_empty_and_whitespace_only_text_is_all_padding(self, batch):
        out = self.tokenizer(batch)
        np.testing.assert_array_equal(
            out["token_ids"], np.zeros((len(batch), SEQUENCE_LENGTH))
        )
        self.assertFalse(out["padding_mask"].any())
        wrapped = self.start_end(batch)["token_ids"]
        np.testing.assert_array_equal(wrapped[:, :2], [[2, 3]] * len(batch))
        self.assertFalse(wrapped[:, 2:].any())

    @settings(25)
    @given(batches)
    def test_start_and_end_wrap_the_words(self, batch):
        plain = self.tokenizer(batch)
        wrapped = self.start_end(batch)
        assert_tokens(self, wrapped, len(batch), SEQUENCE_LENGTH, len(VOCAB))
        words = np.asarray(
            python_tokenize(batch, VOCAB, SEQUENCE_LENGTH + 2) != 0
        ).sum(axis=1)
        for row, count in enumerate(words):
            ids = wrapped["token_ids"][row]
            self.assertEqual(ids[0], START_TOKEN_ID)
            kept = min(count, SEQUENCE_LENGTH - 1)
            np.testing.assert_array_equal(
                ids[1 : 1 + kept], plain["token_ids"][row][:kept]
            )
            if count + 2 <= SEQUENCE_LENGTH:
                self.assertEqual(ids[count + 1], END_TOKEN_ID)
            else:
                self.assertNotIn(END_TOKEN_ID, ids.tolist())

    @settings(15)
    @given(st.integers(0, 4))
    def test_empty_and_single_batches(self, batch_size):
        out = self.tokenizer(np.array(["red"] * batch_size, dtype=str))
        assert_tokens(self, out, batch_size, SEQUENCE_LENGTH, len(VOCAB))
        single = self.tokenizer("A red circle.")
        self.assertEqual(single["token_ids"].shape, (1, SEQUENCE_LENGTH))

    @settings(15)
    @given(
        st.one_of(
            st.lists(st.integers(-5, 5), min_size=1, max_size=4),
            st.lists(st.floats(-1, 1), min_size=1, max_size=4),
        )
    )
    def test_numbers_are_refused(self, values):
        with self.assertRaisesRegex(ValueError, "must be strings"):
            self.tokenizer(np.asarray(values))


@pytest.mark.backend_independent
class TextVocabularyPropertiesTest(TestCase):
    @settings(20)
    @given(batches, st.randoms(use_true_random=False))
    def test_vocabulary_covers_its_texts(self, batch, random):
        vocabulary = keras_mm.encoders.text_vocabulary(batch, 10_000)
        self.assertEqual(vocabulary[:4], list(SPECIAL_TOKENS))
        self.assertEqual(len(set(vocabulary)), len(vocabulary))
        # Ranked by count then alphabetically: the order of the texts
        # does not matter, and the same texts give the same list.
        shuffled = list(batch)
        random.shuffle(shuffled)
        self.assertEqual(
            keras_mm.encoders.text_vocabulary(shuffled, 10_000), vocabulary
        )
        # Every word of the texts is in the vocabulary: no "[UNK]".
        tokenizer = WordTokenizer(vocabulary, 64)
        self.assertNotIn(1, tokenizer(batch)["token_ids"].tolist())

    @settings(20)
    @given(batches, st.integers(5, 12))
    def test_vocabulary_size_is_an_upper_bound(self, batch, size):
        vocabulary = keras_mm.encoders.text_vocabulary(batch, size)
        full = keras_mm.encoders.text_vocabulary(batch, 10_000)
        self.assertEqual(vocabulary, full[:size])

    @settings(15)
    @given(st.one_of(st.integers(-3, 4), st.floats(5, 10), st.none()))
    def test_bad_vocabulary_size(self, size):
        with self.assertRaisesRegex(ValueError, "vocabulary_size"):
            keras_mm.encoders.text_vocabulary(["a red circle"], size)

    @settings(15)
    @given(texts)
    def test_one_string_is_refused(self, text):
        with self.assertRaisesRegex(ValueError, "not one string"):
            keras_mm.encoders.text_vocabulary(text)


@pytest.mark.backend_independent
class CaptionPreprocessorPropertiesTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.preprocessor = CaptionPreprocessor(VOCAB, SEQUENCE_LENGTH)

    @settings(20)
    @given(batches)
    def test_teacher_forcing_targets(self, batch):
        images = np.arange(len(batch) * 12, dtype="uint8").reshape(
            len(batch), 2, 2, 3
        )
        x, y, weights = self.preprocessor({"images": images, "text": batch})
        self.assertEqual(sorted(x), ["images", "padding_mask", "token_ids"])
        np.testing.assert_array_equal(x["images"], images)
        assert_tokens(self, x, len(batch), SEQUENCE_LENGTH, len(VOCAB))
        self.assertEqual(y.shape, (len(batch), SEQUENCE_LENGTH))
        self.assertEqual(y.dtype, np.int32)
        self.assertEqual(weights.shape, (len(batch), SEQUENCE_LENGTH))
        self.assertEqual(weights.dtype, np.float32)
        # The labels are the inputs shifted by one; weights mark them.
        np.testing.assert_array_equal(x["token_ids"][:, 0], START_TOKEN_ID)
        np.testing.assert_array_equal(y[:, :-1], x["token_ids"][:, 1:])
        np.testing.assert_array_equal(weights, (y != 0).astype("float32"))
        words = (python_tokenize(batch, VOCAB, 64) != 0).sum(axis=1)
        for row, count in enumerate(words):
            if count <= SEQUENCE_LENGTH - 1:
                # Learned whole: the words, then "[END]", then padding.
                self.assertEqual(y[row, count], END_TOKEN_ID)
                self.assertEqual(weights[row].sum(), count + 1)
            else:
                self.assertNotIn(END_TOKEN_ID, y[row].tolist())
                self.assertEqual(weights[row].sum(), SEQUENCE_LENGTH)
        again = self.preprocessor({"images": images, "text": batch})
        np.testing.assert_array_equal(again[1], y)

    @settings(15)
    @given(batches, st.floats(0, 10, width=32))
    def test_caption_weight_scales_its_tokens(self, batch, weight):
        inputs = {"images": np.zeros((len(batch), 2, 2, 3)), "text": batch}
        _, y, weights = self.preprocessor(inputs)
        _, _, scaled = self.preprocessor(
            inputs, sample_weight=np.full(len(batch), weight, "float32")
        )
        np.testing.assert_allclose(scaled, weights * np.float32(weight))

    @settings(15)
    @given(batches)
    def test_clear_errors(self, batch):
        images = np.zeros((len(batch), 2, 2, 3))
        with self.assertRaisesRegex(ValueError, "pass no `y`"):
            self.preprocessor(
                {"images": images, "text": batch}, y=np.zeros(len(batch))
            )
        with self.assertRaisesRegex(ValueError, "need captions under 'text'"):
            self.preprocessor({"images": images})
        with self.assertRaisesRegex(ValueError, r"unexpected keys: \['tags'\]"):
            self.preprocessor({"images": images, "text": batch, "tags": batch})
        with self.assertRaisesRegex(ValueError, r"keys \['images', 'text'\]"):
            self.preprocessor({"text": batch})


class TextEncoderPropertiesTest(TestCase):
    """The built-in text encoder: its preprocessor is the word tokenizer,
    and every text, empty ones included, encodes to finite features."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        keras.utils.set_random_seed(0)
        cls.encoder = keras_mm.encoders.text(
            "transformer_small",
            vocabulary=VOCAB,
            sequence_length=SEQUENCE_LENGTH,
            hidden_dim=8,
            num_layers=1,
            num_heads=2,
        )
        cls.tokenizer = WordTokenizer(VOCAB, SEQUENCE_LENGTH)

    # Three texts a batch: one input shape, so JAX compiles each op once.
    @settings(15)
    @given(st.lists(texts, min_size=3, max_size=3))
    @example(["", " \u3000\x00", "\xa0"])
    def test_any_text_encodes_to_finite_features(self, batch):
        tokens = self.encoder.preprocessor(batch)
        np.testing.assert_array_equal(
            tokens["token_ids"], self.tokenizer(batch)["token_ids"]
        )
        outputs = self.encoder(tokens)
        pooled = keras.ops.convert_to_numpy(outputs["pooled_output"])
        sequence = keras.ops.convert_to_numpy(outputs["sequence_output"])
        self.assertEqual(pooled.shape, (3, 8))
        self.assertEqual(sequence.shape, (3, SEQUENCE_LENGTH, 8))
        self.assertTrue(np.isfinite(pooled).all())
        self.assertTrue(np.isfinite(sequence).all())
        again = self.encoder(tokens)["pooled_output"]
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(again), pooled)
