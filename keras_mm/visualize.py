"""Plots: training curves and attention maps, as matplotlib figures."""

import contextlib
import textwrap

import keras
import numpy as np


def _pyplot():
    try:
        from matplotlib import pyplot
    except ImportError as error:
        raise ImportError(
            "Plots need matplotlib: `pip install matplotlib` (or "
            "`pip install keras-mm[plots]`)."
        ) from error
    return pyplot


def training_curves(history, path=None):
    """Plots each metric of a `fit` history against epochs, with its
    validation curve when there is one. Missing (NaN) values are skipped.

    Args:
        history: the `keras.callbacks.History` that `fit` returns, or its
            `.history` dict.
        path: str or `None`. Where to save the figure as PNG.

    Returns:
        A `matplotlib.figure.Figure`, one panel per metric.

    Examples:
    >>> history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
    ...            "accuracy": [0.5, 0.8], "val_bleu4": [float("nan"), 20.0]}
    >>> figure = keras_mm.visualize.training_curves(history)
    >>> [axis.get_title() for axis in figure.axes]
    ['loss', 'accuracy', 'bleu4']
    """
    values = getattr(history, "history", history)
    if not isinstance(values, dict) or not values:
        raise ValueError(
            "`history` must be the History that `fit` returns, or a dict of "
            f"metric name to per-epoch values. Received: {history!r}"
        )
    # One panel per metric; a metric logged only on validation data (such
    # as `CaptionMetrics`' `val_bleu4`) gets its own panel too. NaN values
    # (epochs a metric was not computed) are left as gaps.
    names = []
    for name in values:
        base = name[4:] if name.startswith("val_") else name
        if base not in names:
            names.append(base)
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(
        1, len(names), figsize=(4 * len(names), 3), squeeze=False
    )
    for axis, name in zip(axes[0], names):
        for key, label, color in (
            (name, "train", "C0"),
            (f"val_{name}", "validation", "C1"),
        ):
            if key in values:
                series = np.asarray(values[key], "float64")
                epochs = np.arange(1, len(series) + 1)
                kept = np.isfinite(series)
                axis.plot(
                    epochs[kept],
                    series[kept],
                    marker="o",
                    label=label,
                    color=color,
                )
        axis.xaxis.get_major_locator().set_params(integer=True)
        axis.set_title(name)
        axis.set_xlabel("epoch")
        axis.legend()
        axis.grid(alpha=0.3)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return figure


def _fusion_with_scores(model):
    for layer in model._flatten_layers(include_self=False):
        if hasattr(layer, "call") and "return_attention_scores" in (
            getattr(layer, "call_signature_parameters", ())
        ):
            if layer.__class__.__module__.startswith("keras_mm.fusion"):
                return layer
    raise ValueError(
        "Attention maps need a model whose fusion layer returns attention "
        "scores, such as `build_classifier(..., fusion='cross_attention')`. "
        f"Received layers: {[layer.name for layer in model.layers]}"
    )


def attention_scores(model, x, batch_size=None):
    """Returns the cross-attention weights of a fused model on raw inputs.

    Args:
        model: a model from `keras_mm.build_classifier(...,
            fusion="cross_attention")`.
        x: its raw inputs, as for `model.predict`.
        batch_size: int or `None`.

    Returns:
        A dict keyed `"query->key"` (e.g. `"text->images"`) of NumPy
        arrays `(batch, num_heads, query_tokens, key_tokens)`, from the last
        fusion block, averaged over nothing.
    """
    from keras_mm.models.pipeline_model import PipelineModel

    fusion = _fusion_with_scores(model)
    node = fusion._inbound_nodes[0]
    if not node.arguments.kwargs.get("return_attention_scores"):
        raise ValueError(
            f"The fusion layer '{fusion.name}' was called without "
            "`return_attention_scores=True`, so the model holds no scores. "
            "Models from `keras_mm.build_classifier` hold them."
        )
    # The layer names its scores ("text->images", ...); the node's outputs
    # are `(fused, scores)` flattened, the dict's keys sorted.
    _, specs = fusion.compute_output_spec(
        node.arguments.args[0], return_attention_scores=True
    )
    names = sorted(specs)
    scores = dict(zip(names, node.outputs[1:]))
    scorer = PipelineModel(model.input, scores, preprocessor=model.preprocessor)
    return scorer.predict(x, batch_size=batch_size, verbose=0)


