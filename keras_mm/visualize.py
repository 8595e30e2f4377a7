"""Plots: training curves and attention maps, as matplotlib figures."""

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
    validation curve when there is one.

    Args:
        history: the `keras.callbacks.History` that `fit` returns, or its
            `.history` dict.
        path: str or `None`. Where to save the figure as PNG.

    Returns:
        A `matplotlib.figure.Figure`, one panel per metric.

    Examples:
    >>> history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.7],
    ...            "accuracy": [0.5, 0.8]}
    >>> figure = keras_mm.visualize.training_curves(history)
    >>> [axis.get_title() for axis in figure.axes]
    ['loss', 'accuracy']
    """
    values = getattr(history, "history", history)
    if not isinstance(values, dict) or not values:
        raise ValueError(
            "`history` must be the History that `fit` returns, or a dict of "
            f"metric name to per-epoch values. Received: {history!r}"
        )
    names = [name for name in values if not name.startswith("val_")]
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(
        1, len(names), figsize=(4 * len(names), 3), squeeze=False
    )
    for axis, name in zip(axes[0], names):
        epochs = np.arange(1, len(values[name]) + 1)
        axis.plot(epochs, values[name], marker="o", label="train")
        if f"val_{name}" in values:
            axis.plot(
                epochs, values[f"val_{name}"], marker="o", label="validation"
            )
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
    modalities = sorted(node.arguments.args[0])
    names = sorted(
        f"{query}->{key}"
        for query in modalities
        for key in modalities
        if key != query or len(modalities) == 1
    )
    # The node's outputs are `(fused, scores)` flattened: dict keys sorted.
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
    Image tokens are laid out on their square grid and stretched over the
    image.

    Args:
        model: a model from `keras_mm.build_classifier(...,
            fusion="cross_attention")` with an image input.
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
    words = _words(model, query, one[query][0])
    if words is None:
        words = [f"token {i}" for i in range(weights.shape[0])]
    words = words[: weights.shape[0]]
    image = np.asarray(one[key][0])
    maps = [weights[: len(words)].mean(axis=0)]
    titles = ["all words"]
    for i, word in enumerate(words[:max_words]):
        maps.append(weights[i])
        titles.append(word)
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(
        1, len(maps), figsize=(2.2 * len(maps), 2.5), squeeze=False
    )
    height, width = image.shape[:2]
    for axis, values, title in zip(axes[0], maps, titles):
        axis.imshow(image.astype("uint8") if image.dtype != "uint8" else image)
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
