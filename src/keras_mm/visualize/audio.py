"""Waveforms, their spectrograms, what a speech recognizer hears, and
how a fused model's image and sound attend to each other."""

import keras
import numpy as np

from keras_mm.data.audio_io import read_waveforms
from keras_mm.layers.audio_features import AudioFeatures
from keras_mm.visualize.attention import attention_scores
from keras_mm.visualize.attention import grid_side
from keras_mm.visualize.attention import one_example
from keras_mm.visualize.attention import overlay
from keras_mm.visualize.plotting import load_pyplot


def _log_mel(waveform, sample_rate, num_mel_bins):
    layer = AudioFeatures(sample_rate, "log_mel", num_mel_bins=num_mel_bins)
    frames = layer(np.asarray(waveform, "float32")[None])
    return keras.ops.convert_to_numpy(frames)[0]


def _check_waveform(audio, sample_rate):
    audio = np.asarray(audio)
    if audio.ndim != 1 or audio.dtype.kind != "f":
        raise ValueError(
            "`audio` must be one clip, a 1-D float array (mono). Received: "
            f"shape {audio.shape}, dtype {audio.dtype}"
        )
    if len(audio) < round(0.025 * sample_rate):
        raise ValueError(
            "`audio` must last at least one 25 ms frame. Received "
            f"{len(audio)} samples at {sample_rate} Hz."
        )
    return audio.astype("float32")


def waveform(audio, sample_rate=16000, num_mel_bins=80, title=None, path=None):
    """Draws a clip's waveform above its log-mel spectrogram.

    The spectrogram is the one the audio encoders and speech recognizers
    compute (`keras_mm.layers.AudioFeatures`: 25 ms frames every 10 ms).

    Args:
        audio: one clip, a 1-D float array, values in `[-1, 1]`.
        sample_rate: int. Defaults to `16000`.
        num_mel_bins: int. Defaults to `80`.
        title: str or `None`, e.g. the transcript.
        path: str or `None`. Where to save the figure as PNG.

    Returns:
        A `matplotlib.figure.Figure` with two panels.

    Examples:
    >>> clip = np.sin(np.arange(8000) / 5).astype("float32") * 0.5
    >>> figure = keras_mm.visualize.waveform(clip, sample_rate=8000,
    ...                                      num_mel_bins=20)
    >>> [axis.get_ylabel() for axis in figure.axes]
    ['amplitude', 'mel band']
    """
    clip = _check_waveform(audio, sample_rate)
    features = _log_mel(clip, sample_rate, num_mel_bins)
    pyplot = load_pyplot()
    figure, (top, bottom) = pyplot.subplots(2, 1, figsize=(8, 4.5), sharex=True)
    seconds = len(clip) / sample_rate
    top.plot(np.arange(len(clip)) / sample_rate, clip, linewidth=0.5)
    top.set_ylabel("amplitude")
    top.set_title(title or f"{seconds:.2f} s at {sample_rate} Hz")
    bottom.imshow(
        features.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, 0.010 * len(features), 0, num_mel_bins),
    )
    bottom.set_ylabel("mel band")
    bottom.set_xlabel("seconds")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return figure


def ctc_alignment(recognizer, audio, index=0, max_classes=None, path=None):
    """Draws what a speech recognizer hears at each step of a clip.

    Top: the clip's log-mel spectrogram. Bottom: the CTC probabilities of
    every step (one every 40 ms) over the blank (`"_"`) and the characters
    (a space is drawn as `"␣"`), with the greedy path marked; the title is
    the greedy transcription.

    Args:
        recognizer: a `keras_mm.models.SpeechRecognizer`.
        audio: clips, as `transcribe` takes them; only clip `index` is
            drawn.
        index: int. Defaults to `0`.
        max_classes: int or `None`. Show only the classes that reach the
            highest probabilities, at most this many rows. Defaults to all.
        path: str or `None`. Where to save the figure as PNG.

    Returns:
        A `matplotlib.figure.Figure` with two panels.

    Examples:
    >>> asr = keras_mm.build_speech_recognizer(
    ...     list("ab "), sample_rate=8000, max_duration=0.5,
    ...     num_mel_bins=16, hidden_dim=16, num_layers=1, filters=4)
    >>> figure = keras_mm.visualize.ctc_alignment(
    ...     asr, [np.zeros(4000, "float32")])
    >>> figure.axes[1].get_ylabel()
    'class'
    """
    if not callable(getattr(recognizer, "decode", None)) or not hasattr(
        recognizer, "features"
    ):
        raise ValueError(
            "`recognizer` must be a keras_mm.models.SpeechRecognizer, from "
            "`keras_mm.build_speech_recognizer`. Received: "
            f"{type(recognizer).__name__}"
        )
    clips = read_waveforms(audio, recognizer.sample_rate)
    if not isinstance(index, int) or not 0 <= index < len(clips):
        raise ValueError(
            f"`index` must be an int in [0, {len(clips)}). Received: "
            f"index={index!r}"
        )
    clip = clips[index][: recognizer.preprocessor.num_samples]
    logits = recognizer.predict([clip], verbose=0)
    (text,) = recognizer.decode(logits)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits[0]))
    steps = -(-len(clip) * 25 // recognizer.sample_rate)
    steps = min(max(1, steps), len(probabilities))
    probabilities = probabilities[:steps]
    labels = ["_"] + [c if c != " " else "␣" for c in recognizer.vocabulary]
    rows = np.arange(len(labels))
    if max_classes is not None and max_classes < len(labels):
        rows = np.sort(np.argsort(-probabilities.max(axis=0))[:max_classes])
    pyplot = load_pyplot()
    figure, (top, bottom) = pyplot.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    # The recognizer's own front end: what the model hears.
    features = keras.ops.convert_to_numpy(recognizer.features(clip[None]))[0]
    top.imshow(
        features.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, 0.010 * len(features), 0, features.shape[-1]),
    )
    top.set_ylabel("mel band")
    top.set_title(f"transcription: {text!r}")
    bottom.imshow(
        probabilities[:, rows].T,
        origin="lower",
        aspect="auto",
        cmap="Blues",
        vmin=0,
        vmax=1,
        extent=(0, 0.040 * steps, -0.5, len(rows) - 0.5),
    )
    best = probabilities.argmax(axis=1)
    position = {row: i for i, row in enumerate(rows)}
    times = 0.040 * (np.arange(steps) + 0.5)
    kept = [i for i in range(steps) if best[i] in position]
    bottom.scatter(
        times[kept], [position[best[i]] for i in kept], s=8, color="crimson"
    )
    bottom.set_yticks(range(len(rows)))
    bottom.set_yticklabels([labels[row] for row in rows])
    bottom.set_ylabel("class")
    bottom.set_xlabel("seconds")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return figure