def _words(model, key, text):
    """The tokens of one text as the model's tokenizer sees them."""
    tokenizer = getattr(model.preprocessor, "preprocessors", {}).get(key)
    vocabulary = getattr(tokenizer, "vocabulary", None)
    if tokenizer is None or vocabulary is None:
        return None
    outputs = tokenizer([text])
    ids = outputs["token_ids"][0][outputs["padding_mask"][0]]
    return [vocabulary[i] for i in ids]


def attention_map(
    model, x, index=0, query="text", key="images", max_words=6, path=None
):
    """Draws where each word of an example attends in its image.

    The first panel shows the image under the attention of all its words
    (averaged over heads and words); each next panel, one word's attention.
    With `fusion="query"`, whose one query is the whole text, each next
    panel shows one head's mask instead. Image tokens are laid out on their
    square grid and stretched over the image.

    Args:
        model: a model from `keras_mm.build_classifier(...,
            fusion="cross_attention")` or `fusion="query"`, with an image
            input.
        x: dict of raw inputs (as for `predict`); only row `index` is used.
        index: int. The example to draw. Defaults to `0`.
        query: str. The attending input. Defaults to `"text"`.
        key: str. The image input attended to. Defaults to `"images"`.
        max_words: int. Panels for at most this many words. Defaults to `6`.
        path: str or `None`. Where to save the figure as PNG.

    Returns:
        A `matplotlib.figure.Figure`.

    Examples:
    >>> texts = ["a red circle", "a blue square"]
    >>> vocab = keras_mm.encoders.text_vocabulary(texts)
    >>> model = keras_mm.build_classifier(
    ...     {"images": keras_mm.encoders.image("cnn_small",
    ...                                        image_shape=(32, 32, 3)),
    ...      "text": keras_mm.encoders.text("bigru_small", vocabulary=vocab,
    ...                                     sequence_length=4)},
    ...     num_classes=2, fusion="cross_attention", hidden_dim=8)
    >>> x = {"images": np.zeros((2, 32, 32, 3), "uint8"), "text": texts}
    >>> figure = keras_mm.visualize.attention_map(model, x, index=1)
    >>> [axis.get_title() for axis in figure.axes]
    ['all words', 'a', 'blue', 'square']
    """
    if not isinstance(x, dict) or query not in x or key not in x:
        raise ValueError(
            f"`x` must be a dict of raw inputs holding '{query}' and "
            f"'{key}'. Received: "
            + (f"keys {sorted(x)}" if isinstance(x, dict) else type(x).__name__)
        )
    rows = len(x[key])
    if not isinstance(index, int) or not 0 <= index < rows:
        raise ValueError(
            f"`index` must be an int in [0, {rows}). Received: index={index!r}"
        )
    one = {name: values[index : index + 1] for name, values in x.items()}
    scores = attention_scores(model, one)
    name = f"{query}->{key}"
    if name not in scores:
        raise ValueError(
            f"The model has no '{name}' attention. It has: {sorted(scores)}"
        )
    weights = np.asarray(scores[name][0]).mean(axis=0)  # (queries, keys)
    side = int(round(np.sqrt(weights.shape[-1])))
    if side * side != weights.shape[-1]:
        raise ValueError(
            f"'{key}' has {weights.shape[-1]} tokens, not a square grid, so "
            "they cannot be laid over the image."
        )
    image = np.asarray(one[key][0])
    if weights.shape[0] == 1:
        # One query for the whole input (`fusion="query"`): a panel per
        # head, each a soft mask of what it looked up.
        heads = np.asarray(scores[name][0])[:, 0]
        maps = [weights[0], *heads[:max_words]]
        titles = ["all heads"] + [f"head {h + 1}" for h in range(len(maps) - 1)]
        return _draw_attention(image, maps, titles, side, path)
    words = _words(model, query, one[query][0])
    if words is None:
        words = [f"token {i}" for i in range(weights.shape[0])]
    words = words[: weights.shape[0]]
    maps = [weights[: len(words)].mean(axis=0)]
    titles = ["all words"]
    for i, word in enumerate(words[:max_words]):
        maps.append(weights[i])
        titles.append(word)
    return _draw_attention(image, maps, titles, side, path)


