"""Raw inputs checked against a model's inputs before anything is traced,
so that a bad input fails with a message that says what was received."""

import keras


def num_rows(x):
    """The rows of raw inputs `x` (an array, a list, or a dict or tuple of
    them), counted on the first; `None` when it has no length."""
    while isinstance(x, (dict, tuple)) and x:
        x = next(iter(x.values())) if isinstance(x, dict) else x[0]
    if isinstance(x, (str, dict, tuple)) or not hasattr(x, "__len__"):
        return None
    return len(x)


def split_rows(data, fraction):
    """Splits the last `fraction` of rows off, as Keras' `validation_split`."""

    def rows(x, start, stop):
        if x is None:
            return None
        if isinstance(x, dict):
            return {k: rows(v, start, stop) for k, v in x.items()}
        return x[start:stop]

    total = num_rows(data[0])
    cut = int(total * (1.0 - fraction))
    train = tuple(rows(part, 0, cut) for part in data)
    validation = tuple(rows(part, cut, total) for part in data)
    return train, keras.utils.pack_x_y_sample_weight(*validation)


def check_inputs(x, expected, skip=(), optional=(), path="inputs"):
    """Raises a `ValueError` where array inputs `x` cannot feed the model
    inputs `expected` (a `KerasTensor` or a dict of them): missing or unknown
    keys, wrong rank, wrong fixed sizes, strings for numbers. Keys in `skip`
    (raw inputs of a preprocessor) are not compared; keys in `optional` may
    be left out."""
    if isinstance(expected, dict):
        if not isinstance(x, dict):
            raise ValueError(
                f"{path} must be a dict with keys {sorted(expected)}. "
                f"Received: {type(x).__name__}"
            )
        unknown = sorted(set(x) - set(expected))
        missing = sorted(set(expected) - set(x) - set(optional))
        if unknown or missing:
            raise ValueError(
                f"{path} keys do not match the model's. Expected keys: "
                f"{sorted(expected)}. Received keys: {sorted(x)}"
                + (f"; unknown: {unknown}" if unknown else "")
                + (f"; missing: {missing}" if missing else "")
            )
        for key in expected:
            if key not in skip and key in x:
                check_inputs(x[key], expected[key], path=f"input '{key}'")
        return
    if isinstance(x, (list, tuple)) and x and isinstance(x[0], str):
        kind = "strings"
    elif hasattr(x, "shape") and hasattr(x, "dtype"):
        try:
            kind = keras.backend.standardize_dtype(x.dtype)
        except (TypeError, ValueError):
            kind = str(x.dtype)
    else:
        return
    wanted = expected.shape[1:]
    if kind in ("string", "strings") or (
        kind != "bool" and not kind.startswith(("int", "uint", "float"))
    ):
        raise ValueError(
            f"{path} must hold numbers of shape (batch, "
            f"{', '.join(str(d) for d in wanted)}). Received: {kind}"
        )
    shape = tuple(x.shape)[1:]
    if len(shape) != len(wanted) or any(
        w is not None and w != s for w, s in zip(wanted, shape)
    ):
        raise ValueError(
            f"{path} must have shape (batch, "
            f"{', '.join(str(d) for d in wanted)}) (None: any size). "
            f"Received shape: {tuple(x.shape)}"
        )
