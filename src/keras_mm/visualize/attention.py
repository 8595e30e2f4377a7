"""Attention maps: where fused words look in the image, and where each
generated word of a caption looked."""

import contextlib

import keras
import numpy as np

from keras_mm.base.pipeline_model import PipelineModel
from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
from keras_mm.layers.caption_preprocessor import PAD_TOKEN_ID
from keras_mm.visualize.plotting import load_pyplot


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
    one = one_example(x, index, query, key)
    scores = attention_scores(model, one)
    name = f"{query}->{key}"
    if name not in scores:
        raise ValueError(
            f"The model has no '{name}' attention. It has: {sorted(scores)}"
        )
    weights = np.asarray(scores[name][0]).mean(axis=0)  # (queries, keys)
    side = grid_side(weights.shape[-1], key)
    image = np.asarray(one[key][0])
    if weights.shape[0] == 1:
        # One query for the whole input (`fusion="query"`): a panel per
        # head, each a soft mask of what it looked up.
        heads = np.asarray(scores[name][0])[:, 0]
        maps = [weights[0], *heads[:max_words]]
        titles = ["all heads"] + [f"head {h + 1}" for h in range(len(maps) - 1)]
        return draw_attention(image, maps, titles, side, path)
    words = _words(model, query, one[query][0])
    if words is None:
        words = [f"token {i}" for i in range(weights.shape[0])]
    words = words[: weights.shape[0]]
    maps = [weights[: len(words)].mean(axis=0)]
    titles = ["all words"]
    for i, word in enumerate(words[:max_words]):
        maps.append(weights[i])
        titles.append(word)
    return draw_attention(image, maps, titles, side, path)


def one_example(x, index, query, key):
    """Row `index` of the raw inputs `x`, a dict that must hold `query` and
    `key`, as a dict of batches of one; or a `ValueError`."""
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
    return {name: values[index : index + 1] for name, values in x.items()}


def grid_side(num_tokens, key):
    """The side of the square grid of `num_tokens` image tokens of input
    `key`; or a `ValueError` when they make no square."""
    side = int(round(np.sqrt(num_tokens)))
    if side * side != num_tokens:
        raise ValueError(
            f"'{key}' has {num_tokens} tokens, not a square grid, so they "
            "cannot be laid over the image."
        )
    return side


def overlay(axis, image, values, side):
    """Draws `image` on `axis` under `values`, attention over a `(side,
    side)` grid of image tokens, stretched over it."""
    image = np.asarray(image)
    if image.dtype != "uint8":
        image = np.clip(image, 0, 255).astype("uint8")
    height, width = image.shape[:2]
    axis.imshow(image)
    axis.imshow(
        values.reshape(side, side),
        cmap="magma",
        alpha=0.55,
        extent=(0, width, height, 0),
        interpolation="bilinear",
    )


def draw_attention(image, maps, titles, side, path=None):
    """One panel per map: `image` under a `(side, side)` attention grid."""
    pyplot = load_pyplot()
    figure, axes = pyplot.subplots(
        1, len(maps), figsize=(2.2 * len(maps), 2.5), squeeze=False
    )
    for axis, values, title in zip(axes[0], maps, titles):
        overlay(axis, image, values, side)
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
        captioner: a `keras_mm.models.Captioner` with an image encoder.
        images: array `(batch, height, width, channels)` of pixels; for a
            captioner of images and audio, the dict it generates from,
            `{"images": ..., "audio": ...}`, whose scores are kept over
            the image tokens.
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
    if not callable(getattr(captioner, "generate_token_ids", None)):
        raise ValueError(
            "`captioner` must be a keras_mm.models.Captioner, from "
            "`keras_mm.build_captioner`. Received: "
            f"{type(captioner).__name__}"
        )
    if "images" not in captioner.modalities:
        raise ValueError(
            "Attention maps are drawn over images: `captioner` must have an "
            "image encoder. Received a captioner of "
            f"{' and '.join(captioner.modalities)}."
        )
    token_ids = captioner.generate_token_ids(images, **generate_kwargs)
    # Checked by `generate_token_ids`.
    encoder_inputs = captioner.encoder_inputs(images)
    generated = token_ids[:, 1:]
    length = generated.shape[1]
    # Position `j` reads token `j` ("[START]" first) and predicts word `j`.
    inputs = np.full(
        (len(generated), captioner.sequence_length), PAD_TOKEN_ID, "int32"
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
                **encoder_inputs,
                "token_ids": inputs,
                "padding_mask": np.ones_like(inputs, dtype=bool),
            },
            training=False,
        )
    scores = [keras.ops.convert_to_numpy(records[i][-1]) for i in records]
    scores = np.stack(scores, axis=1)[:, :, :, :length].astype("float32")
    # Image tokens come first.
    image_tokens = captioner.encoders["images"].output["sequence_output"]
    return words, scores[..., : image_tokens.shape[1]]


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
            image `index` is captioned. For a captioner of images and
            audio, the dict `{"images": ..., "audio": ...}` it captions.
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
    if isinstance(images, dict):  # A captioner of images and audio.
        one = one_example(images, index, "images", "images")
        pixels = np.asarray(one["images"])
    else:
        images = np.asarray(images)
        rows = len(images) if images.ndim == 4 else 0
        if not isinstance(index, int) or not 0 <= index < rows:
            raise ValueError(
                f"`index` must be an int in [0, {rows}) for images of "
                f"shape {images.shape}. Received: index={index!r}"
            )
        one = pixels = images[index : index + 1]
    num_layers = getattr(captioner, "num_layers", 0)
    if not isinstance(layer, int) or not -num_layers <= layer < num_layers:
        raise ValueError(
            f"`layer` must be an int in [{-num_layers}, {num_layers}), a "
            f"decoder layer. Received: layer={layer!r}"
        )
    words, scores = caption_attention_scores(captioner, one, **kwargs)
    words = words[0]
    weights = scores[0, layer].mean(axis=0)  # (max_length, tokens)
    side = grid_side(weights.shape[-1], "images")
    maps = [weights[: max(len(words), 1)].mean(axis=0)]
    titles = ["all words"]
    for i, word in enumerate(words[:max_words]):
        maps.append(weights[i])
        titles.append(word)
    figure = draw_attention(pixels[0], maps, titles, side)
    figure.suptitle(" ".join(words) or "(empty caption)", fontsize=9)
    figure.tight_layout()
    if path is not None:
        figure.savefig(path, dpi=100)
    return figure
