"""Raw inputs checked against a model's inputs before anything is traced,
so that a bad input fails with a message that says what was received."""

import keras
import numpy as np

from keras_mm.utils.validation import check_finite
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_rate


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
        for key, value in x.items():
            if isinstance(value, (str, bytes)):
                raise ValueError(
                    f"input '{key}' must be a list or array with one entry "
                    f"per row. Received one {type(value).__name__}: wrap it "
                    "in a list."
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


def check_not_empty(x, method):
    """Raises a plain `ValueError` when raw inputs `x` (arrays, lists, a
    dict of them, or a `tf.data.Dataset`) hold no rows."""
    if hasattr(x, "cardinality"):
        empty = int(x.cardinality()) == 0
    else:
        empty = num_rows(x) == 0
    if empty:
        raise ValueError(
            f"`{method}` received no rows: the inputs are empty. Pass at "
            "least one example."
        )


def check_finite_inputs(x):
    """Raises a `ValueError` naming the input and rows that hold NaN or
    infinity, in an array, a list of arrays, or a dict of them."""
    if isinstance(x, dict):
        for key, value in x.items():
            check_finite(value, key)
    else:
        check_finite(x, "inputs")


def _is_sparse(loss):
    return (
        isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
        or loss == "sparse_categorical_crossentropy"
    )


def check_labels(y, loss, output, method):
    """Raises a `ValueError` that says what was received where labels `y`
    cannot feed `loss`: none at all, or, for a sparse categorical loss,
    labels that are not one class index in `[0, classes)` per row (which
    give NaN losses under JAX, or an error deep in a kernel). Returns `y`,
    class indices as one column `(batch,)`: a TensorFlow step traced for
    `(batch, 1)` and then `(batch,)` would generalise to an unknown rank
    that the loss cannot take."""
    if y is None:
        if loss is not None:
            raise ValueError(
                f"`{method}` needs labels: pass `y`, one per row of the "
                "inputs, or a dataset of `(inputs, labels)` pairs. "
                "Received: y=None"
            )
        return y
    if isinstance(y, dict) and not isinstance(output, dict):
        raise ValueError(
            "Labels must be an array (or list), one per row, for a model "
            f"with one output. Received: a dict with keys {sorted(y)}"
        )
    if not _is_sparse(loss) or isinstance(y, dict):
        return y
    labels = np.asarray(y)
    num_classes = output.shape[-1]
    if labels.dtype.kind not in "iuf":
        raise ValueError(
            f"Class labels must be integers in [0, {num_classes}). Received "
            f"labels of dtype {labels.dtype}"
            + (
                " (class names: build the model with `class_names=`)."
                if labels.dtype.kind in "US"
                else "."
            )
        )
    if labels.ndim > 2 or (labels.ndim == 2 and labels.shape[-1] != 1):
        raise ValueError(
            "Class labels must hold one class index per row, shape "
            f"(batch,) or (batch, 1). Received shape {labels.shape}. For "
            "one-hot labels, compile with "
            "`loss='categorical_crossentropy'`."
        )
    with np.errstate(invalid="ignore"):
        bad = np.flatnonzero(
            ~np.isfinite(labels)
            | (labels < 0)
            | (labels >= num_classes)
            | (labels % 1 != 0)
        )
    if bad.size:
        rows = ", ".join(f"row {i}: {labels.reshape(-1)[i]}" for i in bad[:5])
        raise ValueError(
            f"Class labels must be integers in [0, {num_classes}). "
            f"{bad.size} labels are not ({rows}"
            + (", ..." if bad.size > 5 else "")
            + ")."
        )
    return labels.reshape(-1) if labels.ndim == 2 else y


def check_arguments(
    method, x, batch_size=None, sample_weight=None, epochs=None, split=None
):
    """Raises a `ValueError` naming the argument of `fit`, `evaluate` or
    `predict` that cannot work, before anything is traced: no inputs, a
    batch size or epoch count that is not a count, a validation split
    outside `[0, 1)`, sample weights that are negative or not finite."""
    if x is None:
        raise ValueError(f"`{method}` needs inputs `x`. Received: x=None")
    if batch_size is not None:
        check_integers(batch_size=batch_size)
    if epochs is not None:
        check_integers(minimum=0, epochs=epochs)
    if split:
        check_rate(validation_split=split)
    if sample_weight is not None and not hasattr(sample_weight, "element_spec"):
        weights = np.asarray(sample_weight)
        if weights.dtype.kind not in "biuf":
            raise ValueError(
                "`sample_weight` must hold numbers, one per row. Received: "
                f"dtype {weights.dtype}"
            )
        check_finite(weights.astype("float64"), "sample_weight")
        if (weights < 0).any():
            raise ValueError(
                "`sample_weight` must not be negative. Received: "
                f"{int((weights < 0).sum())} negative weights"
            )
