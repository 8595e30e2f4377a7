"""Argument checks that raise the Keras-style `ValueError` message."""

import numpy as np


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


def check_booleans(**values):
    """Raises unless every keyword value is a `bool` (a string such as
    `"yes"` or `"False"` is refused: it would read as true).

    Examples:
    >>> keras_mm.utils.validation.check_booleans(overwrite="no")
    Traceback (most recent call last):
    ...
    ValueError: `overwrite` must be True or False. Received: overwrite='no'
    """
    for name, value in values.items():
        if not isinstance(value, bool):
            raise ValueError(
                f"`{name}` must be True or False. Received: {name}={value!r}"
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


def nonfinite_rows(values):
    """The positions of the rows of `values` (an array, or a list of
    arrays: one per row) that hold NaN or infinity. Rows that are not
    float arrays (paths, strings, integers) are never counted."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "fc" or values.ndim == 0:
            return []
        flat = values.reshape(len(values), -1)
        return np.flatnonzero(~np.isfinite(flat).all(axis=1)).tolist()
    if not isinstance(values, (list, tuple)):
        return []
    rows = []
    for row, value in enumerate(values):
        if isinstance(value, (np.ndarray, list, tuple)):
            value = np.asarray(value)
            if value.dtype.kind in "fc" and not np.isfinite(value).all():
                rows.append(row)
    return rows


def check_finite(values, name):
    """Raises a `ValueError` naming the rows of `values` (an array, or a
    list of arrays: one per row) that hold NaN or infinity, which a model
    turns into NaN outputs or empty captions without a word.

    Examples:
    >>> keras_mm.utils.check_finite(np.ones((2, 3)), "audio")
    >>> keras_mm.utils.check_finite(np.array([[0.0], [np.nan]]), "audio")
    Traceback (most recent call last):
    ...
    ValueError: `audio` holds NaN or infinite values in 1 row (row 1). ...
    """
    rows = nonfinite_rows(values)
    if rows:
        shown = ", ".join(str(row) for row in rows[:5])
        plural = "s" if len(rows) > 1 else ""
        raise ValueError(
            f"`{name}` holds NaN or infinite values in {len(rows)} "
            f"row{plural} (row{plural} {shown}"
            + (", ..." if len(rows) > 5 else "")
            + "). Replace them (`np.nan_to_num`) or drop those rows."
        )
