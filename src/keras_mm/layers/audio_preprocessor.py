import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.preprocessing_layer import PreprocessingLayer
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.validation import check_integers

# Integer PCM samples and the value of full scale.
_PCM_SCALE = {"int16": 2.0**15, "int32": 2.0**31}
_MAX_CHANNELS = 8


@keras_mm_export
class AudioPreprocessor(PreprocessingLayer):
    """Waveforms of any length to fixed-length `audio` and its padding mask.

    Clips longer than `max_duration` are cropped: only their first
    `max_duration` seconds are kept. Shorter clips are padded with zeros at
    the end, and `audio_padding_mask` is `False` over the padding. Empty and
    silent clips are valid. The layer does not resample: decode and resample
    files with `keras_mm.data.read_audio(path, sample_rate)`.

    Args:
        sample_rate: int. Samples per second of the waveforms. Defaults to
            `16000`.
        max_duration: float. Seconds of audio the model takes. Defaults to
            `1.0`.

    Call arguments:
        x: the waveforms, one of:
            - a float array or tensor `(batch, samples)`, values in
              `[-1, 1]`; `int16` and `int32` PCM samples (as
              `scipy.io.wavfile.read` returns them) are scaled to `[-1, 1]`,
              other integer types are refused;
            - a list of 1-D arrays of different lengths (a ragged batch);
            - either of the above with a last axis of channels, `(batch,
              samples, channels)` with at most 8 channels: channels are
              averaged to mono;
            - a dict with `"audio"` and optionally `"audio_padding_mask"`,
              which is cropped and padded along with the audio; other keys
              pass through unchanged.
        y, sample_weight: passed through.

    Returns:
        `{"audio": float32 (batch, num_samples), "audio_padding_mask": bool
        (batch, num_samples)}`, where `num_samples =
        max(round(sample_rate * max_duration), 1)`, packed with `y` and
        `sample_weight` as `keras.utils.pack_x_y_sample_weight` does.

    Raises:
        ValueError: for strings, booleans or integer types other than
            `int16` and `int32`, a single 1-D waveform (wrap it in a list),
            or a tensor of rank other than 2 or 3.

    Examples:
    >>> preprocessor = keras_mm.layers.AudioPreprocessor(
    ...     sample_rate=8000, max_duration=0.5)
    >>> outputs = preprocessor([np.ones(1000), np.ones(6000)])
    >>> outputs["audio"].shape
    (2, 4000)
    >>> outputs["audio_padding_mask"].sum(axis=1)
    array([1000, 4000])
    """

    def __init__(self, sample_rate=16000, max_duration=1.0, **kwargs):
        super().__init__(**kwargs)
        check_integers(sample_rate=sample_rate)
        if not isinstance(max_duration, (int, float)) or max_duration <= 0:
            raise ValueError(
                "`max_duration` must be a positive number of seconds. "
                f"Received: max_duration={max_duration}"
            )
        self.sample_rate = sample_rate
        self.max_duration = max_duration
        self.num_samples = max(int(round(sample_rate * max_duration)), 1)

    def _standardize(self, audio):
        """Checks dtype and rank; returns float32 mono `(batch, samples)`."""
        if audio.dtype == tf.string:
            raise ValueError(
                "Audio must be a waveform of numbers, not strings. To read "
                "audio files, use `keras_mm.data.read_audio(path, "
                "sample_rate)`."
            )
        if audio.dtype.name in _PCM_SCALE:
            audio = tf.cast(audio, "float32") / _PCM_SCALE[audio.dtype.name]
        elif audio.dtype.is_floating:
            audio = tf.cast(audio, "float32")
        else:
            raise ValueError(
                "Audio must be a float waveform in [-1, 1] (float16, "
                "float32 or float64), or int16 or int32 PCM samples. "
                f"Received: dtype={audio.dtype.name}. Cast it first, e.g. "
                "`x.astype('float32') / 32768` for 16-bit samples."
            )
        rank = audio.shape.rank
        if rank == 1:
            raise ValueError(
                "Audio must be a batch of waveforms `(batch, samples)` or a "
                "list of 1-D waveforms. Received one waveform of shape "
                f"{audio.shape}: wrap it, as `[waveform]`."
            )
        if rank == 3:
            channels = audio.shape[-1]
            if channels is not None and channels > _MAX_CHANNELS:
                raise ValueError(
                    "3-D audio must be `(batch, samples, channels)` with at "
                    f"most {_MAX_CHANNELS} channels. Received: shape="
                    f"{audio.shape}. Transpose channels-first audio."
                )
            audio = tf.reduce_mean(audio, axis=-1)
        elif rank != 2:
            raise ValueError(
                "Audio must be `(batch, samples)` or `(batch, samples, "
                f"channels)`. Received: shape={audio.shape}"
            )
        return audio

    def _fit_length(self, x, pad_value):
        """Crops or pads the last axis of a dense `(batch, samples)`."""
        x = x[:, : self.num_samples]
        pad = self.num_samples - tf.shape(x)[1]
        x = tf.pad(x, [[0, 0], [0, pad]], constant_values=pad_value)
        return tf.ensure_shape(x, [None, self.num_samples])

    def call(self, x, y=None, sample_weight=None):
        outputs = dict(x) if isinstance(x, dict) else {}
        if isinstance(x, dict):
            if "audio" not in x:
                raise ValueError(
                    "A dict input must hold the key 'audio'. Received "
                    f"keys: {sorted(x)}"
                )
            x, mask = x["audio"], x.get("audio_padding_mask")
        else:
            mask = None
        audio = self._standardize(x)
        if isinstance(audio, tf.RaggedTensor):
            lengths = tf.minimum(audio.row_lengths(), self.num_samples)
            audio = audio.to_tensor(shape=[None, self.num_samples])
        else:
            lengths = tf.fill(tf.shape(audio)[:1], tf.shape(audio)[1])
            audio = self._fit_length(audio, 0.0)
        if mask is None:
            mask = tf.sequence_mask(lengths, self.num_samples)
        else:
            if isinstance(mask, tf.RaggedTensor):
                mask = mask.to_tensor()
            mask = self._fit_length(tf.cast(mask, "bool"), False)
        outputs["audio"] = audio
        outputs["audio_padding_mask"] = mask
        return keras.utils.pack_x_y_sample_weight(outputs, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "max_duration": self.max_duration,
            }
        )
        return config