def image_audio_attention(
    model, x, index=0, images="images", audio="audio", path=None
):
    """Draws how a fused model's image and sound attend to each other.

    Left: the image, under where the sound looks in it (the `audio ->
    images` attention, averaged over heads and sound tokens). Right: the
    clip's log-mel spectrogram, and over it when the image listens (the
    `images -> audio` attention, averaged over heads and image tokens, one
    value per sound token). The title gives the predicted class and its
    probability, named by the model's `class_names` when it has them.

    Args:
        model: a model from `keras_mm.build_classifier(...,
            fusion="cross_attention")` with an image and an audio input.
        x: dict of raw inputs (as for `predict`); only row `index` is used.
        index: int. The example to draw. Defaults to `0`.
        images: str. The image input's key. Defaults to `"images"`.
        audio: str. The audio input's key. Defaults to `"audio"`.
        path: str or `None`. Where to save the figure as PNG.

    Returns:
        A `matplotlib.figure.Figure` with two panels; the attention over
        time has its own axis, the figure's third.

    Examples:
    >>> model = keras_mm.build_classifier(
    ...     {"images": keras_mm.encoders.image("cnn_small",
    ...                                        image_shape=(32, 32, 3)),
    ...      "audio": keras_mm.encoders.audio(sample_rate=8000,
    ...                                       max_duration=0.5)},
    ...     num_classes=2, fusion="cross_attention", hidden_dim=8)
    >>> x = {"images": np.zeros((1, 32, 32, 3), "uint8"),
    ...      "audio": [np.zeros(4000, "float32")]}
    >>> figure = keras_mm.visualize.image_audio_attention(model, x)
    >>> [axis.get_xlabel() for axis in figure.axes[:2]]
    ['where the sound looks', 'seconds']
    """
    one = one_example(x, index, images, audio)
    scores = attention_scores(model, one)
    looks, listens = f"{audio}->{images}", f"{images}->{audio}"
    if looks not in scores or listens not in scores:
        raise ValueError(
            f"The model has no attention between '{images}' and '{audio}'. "
            f"It has: {sorted(scores)}"
        )
    where = np.asarray(scores[looks][0]).mean(axis=(0, 1))  # (image tokens,)
    when = np.asarray(scores[listens][0]).mean(axis=(0, 1))  # (sound tokens,)
    side = grid_side(where.shape[-1], images)
    sample_rate, num_samples = _audio_input(model, audio)
    clip = _check_waveform(np.asarray(one[audio][0]), sample_rate)
    clip = clip[:num_samples]
    probabilities = np.asarray(model.predict(one, verbose=0))[0]
    predicted = int(probabilities.argmax())
    names = getattr(model, "class_names", None)
    label = names[predicted] if names else f"class {predicted}"

    pyplot = load_pyplot()
    figure, (left, right) = pyplot.subplots(
        1, 2, figsize=(10, 3.4), gridspec_kw={"width_ratios": [1, 2.2]}
    )
    overlay(left, one[images][0], where, side)
    left.set_xticks([])
    left.set_yticks([])
    left.set_xlabel("where the sound looks")
    features = _log_mel(clip, sample_rate, 64)
    seconds = 0.010 * len(features)
    right.imshow(
        features.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, seconds, 0, 64),
    )
    right.set_ylabel("mel band")
    right.set_xlabel("seconds")
    # The sound tokens span the encoder's whole input, `max_duration`.
    times = (np.arange(len(when)) + 0.5) * num_samples / len(when)
    times /= sample_rate
    twin = right.twinx()
    twin.plot(times, when, color="cyan", linewidth=2)
    twin.set_ylim(0, max(float(when.max()) * 1.1, 1e-6))
    twin.set_ylabel("attention of the image", color="cyan")
    figure.suptitle(f"predicted: {label} ({probabilities[predicted]:.2f})")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return figure


def _audio_input(model, key):
    """The sample rate and the length in samples of audio input `key`."""
    preprocessors = getattr(model.preprocessor, "preprocessors", {})
    preprocessor = preprocessors.get(key)
    if not hasattr(preprocessor, "num_samples"):
        raise ValueError(
            f"The model's '{key}' input is not audio: it has no audio "
            f"preprocessor. Received preprocessors: {sorted(preprocessors)}"
        )
    return preprocessor.sample_rate, preprocessor.num_samples
