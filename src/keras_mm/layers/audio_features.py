import math

import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.utils.validation import check_integers

FEATURES = ("stft", "log_mel", "mfcc")
_LOG_OFFSET = 1e-6


def mel_filterbank(num_mel_bins, num_spectrogram_bins, sample_rate):
    """Triangular HTK-mel filters, `(num_spectrogram_bins, num_mel_bins)`."""

    def to_mel(hertz):
        return 2595.0 * np.log10(1.0 + hertz / 700.0)

    bins = to_mel(np.linspace(0.0, sample_rate / 2, num_spectrogram_bins))
    edges = np.linspace(0.0, to_mel(sample_rate / 2), num_mel_bins + 2)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bins[:, None] - lower) / (center - lower)
    falling = (upper - bins[:, None]) / (upper - center)
    return np.maximum(0.0, np.minimum(rising, falling)).astype("float32")


def stft_window(frame_length, fft_length):
    """A symmetric Hann window of unit energy, zero-padded to
    `fft_length`: the window (and "density" scaling) that
    `keras.layers.STFTSpectrogram` uses by default, so features match
    models trained with it."""
    window = np.hanning(frame_length)  # scipy's symmetric "hann"
    window = window / np.sqrt(np.sum(window**2))
    return np.pad(window, (0, fft_length - frame_length)).astype("float32")


def normalize_frames(features, frame_mask=None, epsilon=1e-5):
    """Each clip's bins to zero mean and unit variance over its frames
    (`frame_mask` `True` on valid ones); masked frames become zeros."""
    if frame_mask is None:
        weights = keras.ops.ones_like(features[..., :1])
    else:
        weights = keras.ops.cast(frame_mask, features.dtype)[..., None]
    count = keras.ops.maximum(keras.ops.sum(weights, axis=1, keepdims=True), 1)
    mean = keras.ops.sum(features * weights, axis=1, keepdims=True) / count
    centered = (features - mean) * weights
    variance = keras.ops.sum(centered**2, axis=1, keepdims=True) / count
    return centered * keras.ops.rsqrt(variance + epsilon)


def dct_matrix(num_coefficients, size):
    """Orthonormal DCT-II, `(size, num_coefficients)`: `x @ m` is the DCT."""
    n = np.arange(size)[:, None]
    k = np.arange(num_coefficients)[None, :]
    matrix = np.sqrt(2.0 / size) * np.cos(np.pi / size * (n + 0.5) * k)
    matrix[:, 0] /= np.sqrt(2.0)
    return matrix.astype("float32")


