"""Captions drawn under their images."""

import textwrap

import numpy as np

from keras_mm.visualize.plotting import load_pyplot


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
    pyplot = load_pyplot()
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
