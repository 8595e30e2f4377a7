import math

import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.utils.validation import check_integers

# Taps of the telephone band-pass filter at 16 kHz (scaled with the rate).
_BAND_TAPS_AT_16K = 101


def _check_probabilities(**values):
    for name, value in values.items():
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not ok or not 0.0 <= value <= 1.0:
            raise ValueError(
                f"`{name}` must be a probability in [0, 1]. Received: "
                f"{name}={value!r}"
            )


def _check_range(name, value, minimum=None, maximum=None, strict=False):
    """A `(low, high)` pair of numbers with `low <= high`, as floats; both
    `> minimum` (`strict`) or `>= minimum`, and `< maximum`."""
    try:
        low, high = (float(v) for v in value)
        if isinstance(value, str) or any(isinstance(v, bool) for v in value):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(
            f"`{name}` must be a pair of numbers `(low, high)`. Received: "
            f"{name}={value!r}"
        ) from None
    ok = math.isfinite(low) and math.isfinite(high) and low <= high
    if ok and minimum is not None:
        ok = low > minimum if strict else low >= minimum
    if ok and maximum is not None:
        ok = high < maximum
    if not ok:
        bounds = ""
        if minimum is not None:
            bounds += (
                f", above {minimum}" if strict else f", at least {minimum}"
            )
        if maximum is not None:
            bounds += f", below {maximum}"
        raise ValueError(
            f"`{name}` must be finite `(low, high)` with `low <= high`{bounds}."
            f" Received: {name}={value!r}"
        )
    return (low, high)


def _band_pass(low, high, sample_rate, num_taps):
    """A Hamming-windowed sinc band-pass FIR `(num_taps,)`, unit gain at the
    centre of the band."""
    t = np.arange(num_taps) - (num_taps - 1) / 2

    def low_pass(cutoff):
        return 2 * cutoff / sample_rate * np.sinc(2 * cutoff / sample_rate * t)

    taps = (low_pass(high) - low_pass(low)) * np.hamming(num_taps)
    centre = np.pi * (low + high) / sample_rate
    gain = np.abs(np.sum(taps * np.exp(-1j * centre * np.arange(num_taps))))
    return (taps / gain).astype("float32")


