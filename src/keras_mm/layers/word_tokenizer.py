import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.preprocessing_layer import PreprocessingLayer
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.validation import check_integers

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[START]", "[END]")
# Punctuation becomes a token of its own: "red, big." -> "red , big ."
_PUNCTUATION = r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])"
# The whitespace `tf.strings.split` leaves in words: Unicode spaces and
# separators (`str.isspace` counts them), and NUL, which
# `tf.strings.lower(..., encoding="utf-8")` reads as the end of the text.
_OTHER_SPACES = r"[\x00\x1c-\x1f\x{85}\pZ]"


@keras_mm_export
class WordTokenizer(PreprocessingLayer):
    """Strings to padded word ids, with core TensorFlow ops only.

    Lower-cases, splits punctuation off words, splits on whitespace (the
    characters `str.isspace` accepts, Unicode spaces included) and NUL,
    looks words up in `vocabulary` (unknown words map to `"[UNK]"`), then
    pads or truncates to `sequence_length`. Only core string and lookup ops
    are used, so an exported model that contains this layer takes raw
    strings on a stock TF Serving.

    Args:
        vocabulary: list of str. Starts with `"[PAD]", "[UNK]", "[START]",
            "[END]"`, as `keras_mm.encoders.text_vocabulary` returns it.
        sequence_length: int. Length of the output ids.
        lowercase: bool. Lower-case the input first. Defaults to `True`.
        add_start_end: bool. Wrap each text in `"[START]"` and `"[END]"`.
            Defaults to `False`.

    Call arguments:
        x: a string, a list of strings or a string tensor of shape `(B,)`.

    Returns:
        `{"token_ids": int32 (B, sequence_length), "padding_mask": bool (B,
        sequence_length)}`. An empty or whitespace-only string gives all
        padding.

    Examples:
    >>> tokenizer = keras_mm.layers.WordTokenizer(
    ...     ["[PAD]", "[UNK]", "[START]", "[END]", "a", "red", "circle"],
    ...     sequence_length=5)
    >>> tokenizer(["A red square."])["token_ids"]
    array([[4, 5, 1, 1, 0]], dtype=int32)
    """

    def __init__(
        self,
        vocabulary,
        sequence_length,
        lowercase=True,
        add_start_end=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        vocabulary = [str(token) for token in vocabulary]
        if tuple(vocabulary[: len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"`vocabulary` must start with {list(SPECIAL_TOKENS)}. "
                f"Received: {vocabulary[: len(SPECIAL_TOKENS)]}... Build one "
                "with `keras_mm.encoders.text_vocabulary(texts)`."
            )
        check_integers(sequence_length=sequence_length)
        self.vocabulary = vocabulary
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.add_start_end = add_start_end
        # The lookup table lives in TensorFlow; without it the layer is
        # still built (and serialised), and refuses to run.
        self.lookup = None
        if tf is not None:
            self.lookup = keras.layers.StringLookup(
                vocabulary=vocabulary,
                mask_token="[PAD]",
                oov_token="[UNK]",
                name="lookup",
            )

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def split(self, text):
        """Splits a `(B,)` string tensor into a ragged `(B, None)` of words."""
        if text.dtype != tf.string:
            raise ValueError(
                "Text input must be strings. Received a tensor of dtype "
                f"{text.dtype.name}."
            )
        if text.shape.rank == 0:
            text = text[None]
        text = tf.strings.regex_replace(text, _OTHER_SPACES, " ")
        if self.lowercase:
            text = tf.strings.lower(text, encoding="utf-8")
        text = tf.strings.regex_replace(text, _PUNCTUATION, r" \1 ")
        words = tf.strings.split(text)
        if self.add_start_end:
            batch = tf.shape(text)[:1]
            words = tf.concat(
                [
                    tf.fill(tf.concat([batch, [1]], 0), "[START]"),
                    words,
                    tf.fill(tf.concat([batch, [1]], 0), "[END]"),
                ],
                axis=1,
            )
        return words

    def call(self, x, y=None, sample_weight=None):
        words = self.split(x)
        token_ids = tf.cast(
            tf.ragged.map_flat_values(self.lookup, words), "int32"
        ).to_tensor(default_value=0, shape=[None, self.sequence_length])
        token_ids = tf.ensure_shape(token_ids, [None, self.sequence_length])
        x = {"token_ids": token_ids, "padding_mask": token_ids != 0}
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def detokenize(self, token_ids):
        """Maps ids back to strings, dropping special tokens."""
        token_ids = tf.convert_to_tensor(token_ids, "int64")
        words = tf.gather(tf.constant(self.vocabulary), token_ids)
        keep = token_ids >= len(SPECIAL_TOKENS)
        words = tf.ragged.boolean_mask(words, keep)
        text = tf.strings.reduce_join(words, axis=-1, separator=" ")
        return [t.decode("utf-8") for t in text.numpy().tolist()]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "sequence_length": self.sequence_length,
                "lowercase": self.lowercase,
                "add_start_end": self.add_start_end,
            }
        )
        return config
