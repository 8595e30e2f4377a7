"""Argument checks that raise the Keras-style `ValueError` message."""


def check_integers(minimum=1, **values):
    """Raises unless every keyword value is an `int` of at least `minimum`.

    Examples:
    >>> keras_mm.utils.check_integers(hidden_dim=8, num_layers=2)
    >>> keras_mm.utils.check_integers(num_heads=0)
    Traceback (most recent call last):
    ...
    ValueError: `num_heads` must be a positive integer. Received: num_heads=0
    """
    kind = {0: "a non-negative integer", 1: "a positive integer"}.get(
        minimum, f"an integer of at least {minimum}"
    )
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool):
            ok = False
        else:
            ok = value >= minimum
        if not ok:
            raise ValueError(
                f"`{name}` must be {kind}. Received: {name}={value!r}"
            )


def check_rate(**values):
    """Raises unless every keyword value is a rate in `[0, 1)`.

    Examples:
    >>> keras_mm.utils.check_rate(dropout=1.0)
    Traceback (most recent call last):
    ...
    ValueError: `dropout` must be in [0, 1). Received: dropout=1.0
    """
    for name, value in values.items():
        if not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ValueError(
                f"`{name}` must be in [0, 1). Received: {name}={value!r}"
            )


def check_modalities(inputs_shape):
    """Raises unless a fusion layer's input is a non-empty dict keyed by
    modality; returns the modality names in sorted order."""
    if not isinstance(inputs_shape, dict) or not inputs_shape:
        raise ValueError(
            "`inputs` must be a non-empty dict keyed by modality. "
            f"Received: inputs={inputs_shape}"
        )
    return sorted(inputs_shape)
