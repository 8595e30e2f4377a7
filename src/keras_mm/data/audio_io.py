"""Reading audio files to mono float32 waveforms, and resampling."""

import math
import os
import re

import keras
import numpy as np

from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.validation import check_finite
from keras_mm.utils.validation import check_integers


def resample(waveform, orig_rate, target_rate):
    """Resamples a waveform with a polyphase filter.

    Args:
        waveform: array `(samples,)` or `(samples, channels)`.
        orig_rate: int. Its samples per second.
        target_rate: int. The samples per second wanted.

    Returns:
        A float32 array of `ceil(samples * target_rate / orig_rate)` samples
        (the same channels).

    Examples:
    >>> keras_mm.data.resample(np.zeros(44100), 44100, 16000).shape
    (16000,)
    """
    for arg, value in (("orig_rate", orig_rate), ("target_rate", target_rate)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(
                f"`{arg}` must be a positive integer. Received: {arg}={value!r}"
            )
    waveform = np.asarray(waveform, "float32")
    if waveform.ndim not in (1, 2):
        raise ValueError(
            "`waveform` must be 1-D `(samples,)` or 2-D `(samples, "
            f"channels)`. Received: shape {waveform.shape}"
        )
    if orig_rate == target_rate or waveform.shape[0] == 0:
        length = math.ceil(waveform.shape[0] * target_rate / orig_rate)
        return waveform[:length].copy()
    import scipy.signal  # 0.7 s to import: only when resampling.

    divisor = math.gcd(int(orig_rate), int(target_rate))
    resampled = scipy.signal.resample_poly(
        waveform, target_rate // divisor, orig_rate // divisor, axis=0
    )
    return resampled.astype("float32")


def op_error_message(error):
    """A TensorFlow op error's message, without the op and function names."""
    message = re.sub(r"\{\{.*?\}\}", "", error.message)
    return re.sub(r"\[Op:.*", "", message).strip()


def _read_with_soundfile(path, reason):
    try:
        import soundfile
    except ImportError:
        raise ImportError(
            f"Reading '{path}' ({reason}) needs the `soundfile` package. "
            "Install it with `pip install soundfile` or "
            "`pip install keras-mm[audio]`."
        ) from None
    try:
        waveform, rate = soundfile.read(path, dtype="float32", always_2d=True)
    except Exception as error:
        raise ValueError(f"Cannot read audio file '{path}': {error}") from None
    return waveform, rate


def read_audio(path, sample_rate=16000):
    """Reads an audio file to a mono float32 waveform at `sample_rate`.

    16-bit PCM WAV files are decoded with `tf.audio.decode_wav`; other WAV
    encodings and FLAC, OGG and MP3 files need the optional `soundfile`
    package (`pip install keras-mm[audio]`). Channels are averaged to mono,
    and the waveform is resampled to `sample_rate`.

    Args:
        path: str or path-like. The file.
        sample_rate: int. Samples per second of the result. Defaults to
            `16000`.

    Returns:
        A float32 NumPy array `(samples,)` with values in `[-1, 1]`.

    Raises:
        ValueError: if the file is missing, cannot be decoded or holds NaN
            or infinite samples; the message names the path and the cause.
        ImportError: if the file needs `soundfile` and it is not installed.

    Examples:
    >>> import os, tempfile, scipy.io.wavfile
    >>> path = os.path.join(tempfile.mkdtemp(), "silence.wav")
    >>> scipy.io.wavfile.write(path, 44100, np.zeros(44100, "int16"))
    >>> keras_mm.data.read_audio(path, sample_rate=16000).shape
    (16000,)
    """
    check_integers(sample_rate=sample_rate)
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"Cannot read audio file '{path}': no such file.")
    require_tensorflow("`read_audio`")
    waveform = None
    if path.lower().endswith(".wav"):
        try:
            decoded = tf.audio.decode_wav(tf.io.read_file(path))
            waveform = decoded.audio.numpy()
            rate = int(decoded.sample_rate.numpy())
        except tf.errors.OpError as error:
            reason = op_error_message(error)
            if "16-bit" not in reason and "PCM" not in reason:
                raise ValueError(
                    f"Cannot read audio file '{path}': {reason}"
                ) from None
    else:
        reason = "not a WAV file"
    if waveform is None:
        waveform, rate = _read_with_soundfile(path, reason)
    if not np.isfinite(waveform).all():  # A float file can hold them.
        raise ValueError(
            f"Cannot read audio file '{path}': it holds NaN or infinite "
            "samples."
        )
    return resample(waveform.mean(axis=1), rate, sample_rate)


def read_waveforms(audio, sample_rate, audio_sample_rate=None):
    """A batch of waveforms or audio file paths -> a list of 1-D waveforms.

    What models that take audio accept from users, checked once: a list of
    1-D float waveforms, an array `(batch, samples)`, or a list of file
    paths (read with `read_audio`, all unreadable files named in one
    error). Waveforms at `audio_sample_rate` are resampled to `sample_rate`.

    Args:
        audio: the batch, or a dict holding it under `"audio"`.
        sample_rate: int. The rate the model takes.
        audio_sample_rate: int or `None`. The rate of waveforms in `audio`,
            when not `sample_rate`.

    Returns:
        A list of float32 NumPy arrays `(samples,)`.

    Raises:
        ValueError: for a single path or waveform (not a batch), arrays of
            the wrong rank or dtype, or unreadable files; the message says
            what was received.

    Examples:
    >>> clips = keras_mm.data.read_waveforms(np.zeros((2, 800)), 8000,
    ...                                      audio_sample_rate=16000)
    >>> [clip.shape for clip in clips]
    [(400,), (400,)]
    """
    if isinstance(audio, dict) and "audio" in audio:
        audio = audio["audio"]
    if isinstance(audio, str):
        raise ValueError(
            "`audio` must be a batch: a list of waveforms or file paths, "
            f"or an array (batch, samples). Received one path {audio!r}: "
            "wrap it in a list."
        )
    if keras.ops.is_tensor(audio):
        audio = keras.ops.convert_to_numpy(audio)
    if isinstance(audio, np.ndarray) and audio.ndim != 2:
        hint = " (one waveform: wrap it in a list)" if audio.ndim == 1 else ""
        raise ValueError(
            "`audio` must be an array (batch, samples) of mono waveforms, "
            f"or a list of them{hint}. Received: shape {audio.shape}"
        )
    waveforms, errors = [], []
    for row, clip in enumerate(audio):
        if isinstance(clip, str):
            try:
                waveforms.append(read_audio(clip, sample_rate))
            except (ValueError, OSError) as error:
                errors.append(f"row {row} ({clip!r}): {error}")
            continue
        clip = np.asarray(clip)
        if clip.ndim != 1 or clip.dtype.kind not in "f":
            raise ValueError(
                "Each waveform must be a 1-D float array (mono, values in "
                f"[-1, 1]). Received at row {row}: shape {clip.shape}, "
                f"dtype {clip.dtype}"
            )
        if audio_sample_rate is not None and audio_sample_rate != sample_rate:
            clip = resample(clip, audio_sample_rate, sample_rate)
        waveforms.append(clip.astype("float32"))
    if errors:
        raise ValueError(
            f"{len(errors)} audio files could not be read: "
            + "; ".join(errors[:5])
        )
    check_finite(waveforms, "audio")
    return waveforms
