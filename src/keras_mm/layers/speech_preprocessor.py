import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.preprocessing_layer import PreprocessingLayer
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.validation import check_integers

# CTC's blank symbol; characters are `1 + vocabulary.index(char)`.
BLANK_ID = 0


def check_character_vocabulary(vocabulary):
    """Returns `vocabulary` as a list of distinct single characters, or
    raises a `ValueError` that says what is wrong."""
    if isinstance(vocabulary, str) or not isinstance(vocabulary, (list, tuple)):
        raise ValueError(
            "`vocabulary` must be a list of single characters, e.g. "
            '`list("abcdefghijklmnopqrstuvwxyz \'")`. Received: '
            f"{vocabulary!r}"
        )
    bad = [c for c in vocabulary if not isinstance(c, str) or len(c) != 1]
    if bad or not vocabulary:
        raise ValueError(
            "`vocabulary` must be a non-empty list of single characters. "
            f"Received entries that are not: {bad[:5]}"
        )
    repeated = sorted({c for c in vocabulary if vocabulary.count(c) > 1})
    if repeated:
        raise ValueError(
            f"`vocabulary` must not repeat characters. Repeated: {repeated}"
        )
    return list(vocabulary)


@keras_mm_export
class SpeechPreprocessor(PreprocessingLayer):
    """Waveforms and transcripts to the inputs and targets of CTC training.

    Waveforms go through a `keras_mm.layers.AudioPreprocessor` (cropped or
    zero-padded to `max_duration` seconds, with a padding mask).
    Transcripts are lower-cased (when `lowercase`), split into characters
    and mapped to ids `1 + vocabulary.index(char)`, id `0` being CTC's
    blank; they are padded with `0` (or cut) to `max_label_length`.
    Characters outside `vocabulary` also map to `0`, that is, they are
    dropped: `keras_mm.models.SpeechRecognizer.fit` refuses them before
    they get here, naming them.

    Args:
        vocabulary: list of single characters.
        sample_rate: int. Defaults to `16000`.
        max_duration: float. Seconds of audio. Defaults to `4.0`.
        max_label_length: int. Length of the padded targets.
        lowercase: bool. Lower-case transcripts first. Defaults to `True`.

    Call arguments:
        x: waveforms, as `keras_mm.layers.AudioPreprocessor` takes them.
        y: transcripts, strings `(batch,)`, or `None`.
        sample_weight: passed through.

    Returns:
        `({"audio", "audio_padding_mask"}, labels, sample_weight)` packed as
        `keras.utils.pack_x_y_sample_weight` does, `labels` int32 `(batch,
        max_label_length)`.

    Examples:
    >>> preprocessor = keras_mm.layers.SpeechPreprocessor(
    ...     list("abc "), sample_rate=8000, max_duration=0.5,
    ...     max_label_length=6)
    >>> x, labels = preprocessor([np.zeros(1000, "float32")], ["Cab a"])
    >>> x["audio"].shape, labels
    ((1, 4000), array([[3, 1, 2, 4, 1, 0]], dtype=int32))
    """

    def __init__(
        self,
        vocabulary,
        sample_rate=16000,
        max_duration=4.0,
        max_label_length=64,
        lowercase=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary = check_character_vocabulary(vocabulary)
        check_integers(max_label_length=max_label_length)
        self.audio_preprocessor = AudioPreprocessor(
            sample_rate, max_duration, name=f"{self.name}_audio"
        )
        self.sample_rate = sample_rate
        self.max_duration = max_duration
        self.num_samples = self.audio_preprocessor.num_samples
        self.max_label_length = max_label_length
        self.lowercase = lowercase
        self._lookup = None
        if tf is not None:  # Without TensorFlow the layer refuses to run.
            self._lookup = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(self.vocabulary),
                    tf.range(1, len(self.vocabulary) + 1, dtype="int32"),
                ),
                default_value=BLANK_ID,
            )

    def tokenize(self, transcripts):
        """Strings `(batch,)` -> ids `(batch, max_label_length)`, in TF."""
        if transcripts.dtype != tf.string:
            raise ValueError(
                "Transcripts must be strings. Received: dtype="
                f"{transcripts.dtype.name}"
            )
        if self.lowercase:
            # NUL is no character of a vocabulary: drop it here, as
            # `tf.strings.lower` would drop all that follows it.
            transcripts = tf.strings.regex_replace(transcripts, r"\x00", "")
            transcripts = tf.strings.lower(transcripts, encoding="utf-8")
        characters = tf.strings.unicode_split(transcripts, "UTF-8")
        ids = tf.ragged.map_flat_values(self._lookup.lookup, characters)
        ids = tf.ragged.boolean_mask(ids, ids != BLANK_ID)
        return ids.to_tensor(
            default_value=BLANK_ID, shape=[None, self.max_label_length]
        )

    def detokenize(self, ids):
        """Character ids `(batch, length)` (blanks, `0`, and negative
        padding dropped) to strings, with TensorFlow string ops: a tensor of
        strings in a graph, a list of str when called eagerly."""
        eager = tf.executing_eagerly()
        if eager:
            ids = tf.convert_to_tensor(np.asarray(ids), "int32")
        with tf.device("cpu"):
            characters = tf.constant([""] + list(self.vocabulary))
            keep = ids > BLANK_ID
            text = tf.strings.reduce_join(
                tf.ragged.boolean_mask(
                    tf.gather(characters, tf.maximum(ids, 0)), keep
                ),
                axis=1,
            )
        if eager:
            return [t.decode("utf-8") for t in text.numpy().tolist()]
        return text

    def call(self, x, y=None, sample_weight=None):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(
            self.audio_preprocessor.call(x)
        )
        labels = None if y is None else self.tokenize(y)
        return keras.utils.pack_x_y_sample_weight(x, labels, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary": self.vocabulary,
                "sample_rate": self.sample_rate,
                "max_duration": self.max_duration,
                "max_label_length": self.max_label_length,
                "lowercase": self.lowercase,
            }
        )
        return config
