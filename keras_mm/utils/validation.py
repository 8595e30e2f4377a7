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


def check_modality_name(**values):
    """Raises unless every keyword value is a modality name (str) or None,
    as the fusion layers' `conditioned` and `query` arguments are."""
    for name, value in values.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(
                f"`{name}` must be a modality name or None. "
                f"Received: {name}={value!r}"
            )


def split_modalities(names, chosen, argument):
    """Returns `(chosen, others)` for a fusion layer that treats one
    modality apart: `others` are the other names in sorted order, or
    `[chosen]` when it is the only one. Raises, naming `argument`, when
    `chosen` is not in `names`."""
    names = sorted(names)
    if chosen not in names:
        raise ValueError(
            f"`{argument}` must be one of the modalities {names}. "
            f"Received: {argument}={chosen!r}"
        )
    return chosen, [m for m in names if m != chosen] or [chosen]