@keras_mm_export
class WaveformAugmentation(keras.layers.Layer):
    """Random gain, noise, telephone band, reverberation and speed while
    training.

    Each call in training draws, for every example and each augmentation
    on its own, whether to apply it (with its `*_probability`), then in this
    order: resamples the waveform by a speed factor in `speed_range` (tempo
    and pitch together, by linear interpolation without an anti-aliasing
    filter; the length is kept, cropping the end or padding zeros);
    convolves it with a synthetic room response (white noise under an
    exponential decay reaching -60 dB after a time drawn in
    `reverb_range`, behind a direct path, normalised to unit energy);
    filters it to the telephone band `band_hz` (a FIR band-pass of 101
    taps at 16 kHz, fewer at lower rates); scales it by a gain in
    `gain_range_db` decibels; and adds white noise at a signal-to-noise
    ratio in `snr_range_db`. Outside training the layer is the identity.
    Convolutions run as FFTs, so the number of samples must be known when
    the layer is built.

    With a sample-level `padding_mask` (`True` on audio), the padded
    samples stay zero, the noise power follows the audio's, and the layer
    returns `(waveforms, padding_mask)` with the mask moved to the new end
    of the audio; a slow-down is then limited so the audio still fits.
    Without a mask every sample counts as audio.

    Args:
        sample_rate: int. Samples per second. Defaults to `16000`.
        gain_probability: float. Defaults to `0.5`.
        gain_range_db: pair of floats. Defaults to `(-6.0, 6.0)`.
        noise_probability: float. Defaults to `0.5`.
        snr_range_db: pair of floats. Defaults to `(10.0, 30.0)`.
        band_probability: float. Defaults to `0.2`.
        band_hz: pair of floats. Pass band in Hz, below `sample_rate / 2`.
            Defaults to `(300.0, 3400.0)`.
        reverb_probability: float. Defaults to `0.3`.
        reverb_range: pair of floats. Decay time in seconds. Defaults to
            `(0.05, 0.2)`.
        speed_probability: float. Defaults to `0.5`.
        speed_range: pair of positive floats; above 1 is faster. Defaults
            to `(0.9, 1.1)`.
        seed: int or `None`. Seed of the random draws. Defaults to `None`.

    Call arguments:
        inputs: float tensor `(batch, samples)`.
        padding_mask: bool tensor `(batch, samples)`, or `None`.
        training: bool. Augments only when `True`.

    Returns:
        A tensor of the shape of `inputs`, in the layer's compute dtype;
        with a `padding_mask`, the tuple `(waveforms, padding_mask)`.

    Examples:
    >>> layer = keras_mm.layers.WaveformAugmentation(
    ...     sample_rate=8000, noise_probability=1.0, seed=1)
    >>> audio = np.random.uniform(-0.5, 0.5, (2, 4000)).astype("float32")
    >>> noisy = keras.ops.convert_to_numpy(layer(audio, training=True))
    >>> noisy.shape, bool((noisy == audio).all())
    ((2, 4000), False)
    >>> same = keras.ops.convert_to_numpy(layer(audio))
    >>> bool((same == audio).all())
    True
    """

    def __init__(
        self,
        sample_rate=16000,
        gain_probability=0.5,
        gain_range_db=(-6.0, 6.0),
        noise_probability=0.5,
        snr_range_db=(10.0, 30.0),
        band_probability=0.2,
        band_hz=(300.0, 3400.0),
        reverb_probability=0.3,
        reverb_range=(0.05, 0.2),
        speed_probability=0.5,
        speed_range=(0.9, 1.1),
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_integers(sample_rate=sample_rate)
        _check_probabilities(
            gain_probability=gain_probability,
            noise_probability=noise_probability,
            band_probability=band_probability,
            reverb_probability=reverb_probability,
            speed_probability=speed_probability,
        )
        self.sample_rate = sample_rate
        self.gain_probability = gain_probability
        self.gain_range_db = _check_range("gain_range_db", gain_range_db)
        self.noise_probability = noise_probability
        self.snr_range_db = _check_range("snr_range_db", snr_range_db)
        self.band_probability = band_probability
        self.band_hz = _check_range(
            "band_hz", band_hz, minimum=0.0, maximum=sample_rate / 2
        )
        if self.band_hz[0] >= self.band_hz[1]:
            raise ValueError(
                "`band_hz` must have `low < high`. Received: "
                f"band_hz={band_hz!r}"
            )
        self.reverb_probability = reverb_probability
        self.reverb_range = _check_range(
            "reverb_range", reverb_range, minimum=0.0, strict=True
        )
        self.speed_probability = speed_probability
        self.speed_range = _check_range(
            "speed_range", speed_range, minimum=0.0, strict=True
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        num_taps = max(_BAND_TAPS_AT_16K * sample_rate // 16000, 3) | 1
        self.band_taps = _band_pass(*self.band_hz, sample_rate, num_taps)
        self.reverb_taps = max(round(self.reverb_range[1] * sample_rate), 2)

    def build(self, inputs_shape, padding_mask_shape=None):
        if len(inputs_shape) != 2 or inputs_shape[-1] is None:
            raise ValueError(
                "`WaveformAugmentation` takes waveforms `(batch, samples)` "
                f"with a known number of samples. Received: shape="
                f"{tuple(inputs_shape)}"
            )
        self.built = True

    def _draw(self, batch, low=0.0, high=1.0):
        return keras.random.uniform(
            (batch, 1), low, high, seed=self.seed_generator
        )

    def _chosen(self, batch, probability):
        return self._draw(batch) < probability

    def _convolve(self, x, kernels, delay):
        """Convolves each row of `x` `(batch, samples)` with its kernel
        (`kernels` `(batch or 1, taps)`) by FFT; keeps `samples` samples
        from `delay` on."""
        ops = keras.ops
        samples, taps = x.shape[1], kernels.shape[1]
        length = 2 ** math.ceil(math.log2(samples + taps - 1))
        x_real, x_imag = ops.rfft(x, length)
        k_real, k_imag = ops.rfft(kernels, length)
        y = ops.irfft(
            (
                x_real * k_real - x_imag * k_imag,
                x_real * k_imag + x_imag * k_real,
            ),
            length,
        )
        return y[:, delay : delay + samples]

    def _speed(self, x, mask, batch, samples):
        ops = keras.ops
        low, high = self.speed_range
        factor = self._draw(batch, low, high)
        if mask is not None:
            # Slow down no more than the padding holds: keep all the audio.
            length = ops.sum(ops.cast(mask, "float32"), axis=1, keepdims=True)
            factor = ops.maximum(factor, length / samples)
        chosen = self._chosen(batch, self.speed_probability)
        factor = ops.where(chosen, factor, 1.0)
        positions = ops.cast(ops.arange(samples), "float32")[None] * factor
        start = ops.floor(positions)
        fraction = positions - start
        start = ops.cast(start, "int32")
        first = ops.take_along_axis(x, ops.minimum(start, samples - 1), axis=1)
        second = ops.take_along_axis(
            x, ops.minimum(start + 1, samples - 1), axis=1
        )
        inside = positions <= samples - 1
        x = ops.where(inside, first + fraction * (second - first), 0.0)
        if mask is not None:
            moved = ops.take_along_axis(
                mask, ops.minimum(start, samples - 1), axis=1
            )
            mask = moved & inside
        return x, mask

    def _reverb(self, x, batch):
        ops = keras.ops
        taps = self.reverb_taps
        low, high = self.reverb_range
        decay = self._draw(batch, low, high)
        time = ops.cast(ops.arange(taps), "float32")[None] / self.sample_rate
        # -60 dB (a factor 1000) at `decay` seconds.
        envelope = ops.exp(-math.log(1000.0) * time / decay)
        envelope = ops.where(time <= decay, envelope, 0.0)
        noise = keras.random.normal((batch, taps), seed=self.seed_generator)
        response = noise * envelope * 0.1
        direct = ops.cast(ops.arange(taps) == 0, "float32")[None]
        response = ops.where(direct > 0, 1.0, response)
        response = response / ops.sqrt(
            ops.sum(ops.square(response), axis=1, keepdims=True)
        )
        return self._convolve(x, response, 0)

    def _band(self, x):
        taps = keras.ops.convert_to_tensor(self.band_taps)[None]
        return self._convolve(x, taps, (self.band_taps.shape[0] - 1) // 2)

    def _noise(self, x, weights, batch, samples):
        ops = keras.ops
        low, high = self.snr_range_db
        snr = self._draw(batch, low, high)
        count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
        power = ops.sum(ops.square(x) * weights, axis=1, keepdims=True) / count
        scale = ops.sqrt(power / ops.power(10.0, snr / 10.0))
        noise = keras.random.normal((batch, samples), seed=self.seed_generator)
        return x + noise * scale * weights

    def call(self, inputs, padding_mask=None, training=None):
        if not training:
            if padding_mask is None:
                return inputs
            return inputs, padding_mask
        ops = keras.ops
        x = ops.cast(inputs, "float32")
        batch, samples = ops.shape(x)[0], x.shape[1]
        mask = padding_mask
        if mask is not None:
            mask = ops.cast(mask, "bool")
            x = ops.where(mask, x, 0.0)

        def maybe(probability, augment):
            nonlocal x
            if probability > 0:
                chosen = self._chosen(batch, probability)
                x = ops.where(chosen, augment(x), x)

        if self.speed_probability > 0:
            x, mask = self._speed(x, mask, batch, samples)
        weights = (
            ops.ones_like(x) if mask is None else ops.cast(mask, "float32")
        )
        maybe(self.reverb_probability, lambda x: self._reverb(x, batch))
        maybe(self.band_probability, self._band)
        low, high = self.gain_range_db
        maybe(
            self.gain_probability,
            lambda x: x * ops.power(10.0, self._draw(batch, low, high) / 20.0),
        )
        maybe(
            self.noise_probability,
            lambda x: self._noise(x, weights, batch, samples),
        )
        x = ops.cast(x * weights, self.compute_dtype)
        if padding_mask is None:
            return x
        return x, ops.cast(mask, padding_mask.dtype)

    def compute_output_spec(self, inputs, padding_mask=None, training=None):
        waveforms = keras.KerasTensor(inputs.shape, self.compute_dtype)
        if padding_mask is None:
            return waveforms
        return waveforms, keras.KerasTensor(
            padding_mask.shape, padding_mask.dtype
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sample_rate": self.sample_rate,
                "gain_probability": self.gain_probability,
                "gain_range_db": self.gain_range_db,
                "noise_probability": self.noise_probability,
                "snr_range_db": self.snr_range_db,
                "band_probability": self.band_probability,
                "band_hz": self.band_hz,
                "reverb_probability": self.reverb_probability,
                "reverb_range": self.reverb_range,
                "speed_probability": self.speed_probability,
                "speed_range": self.speed_range,
                "seed": self.seed,
            }
        )
        return config
