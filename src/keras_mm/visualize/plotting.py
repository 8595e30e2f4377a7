"""Where the plots get matplotlib from."""


def load_pyplot():
    """`matplotlib.pyplot`, or an `ImportError` that says how to get it."""
    try:
        from matplotlib import pyplot
    except ImportError as error:
        raise ImportError(
            "Plots need matplotlib: `pip install matplotlib` (or "
            "`pip install keras-mm[plots]`)."
        ) from error
    return pyplot
