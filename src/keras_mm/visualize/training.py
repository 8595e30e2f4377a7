"""Training curves of a `fit` history."""

import numpy as np

from keras_mm.visualize.plotting import load_pyplot


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
    pyplot = load_pyplot()
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
