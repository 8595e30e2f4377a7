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
