"""`keras_mm.encoders.audio`: waveforms to audio tokens and a pooled vector."""

import keras

from keras_mm.encoders.encoder import Encoder
from keras_mm.layers.audio_features import AudioFeatures
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.spec_augment import SpecAugment
from keras_mm.layers.spectrogram_cnn import SpectrogramCNN
from keras_mm.layers.waveform_augmentation import WaveformAugmentation

# Built-in architectures: default hidden_dim, num_layers and conv filters.
BUILTINS = {"spectrogram_cnn": (128, 2, 32)}


def audio(
    backbone="spectrogram_cnn",
    sample_rate=16000,
    max_duration=1.0,
    features="log_mel",
    num_mel_bins=64,
    normalize_features=False,
    hidden_dim=None,
    num_layers=None,
    filters=None,
    spec_augment=True,
    max_time_mask_fraction=0.1,
    trainable=True,
    name="audio_encoder",
    waveform_augmentation=None,
):
    """Builds an audio encoder: waveforms to audio tokens and a pooled vector.

    `predict`, `fit` and `evaluate` take raw waveforms of any length (a list
    of 1-D float arrays, or an array `(batch, samples)`) sampled at
    `sample_rate`: the encoder's `preprocessor`, a
    `keras_mm.layers.AudioPreprocessor`, crops them to their first
    `max_duration` seconds or pads them with zeros, in the data pipeline.
    Inside a model the encoder takes `{"audio": float32 (batch, samples),
    "audio_padding_mask": bool (batch, samples)}` with `samples =
    round(sample_rate * max_duration)`.

    In the graph, 25 ms frames every 10 ms become log spectrogram, log-mel
    or MFCC features (`keras_mm.layers.AudioFeatures`, an FFT in the graph,
    so exported models take waveforms); `keras_mm.layers.SpecAugment` masks
    time and frequency bands while training (and, if asked,
    `keras_mm.layers.WaveformAugmentation` first alters the waveforms:
    gain, noise, telephone band, reverberation, speed); and
    `keras_mm.layers.SpectrogramCNN` turns them into `{"sequence_output":
    (batch, tokens, hidden_dim), "pooled_output": (batch, hidden_dim),
    "padding_mask": (batch, tokens)}`. Each token is one time step, 4x
    coarser than the frames with the default 2 layers; the padding mask
    marks the tokens that hold audio, so fusion layers skip the padding. The
    pooled vector is the mean of those tokens, so padding barely changes it;
    an empty clip pools to zeros.

    Args:
        backbone: str. The architecture; only `"spectrogram_cnn"` (randomly
            initialised) for now.
        sample_rate: int. Samples per second. Defaults to `16000`.
        max_duration: float. Seconds of audio the encoder takes. Defaults to
            `1.0`.
        features: str. `"stft"`, `"log_mel"` or `"mfcc"` (13 coefficients).
            Defaults to `"log_mel"`.
        num_mel_bins: int. Mel bands of `"log_mel"` and `"mfcc"`. Defaults
            to `64`.
        normalize_features: bool. Shift and scale each clip's feature bins
            to zero mean and unit variance over its audio frames (not the
            padding), which evens out loudness and recording differences
            between speakers. It helps the CTC recognizer, whose default it
            is, but lowered keyword accuracy on held-out voices (see
            BENCHMARKS.md). Defaults to `False`.
        hidden_dim: int. Size of the outputs. Defaults to `128`.
        num_layers: int. Stride-2 conv blocks. Defaults to `2`.
        filters: int. Channels of the conv blocks. Defaults to `32`.
        spec_augment: bool. Mask random time and frequency bands while
            training. Defaults to `True`.
        max_time_mask_fraction: float. Most frames in one SpecAugment time
            band, as a share of the frames. Defaults to `0.1` (the speech
            recognizer's builder uses `0.05`).
        trainable: bool. `False` freezes the encoder. Defaults to `True`.
        name: str. Defaults to `"audio_encoder"`.
        waveform_augmentation: `None`, bool or a
            `keras_mm.layers.WaveformAugmentation`. Alter the waveforms
            while training, before the features: `True` with the layer's
            defaults, or the given layer (at the encoder's `sample_rate`).
            `None` or `False`: no change. Defaults to `None`.

    Returns:
        A `keras_mm.encoders.Encoder` with a `preprocessor`.

    Raises:
        ValueError: for an unknown `backbone` or `features`, a
            `max_duration` shorter than one frame, or a
            `waveform_augmentation` that is not a bool, `None` or a
            `WaveformAugmentation` at `sample_rate`.

    Examples:
    >>> encoder = keras_mm.encoders.audio(sample_rate=8000,
    ...     max_duration=0.25, num_mel_bins=16, hidden_dim=8)
    >>> waveforms = [np.zeros(1000, "float32"), np.ones(3000, "float32")]
    >>> encoder.predict(waveforms, verbose=0)["sequence_output"].shape
    (2, 6, 8)
    """
    if backbone not in BUILTINS:
        raise ValueError(
            f"Unknown audio encoder {backbone!r}. Allowed: "
            f"{', '.join(sorted(BUILTINS))}."
        )
    if not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(
            "`sample_rate` must be a positive integer. Received: "
            f"sample_rate={sample_rate}"
        )
    default_dim, default_layers, default_filters = BUILTINS[backbone]
    if waveform_augmentation is True:
        waveform_augmentation = WaveformAugmentation(
            sample_rate, name=f"{name}_waveform_augmentation"
        )
    elif waveform_augmentation is False:
        waveform_augmentation = None
    if waveform_augmentation is not None:
        received = f"waveform_augmentation={waveform_augmentation!r}"
        if isinstance(waveform_augmentation, WaveformAugmentation):
            received += f" at sample_rate={waveform_augmentation.sample_rate}"
        if (
            not isinstance(waveform_augmentation, WaveformAugmentation)
            or waveform_augmentation.sample_rate != sample_rate
        ):
            raise ValueError(
                "`waveform_augmentation` must be `None`, a bool or a "
                "`keras_mm.layers.WaveformAugmentation` at the encoder's "
                f"`sample_rate={sample_rate}`. Received: {received}"
            )
    preprocessor = AudioPreprocessor(
        sample_rate, max_duration, name=f"{name}_preprocessor"
    )
    num_samples = preprocessor.num_samples
    front_end = AudioFeatures(
        sample_rate,
        features,
        num_mel_bins=num_mel_bins,
        num_mfcc=min(13, num_mel_bins),
        normalize=normalize_features,
        name=f"{name}_features",
    )
    if num_samples < front_end.frame_length:
        raise ValueError(
            "`max_duration` must hold at least one 25 ms frame. Received: "
            f"max_duration={max_duration}"
        )
    inputs = {
        "audio": keras.Input((num_samples,), dtype="float32", name="audio"),
        "audio_padding_mask": keras.Input(
            (num_samples,), dtype="bool", name="audio_padding_mask"
        ),
    }
    waveforms, sample_mask = inputs["audio"], inputs["audio_padding_mask"]
    if waveform_augmentation is not None:
        waveforms, sample_mask = waveform_augmentation(
            waveforms, padding_mask=sample_mask
        )
    x, frame_mask = front_end(waveforms, padding_mask=sample_mask)
    if spec_augment:
        frames, bins = x.shape[1], x.shape[2]
        x = SpecAugment(
            max_time_mask=max(int(frames * max_time_mask_fraction), 1),
            max_freq_mask=max(bins // 8, 1),
            name=f"{name}_spec_augment",
        )(x)
    outputs = SpectrogramCNN(
        hidden_dim or default_dim,
        num_layers or default_layers,
        filters or default_filters,
        name=f"{name}_cnn",
    )(x, padding_mask=frame_mask)
    network = keras.Model(inputs, outputs, name=f"{name}_network")
    encoder = Encoder(network, preprocessor=preprocessor, name=name)
    if not trainable:
        encoder.trainable = False
    return encoder
