import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.preprocessing_layer import PreprocessingLayer
from keras_mm.layers.word_tokenizer import SPECIAL_TOKENS
from keras_mm.layers.word_tokenizer import WordTokenizer
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.validation import check_integers

START_TOKEN_ID = SPECIAL_TOKENS.index("[START]")
END_TOKEN_ID = SPECIAL_TOKENS.index("[END]")
PAD_TOKEN_ID = SPECIAL_TOKENS.index("[PAD]")
CLOSING_PUNCTUATION = frozenset(",.!?;:)")
# The inputs a captioner captions.
MODALITIES = ("images", "audio")


@keras_mm_export
class CaptionPreprocessor(PreprocessingLayer):
    """Inputs and captions to the inputs, labels and weights of teacher forcing.

    Each caption is tokenised by a `keras_mm.layers.WordTokenizer` into
    `"[START]" words "[END]"`, padded or truncated to `sequence_length + 1`
    ids. The model reads the first `sequence_length` ids and learns to
    predict the last `sequence_length`: `token_ids = ids[:, :-1]`, labels
    `ids[:, 1:]`, and sample weights `1.0` where a label is a real token
    (a word or `"[END]"`) and `0.0` on padding.

    Captions of up to `sequence_length - 1` words (punctuation marks count
    as words) are learned whole; longer ones are truncated to their first
    `sequence_length` words and lose their `"[END]"`. Words outside the
    vocabulary map to `"[UNK]"`.

    The captioned inputs (`"images"`, `"audio"` for transcription, or both
    for a captioner of two encoders) pass through; `"audio"` goes through
    `input_preprocessor` when one is given (the
    `keras_mm.layers.AudioPreprocessor` of an audio encoder, which adds
    `"audio_padding_mask"`). Inputs that are already tokenised (no
    `"text"`, but `"token_ids"` and `"padding_mask"`) pass through
    unchanged, with their labels and weights.

    Args:
        vocabulary: list of str. Starts with `"[PAD]", "[UNK]", "[START]",
            "[END]"`, as `keras_mm.encoders.text_vocabulary` returns it.
        sequence_length: int. Decoder length: token ids per caption.
        lowercase: bool. Lower-case captions first. Defaults to `True`.
        modalities: tuple of str. The keys of the captioned inputs, among
            `"images"` and `"audio"`. Defaults to `("images",)`.
        input_preprocessor: a preprocessing layer for `"audio"`, or
            `None`. Defaults to `None`.

    Call arguments:
        x: dict with the `modalities` keys (arrays) and `"text"` (strings,
            shape `(batch,)`).

    Returns:
        `(x, y, sample_weight)`: `x = {"images", "token_ids": int32 (batch,
        sequence_length), "padding_mask": bool (batch, sequence_length)}`
        (with the input preprocessor's outputs in place of `"images"`),
        `y` int32 `(batch, sequence_length)`, `sample_weight` float32
        `(batch, sequence_length)`.

    Examples:
    >>> vocab = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "red", "circle"]
    >>> preprocessor = keras_mm.layers.CaptionPreprocessor(vocab, 4)
    >>> images = np.zeros((1, 8, 8, 3), "uint8")
    >>> x, y, weights = preprocessor(
    ...     {"images": images, "text": ["A red circle"]})
    >>> x["token_ids"]
    array([[2, 4, 5, 6]], dtype=int32)
    >>> y
    array([[4, 5, 6, 3]], dtype=int32)
    >>> weights
    array([[1., 1., 1., 1.]], dtype=float32)
    """

    def __init__(
        self,
        vocabulary,
        sequence_length,
        lowercase=True,
        modalities=("images",),
        input_preprocessor=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_integers(sequence_length=sequence_length)
        if isinstance(modalities, str) or not (
            modalities
            and set(modalities) <= set(MODALITIES)
            and len(set(modalities)) == len(modalities)
        ):
            raise ValueError(
                "`modalities` must be a tuple of different keys among "
                f"{list(MODALITIES)}. Received: modalities={modalities!r}"
            )
        self.sequence_length = sequence_length
        self.lowercase = lowercase
        self.modalities = tuple(modalities)
        self.input_preprocessor = input_preprocessor
        self.tokenizer = WordTokenizer(
            vocabulary,
            sequence_length + 1,
            lowercase=lowercase,
            add_start_end=True,
            name="tokenizer",
        )

    @property
    def vocabulary(self):
        return self.tokenizer.vocabulary

    @property
    def vocabulary_size(self):
        return self.tokenizer.vocabulary_size

    def call(self, x, y=None, sample_weight=None):
        keys = [*self.modalities, "text"]
        if not isinstance(x, dict) or not set(self.modalities) <= set(x):
            raise ValueError(
                f"A captioner's inputs must be a dict with keys {keys} "
                "(one caption per example). Received: "
                + (
                    f"keys {sorted(x)}"
                    if isinstance(x, dict)
                    else type(x).__name__
                )
            )
        if "text" not in x:
            if "token_ids" in x and "padding_mask" in x:
                return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
            raise ValueError(
                "A captioner's inputs need captions under 'text' to train "
                "or evaluate on. To caption, call `captioner.generate("
                f"inputs)`. Received keys: {sorted(x)}"
            )
        if y is not None:
            raise ValueError(
                "A captioner makes its labels from the captions in "
                "x['text']; pass no `y`."
            )
        unexpected = sorted(set(x) - set(keys))
        if unexpected:
            raise ValueError(
                f"A captioner's inputs must have keys {keys}. Received "
                f"unexpected keys: {unexpected}"
            )
        tokens = self.tokenizer.call(x["text"])
        token_ids, mask = tokens["token_ids"], tokens["padding_mask"]
        inputs = {}
        for modality in self.modalities:
            if modality == "audio" and self.input_preprocessor is not None:
                inputs.update(self.input_preprocessor(x[modality]))
            else:
                inputs[modality] = x[modality]
        inputs["token_ids"] = token_ids[:, :-1]
        inputs["padding_mask"] = mask[:, :-1]
        weights = tf.cast(mask[:, 1:], "float32")
        if sample_weight is not None:
            # One weight per caption scales all its tokens.
            sample_weight = tf.cast(sample_weight, "float32")
            if sample_weight.shape.rank == 1:
                sample_weight = sample_weight[:, None]
            weights = weights * sample_weight
        return inputs, token_ids[:, 1:], weights

    def detokenize(self, token_ids):
        """Token ids `(batch, length)` to strings: cut at the first
        `"[END]"`, special tokens (and `"[UNK]"`) dropped, words joined by
        spaces, and closing punctuation (`, . ! ? ; : )`) attached to the
        word before it: `"a circle, on grass."`.

        TensorFlow string ops, so the same function runs in an exported
        graph (a tensor of strings) and eagerly (a list of str)."""
        eager = tf.executing_eagerly()
        if eager:
            token_ids = tf.convert_to_tensor(np.asarray(token_ids), "int32")
        with tf.device("cpu"):
            ended = tf.cumsum(
                tf.cast(token_ids == END_TOKEN_ID, "int32"), axis=1
            )
            keep = (ended == 0) & (token_ids >= len(SPECIAL_TOKENS))
            words = tf.ragged.boolean_mask(
                tf.gather(tf.constant(self.vocabulary), token_ids), keep
            )
            text = tf.strings.reduce_join(words, axis=1, separator=" ")
            closing = "".join("\\" + c for c in sorted(CLOSING_PUNCTUATION))
            text = tf.strings.regex_replace(text, f" ([{closing}])", r"\1")
        if eager:
            return [t.decode("utf-8") for t in text.numpy().tolist()]
        return text

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "sequence_length": self.sequence_length,
                "lowercase": self.lowercase,
                "modalities": list(self.modalities),
                "input_preprocessor": (
                    None
                    if self.input_preprocessor is None
                    else keras.layers.serialize(self.input_preprocessor)
                ),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("input_preprocessor") is not None:
            config["input_preprocessor"] = keras.layers.deserialize(
                config["input_preprocessor"]
            )
        return cls(**config)