def _draw_attention(image, maps, titles, side, path=None):
    """One panel per map: `image` under a `(side, side)` attention grid."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(
        1, len(maps), figsize=(2.2 * len(maps), 2.5), squeeze=False
    )
    height, width = image.shape[:2]
    if image.dtype != "uint8":
        image = np.clip(image, 0, 255).astype("uint8")
    for axis, values, title in zip(axes[0], maps, titles):
        axis.imshow(image)
        axis.imshow(
            values.reshape(side, side),
            cmap="magma",
            alpha=0.55,
            extent=(0, width, height, 0),
            interpolation="bilinear",
        )
        axis.set_title(title)
        axis.axis("off")
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return figure


@contextlib.contextmanager
def _recorded_attention(attention_layers):
    """While open, each of `attention_layers` (Keras `MultiHeadAttention`)
    appends the attention weights it computes to its list in the yielded
    dict, keyed by position in `attention_layers`."""
    records = {i: [] for i in range(len(attention_layers))}
    for i, layer in enumerate(attention_layers):
        compute = layer._compute_attention

        def recording(*args, compute=compute, record=records[i], **kwargs):
            kwargs["return_attention_scores"] = True
            outputs, scores = compute(*args, **kwargs)
            record.append(scores)
            return outputs, scores

        # An instance attribute shadows the method until it is deleted.
        object.__setattr__(layer, "_compute_attention", recording)
    try:
        yield records
    finally:
        for layer in attention_layers:
            object.__delattr__(layer, "_compute_attention")


def caption_attention_scores(captioner, images, **generate_kwargs):
    """Captions images and returns where each generated word looked.

    Captions are generated with `captioner.generate`'s samplers, then read
    back through the decoder (teacher forcing), recording the
    cross-attention weights of every decoder layer over the image tokens.
    Row `j` of the weights belongs to the `j`-th generated word: the
    decoder computed them in the step that produced it.

    Args:
        captioner: a `keras_mm.models.Captioner`.
        images: array `(batch, height, width, channels)` of pixels.
        **generate_kwargs: passed to `Captioner.generate` (`sampler`,
            `max_length`, `num_beams`, ...).

    Returns:
        A tuple `(words, scores)`: `words`, one list of str per image, the
        generated tokens up to `"[END]"` (excluded; other special tokens,
        which `generate` drops, kept); and
        `scores`, a float NumPy array `(batch, num_layers, num_heads,
        max_length, image_tokens)`.

    Examples:
    >>> captions = ["a red circle", "a blue square"]
    >>> model = keras_mm.build_captioner(
    ...     keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
    ...     keras_mm.encoders.text_vocabulary(captions), sequence_length=6,
    ...     num_layers=1, num_heads=2, hidden_dim=16)
    >>> images = np.zeros((2, 32, 32, 3), "uint8")
    >>> words, scores = keras_mm.visualize.caption_attention_scores(
    ...     model, images, max_length=4)
    >>> len(words), scores.shape
    (2, (2, 1, 2, 4, 4))
    """
    from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
    from keras_mm.layers.caption_preprocessor import PAD_TOKEN_ID
    from keras_mm.models.captioner import Captioner

    if not isinstance(captioner, Captioner):
        raise ValueError(
            "`captioner` must be a keras_mm.models.Captioner, from "
            "`keras_mm.build_captioner`. Received: "
            f"{type(captioner).__name__}"
        )
    if captioner.modality != "images":
        raise ValueError(
            "Attention maps are drawn over images: `captioner` must have an "
            f"image encoder. Received a captioner of {captioner.modality}."
        )
    token_ids = captioner._generate_ids(images, **generate_kwargs)
    images = captioner._check_images(images)
    generated = token_ids[:, 1:]
    length = generated.shape[1]
    # Position `j` reads token `j` ("[START]" first) and predicts word `j`.
    inputs = np.full(
        (len(images), captioner.sequence_length), PAD_TOKEN_ID, "int32"
    )
    inputs[:, :length] = token_ids[:, :length]
    vocabulary = captioner.vocabulary
    words = []
    for row in generated.tolist():
        end = row.index(END_TOKEN_ID) if END_TOKEN_ID in row else len(row)
        words.append([vocabulary[i] for i in row[:end]])
    layers = [
        layer._cross_attention_layer for layer in captioner.decoder_layers
    ]
    with _recorded_attention(layers) as records:
        captioner(
            {
                "images": keras.ops.convert_to_tensor(images),
                "token_ids": keras.ops.convert_to_tensor(inputs),
                "padding_mask": keras.ops.convert_to_tensor(
                    np.ones_like(inputs, dtype=bool)
                ),
            },
            training=False,
        )
    scores = [keras.ops.convert_to_numpy(records[i][-1]) for i in records]
    scores = np.stack(scores, axis=1)[:, :, :, :length].astype("float32")
    return words, scores


def caption_attention(
    captioner, images, index=0, layer=-1, max_words=8, path=None, **kwargs
):
    """Draws where each generated word of a caption looked in its image.

    The image's caption is generated; the first panel shows the image
    under the attention of all its words, each next panel the attention of
    the step that produced one word (averaged over heads, from decoder
    layer `layer`). Image tokens are laid out on their square grid and
    stretched over the image.

    Args:
        captioner: a `keras_mm.models.Captioner`.
        images: array `(batch, height, width, channels)` of pixels; only
            image `index` is captioned.
        index: int. The image to draw. Defaults to `0`.
        layer: int. The decoder layer whose cross-attention is drawn.
            Defaults to `-1`, the last.
        max_words: int. Panels for at most this many words. Defaults to `8`.
        path: str or `None`. Where to save the figure as PNG.
        **kwargs: passed to `Captioner.generate` (`sampler`, ...).

    Returns:
        A `matplotlib.figure.Figure`, whose title is the caption.

    Examples:
    >>> captions = ["a red circle", "a blue square"]
    >>> model = keras_mm.build_captioner(
    ...     keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
    ...     keras_mm.encoders.text_vocabulary(captions), sequence_length=6,
    ...     num_layers=1, num_heads=2, hidden_dim=16)
    >>> images = np.zeros((2, 32, 32, 3), "uint8")
    >>> figure = keras_mm.visualize.caption_attention(model, images)
    >>> figure.axes[0].get_title()
    'all words'
    """
    images = np.asarray(images)
    rows = len(images) if images.ndim == 4 else 0
    if not isinstance(index, int) or not 0 <= index < rows:
        raise ValueError(
            f"`index` must be an int in [0, {rows}) for images of shape "
            f"{images.shape}. Received: index={index!r}"
        )
    num_layers = getattr(captioner, "num_layers", 0)
    if not isinstance(layer, int) or not -num_layers <= layer < num_layers:
        raise ValueError(
            f"`layer` must be an int in [{-num_layers}, {num_layers}), a "
            f"decoder layer. Received: layer={layer!r}"
        )
    one = images[index : index + 1]
    words, scores = caption_attention_scores(captioner, one, **kwargs)
    words = words[0]
    weights = scores[0, layer].mean(axis=0)  # (max_length, tokens)
    side = int(round(np.sqrt(weights.shape[-1])))
    if side * side != weights.shape[-1]:
        raise ValueError(
            f"The image encoder gives {weights.shape[-1]} tokens, not a "
            "square grid, so they cannot be laid over the image."
        )
    maps = [weights[: max(len(words), 1)].mean(axis=0)]
    titles = ["all words"]
    for i, word in enumerate(words[:max_words]):
        maps.append(weights[i])
        titles.append(word)
    figure = _draw_attention(one[0], maps, titles, side)
    figure.suptitle(" ".join(words) or "(empty caption)", fontsize=9)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure


def captioned_images(images, captions, references=None, columns=4, path=None):
    """Draws images with their generated captions (and a reference
    caption under each, when given).

    Args:
        images: array `(n, height, width, channels)` of pixels in
            `[0, 255]`.
        captions: list of `n` str, e.g. from `Captioner.generate`.
        references: `None`, or a list of `n` str or of `n` lists of str
            (the first of each list is drawn).
        columns: int. Images per row. Defaults to `4`.
        path: str or `None`. Where to save the figure as PNG.

    Returns:
        A `matplotlib.figure.Figure`, one panel per image.

    Examples:
    >>> images = np.zeros((2, 16, 16, 3), "uint8")
    >>> figure = keras_mm.visualize.captioned_images(
    ...     images, ["a red circle", "a square"], [["a circle"], ["a square"]])
    >>> len(figure.axes)
    2
    """
    images = np.asarray(images)
    if images.ndim != 4 or not len(images):
        raise ValueError(
            "`images` must be a non-empty array (n, height, width, "
            f"channels). Received: shape {images.shape}"
        )
    if len(captions) != len(images):
        raise ValueError(
            "There must be one caption per image. Received: "
            f"{len(images)} images and {len(captions)} captions."
        )
    if references is not None and len(references) != len(images):
        raise ValueError(
            "There must be one reference per image. Received: "
            f"{len(images)} images and {len(references)} references."
        )
    columns = max(1, min(int(columns), len(images)))
    rows = -(-len(images) // columns)
    pyplot = _pyplot()
    # Text goes under each image, in a band as tall as the image.
    figure, axes = pyplot.subplots(
        rows, columns, figsize=(3.2 * columns, 4.6 * rows), squeeze=False
    )
    for axis in axes.flat[len(images) :]:
        axis.axis("off")
    for i, axis in enumerate(axes.flat[: len(images)]):
        image = images[i]
        if image.dtype != "uint8":
            image = np.clip(image, 0, 255).astype("uint8")
        axis.imshow(image.squeeze(-1) if image.shape[-1] == 1 else image)
        axis.set_xticks([])
        axis.set_yticks([])
        text = textwrap.fill(captions[i] or "(empty caption)", 38)
        if references is not None:
            reference = references[i]
            if isinstance(reference, (list, tuple)):
                reference = reference[0] if reference else ""
            text += "\n\n" + textwrap.fill(f"reference: {reference}", 38)
        axis.text(
            0,
            -0.04,
            text,
            transform=axis.transAxes,
            fontsize=8,
            va="top",
            ha="left",
        )
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return figure


def _log_mel(waveform, sample_rate, num_mel_bins):
    from keras_mm.layers.audio_features import AudioFeatures

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
    pyplot = _pyplot()
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
    from keras_mm.models.speech_recognizer import SpeechRecognizer

    if not isinstance(recognizer, SpeechRecognizer):
        raise ValueError(
            "`recognizer` must be a keras_mm.models.SpeechRecognizer, from "
            "`keras_mm.build_speech_recognizer`. Received: "
            f"{type(recognizer).__name__}"
        )
    clips = recognizer._read_audio(audio)
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
    pyplot = _pyplot()
    figure, (top, bottom) = pyplot.subplots(2, 1, figsize=(9, 5.5), sharex=True)
    # The recognizer's own front end: what the model hears.
    features = keras.ops.convert_to_numpy(recognizer.features(clip[None]))[0]
    top.imshow(
        features.T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        extent=(0, 0.010 * len(features), 0, recognizer.num_mel_bins),
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