@keras_mm_export
class AudioFeatures(keras.layers.Layer):
    """Waveforms to log spectrogram, log-mel or MFCC frames, in the graph.

    Frames of `frame_length` samples are cut every `frame_step` samples
    (no padding), weighted by a symmetric Hann window scaled to unit energy
    and zero-padded to the next power of two, and transformed with
    `keras.ops.stft` (an FFT). Then:
    - `"stft"`: the log power of every FFT bin;
    - `"log_mel"`: the log power in `num_mel_bins` triangular mel bands;
    - `"mfcc"`: the first `num_mfcc` coefficients of the orthonormal DCT of
      the log-mel bands.
    The log is `log(power + 1e-6)`, so silence gives a finite floor; power
    is capped at the float32 maximum over the number of FFT bins, so loud
    input (amplitudes up to about 1e37) gives finite features too. With
    `normalize=True`, each clip's bins are then shifted and scaled to zero
    mean and unit variance over its valid frames (per-utterance cepstral
    mean and variance normalisation), and padded frames are zero.
    Features are computed in float32 under any dtype policy (the FFT
    refuses bfloat16), then cast to the compute dtype. The layer has no
    weights.

    Masking: given a sample-level `padding_mask`, the waveform is zeroed
    where it is `False`, and a frame is valid when its first sample is.

    Args:
        sample_rate: int. Samples per second. Defaults to `16000`.
        features: str. `"stft"`, `"log_mel"` or `"mfcc"`. Defaults to
            `"log_mel"`.
        num_mel_bins: int. Mel bands. Defaults to `64`.
        num_mfcc: int. Coefficients kept for `"mfcc"`, at most
            `num_mel_bins`. Defaults to `13`.
        frame_length: int or `None`. Samples per frame. Defaults to 25 ms
            at `sample_rate` (`400` at 16 kHz).
        frame_step: int or `None`. Samples between frames. Defaults to
            10 ms at `sample_rate` (`160` at 16 kHz).
        normalize: bool. Per-clip mean and variance normalisation. Defaults
            to `False`.

    Call arguments:
        inputs: float tensor `(batch, samples)`, at least `frame_length`
            samples.
        padding_mask: bool tensor `(batch, samples)`, or `None`.

    Returns:
        Features `(batch, frames, bins)`, with `frames = (samples -
        frame_length) // frame_step + 1`; with a `padding_mask`, the tuple
        `(features, frame_padding_mask)`, the mask bool `(batch, frames)`.

    Examples:
    >>> layer = keras_mm.layers.AudioFeatures(
    ...     sample_rate=8000, num_mel_bins=16, frame_length=200,
    ...     frame_step=80)
    >>> tuple(layer(np.zeros((2, 2000), "float32")).shape)
    (2, 23, 16)
    """

    def __init__(
        self,
        sample_rate=16000,
        features="log_mel",
        num_mel_bins=64,
        num_mfcc=13,
        frame_length=None,
        frame_step=None,
        normalize=False,
        **kwargs,
    ):
        # The STFT runs in float32 under any policy: no input autocast.
        kwargs["autocast"] = False
        super().__init__(**kwargs)
        if frame_length is None and isinstance(sample_rate, int):
            frame_length = round(0.025 * sample_rate)
        if frame_step is None and isinstance(sample_rate, int):
            frame_step = max(round(0.010 * sample_rate), 1)
        if features not in FEATURES:
            raise ValueError(
                f"`features` must be one of {list(FEATURES)}. Received: "
                f"features={features!r}"
            )
        check_integers(
            sample_rate=sample_rate,
            num_mel_bins=num_mel_bins,
            num_mfcc=num_mfcc,
            frame_length=frame_length,
            frame_step=frame_step,
        )
        if num_mfcc > num_mel_bins:
            raise ValueError(
                "`num_mfcc` must be at most `num_mel_bins`. Received: "
                f"num_mfcc={num_mfcc}, num_mel_bins={num_mel_bins}"
            )
        if frame_step > frame_length:
            raise ValueError(
                "`frame_step` must be at most `frame_length`. Received: "
                f"frame_step={frame_step}, frame_length={frame_length}"
            )
        self.sample_rate = sample_rate
        self.features = features
        self.num_mel_bins = num_mel_bins
        self.num_mfcc = num_mfcc
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.normalize = bool(normalize)
        self.fft_length = 2 ** math.ceil(math.log2(frame_length))
        self.window = stft_window(frame_length, self.fft_length)
        num_fft_bins = self.fft_length // 2 + 1
        # The most power a bin may hold: a sum over all bins (the mel
        # filters) still fits in float32.
        self.max_power = float(np.finfo("float32").max) / num_fft_bins
        self.mel_matrix = mel_filterbank(
            num_mel_bins, num_fft_bins, sample_rate
        )
        self.dct_matrix = dct_matrix(num_mfcc, num_mel_bins)
        self.num_bins = {
            "stft": num_fft_bins,
            "log_mel": num_mel_bins,
            "mfcc": num_mfcc,
        }[features]

    def build(self, inputs_shape, padding_mask_shape=None):
        self._check_samples(inputs_shape)
        self.built = True

    def _check_samples(self, inputs_shape):
        samples = inputs_shape[-1]
        if samples is not None and samples < self.frame_length:
            raise ValueError(
                f"Audio must have at least `frame_length={self.frame_length}`"
                f" samples. Received: shape={tuple(inputs_shape)}"
            )

    def _num_frames(self, samples):
        return (samples - self.frame_length) // self.frame_step + 1

    def call(self, inputs, padding_mask=None):
        # Checked on every call: `build` runs on the first one only.
        self._check_samples(inputs.shape)
        inputs = keras.ops.cast(inputs, "float32")
        samples = inputs.shape[1]
        if padding_mask is not None:
            inputs = inputs * keras.ops.cast(padding_mask, "float32")
        # `ops.stft` reads `fft_length` samples per frame, the window's
        # zeros past `frame_length`: pad the end so the last frame fits.
        inputs = keras.ops.pad(
            inputs, [[0, 0], [0, self.fft_length - self.frame_length]]
        )
        real, imag = keras.ops.stft(
            inputs,
            self.fft_length,
            self.frame_step,
            self.fft_length,
            window=self.window,
            center=False,
        )
        power = keras.ops.square(real) + keras.ops.square(imag)
        # Loud input (far beyond [-1, 1]) overflows the square to inf, and
        # the mel filters' zeros turn inf into NaN: keep it finite.
        power = keras.ops.minimum(power, self.max_power)
        if samples is not None:
            # Keep the frame count static where the sample count is: the
            # TFLite converter loses it inside the STFT.
            power = keras.ops.reshape(
                power, (-1, self._num_frames(samples), power.shape[-1])
            )
        if self.features != "stft":
            power = keras.ops.matmul(power, self.mel_matrix)
        features = keras.ops.log(power + _LOG_OFFSET)
        if self.features == "mfcc":
            features = keras.ops.matmul(features, self.dct_matrix)
        frame_mask = None
        if padding_mask is not None:
            starts = keras.ops.arange(keras.ops.shape(features)[1])
            frame_mask = keras.ops.take(
                padding_mask, starts * self.frame_step, axis=1
            )
        if self.normalize:
            features = normalize_frames(features, frame_mask)
        features = keras.ops.cast(features, self.compute_dtype)
        if padding_mask is None:
            return features
        return features, frame_mask

    def compute_output_spec(self, inputs, padding_mask=None):
        batch, samples = inputs.shape[0], inputs.shape[-1]
        frames = None if samples is None else self._num_frames(samples)
        features = keras.KerasTensor(
            (batch, frames, self.num_bins), self.compute_dtype
        )
        if padding_mask is None:
            return features
        return features, keras.KerasTensor((batch, frames), "bool")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "features": self.features,
                "num_mel_bins": self.num_mel_bins,
                "num_mfcc": self.num_mfcc,
                "frame_length": self.frame_length,
                "frame_step": self.frame_step,
                "normalize": self.normalize,
            }
        )
        return config
