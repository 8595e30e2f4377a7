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
