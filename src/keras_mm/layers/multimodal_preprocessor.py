import math

import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.preprocessing_layer import PreprocessingLayer
from keras_mm.utils.tf_utils import tf


def is_missing(value):
    """Whether one row's raw input counts as missing: `None`, a float NaN,
    a string that is empty or only whitespace, or an empty array."""
    if value is None:
        return True
    if isinstance(value, np.ndarray):
        return value.size == 0
    if isinstance(value, float):
        return math.isnan(value)
    if isinstance(value, (str, bytes)):
        return not value.strip()
    return False


def _is_none(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def fill(values, rows, spec):
    """Returns `values` with `rows` replaced by a placeholder of `spec`."""
    absent = set(rows)
    if spec["dtype"] == "string":
        return ["" if i in absent else v for i, v in enumerate(values)]
    if len(spec["shape"]) <= 1:
        # Waveforms may differ in length: one zero sample stands in.
        filler = np.zeros([1] * len(spec["shape"]), spec["dtype"])
        return [filler if i in absent else v for i, v in enumerate(values)]
    given = [np.asarray(v) for i, v in enumerate(values) if i not in absent]
    filler = (
        np.zeros_like(given[0])
        if given
        else np.zeros(spec["shape"], spec["dtype"])
    )
    return np.stack(
        [filler if i in absent else np.asarray(v) for i, v in enumerate(values)]
    )


@keras_mm_export
class MultimodalPreprocessor(PreprocessingLayer):
    """Runs one preprocessor per input key, and passes other keys through.

    With `missing`, it also makes the `"present"` flags of the keys that
    may be missing: a key left out of the inputs gets a placeholder and
    `False` flags; a text row that is empty (or whitespace) is absent; a
    `"present"` dict in the inputs, `{key: bool array (batch,)}`, is used
    as given. `prepare` (NumPy, before `tf.data`) replaces rows that are
    `None`, NaN or empty strings in lists by placeholders and flags them.

    Args:
        preprocessors: dict. Input key (`"text"`, `"audio"`, ...) to the
            preprocessing layer of that key's encoder.
        missing: dict or `None`. Keys that may be missing, each mapped to
            the placeholder of one raw row, `{"shape": [...], "dtype":
            "..."}` (e.g. `{"shape": [64, 64, 3], "dtype": "uint8"}`, or
            `{"shape": [], "dtype": "string"}` for text).

    Call arguments:
        x: dict of raw inputs.

    Returns:
        The dict with each preprocessed key replaced by its preprocessor's
        output (a dict such as `{"token_ids", "padding_mask"}`), and with
        `missing`, a `"present"` dict of bool `(batch,)` flags.

    Examples:
    >>> vocab = ["[PAD]", "[UNK]", "[START]", "[END]", "red"]
    >>> preprocessor = keras_mm.layers.MultimodalPreprocessor(
    ...     {"text": keras_mm.layers.WordTokenizer(vocab, 3)})
    >>> preprocessor({"text": ["red"], "images": np.zeros((1, 2, 2, 3))}
    ...              )["text"]["token_ids"]
    array([[4, 0, 0]], dtype=int32)
    >>> preprocessor = keras_mm.layers.MultimodalPreprocessor(
    ...     {}, missing={"images": {"shape": [2, 2, 3], "dtype": "uint8"}})
    >>> preprocessor({"text": ["red", "blue"]})["present"]["images"]
    array([False, False])
    """

    def __init__(self, preprocessors, missing=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(preprocessors, dict):
            raise ValueError(
                "`preprocessors` must be a dict of input key to layer. "
                f"Received: preprocessors={preprocessors!r}"
            )
        if missing is not None and not isinstance(missing, dict):
            raise ValueError(
                "`missing` must be a dict of input key to placeholder spec "
                f"or None. Received: missing={missing!r}"
            )
        self.preprocessors = dict(preprocessors)
        self.missing = {
            key: {"shape": list(spec["shape"]), "dtype": spec["dtype"]}
            for key, spec in (missing or {}).items()
        }

    def prepare(self, x):
        """Replaces missing rows of list inputs by placeholders (NumPy).

        Returns `x` with, for each key that may be missing and holds a
        list, the missing rows filled and `x["present"][key]` set. A list
        with missing rows for a key that may not be missing raises a
        `ValueError` naming the rows.
        """
        if not isinstance(x, dict):
            return x
        x = dict(x)
        present = dict(x.get("present") or {})
        for key, values in x.items():
            listed = isinstance(values, (list, tuple)) or (
                isinstance(values, np.ndarray) and values.dtype == object
            )
            if key == "present" or not listed:
                continue
            may_miss = key in self.missing
            rows = [
                i
                for i, value in enumerate(values)
                if (is_missing(value) if may_miss else _is_none(value))
            ]
            if not rows:
                continue
            if not may_miss:
                shown = ", ".join(str(i) for i in rows[:5])
                raise ValueError(
                    f"Input '{key}' has {len(rows)} missing rows (None or "
                    f"NaN; rows {shown}"
                    + (", ..." if len(rows) > 5 else "")
                    + "), but this model cannot take a missing "
                    f"'{key}'. Build it with `allow_missing=True` (or a "
                    "list of keys that includes it), or drop those rows."
                )
            filled = fill(values, rows, self.missing[key])
            x[key] = filled
            flags = np.ones(len(values), bool)
            flags[rows] = False
            if key in present:
                flags &= np.asarray(present[key], bool)
            present[key] = flags
        if present:
            x["present"] = present
        return x

    def _flags(self, x):
        given = x.pop("present", None) or {}
        batch = None
        for value in tf.nest.flatten(x):
            batch = (
                value.nrows()
                if isinstance(value, tf.RaggedTensor)
                else tf.shape(value)[0]
            )
            break
        if batch is None:
            raise ValueError(
                "At least one input must be given. Received no inputs."
            )
        flags = {}
        for key, spec in self.missing.items():
            if key not in x:
                shape = tf.concat(
                    [[batch], tf.constant(spec["shape"], "int64")], 0
                )
                if spec["dtype"] == "string":
                    x[key] = tf.fill(tf.cast(shape, "int32"), "")
                else:
                    x[key] = tf.zeros(shape, spec["dtype"])
                flags[key] = tf.zeros([batch], "bool")
                continue
            flag = tf.ones([batch], "bool")
            if key in given:
                flag = tf.cast(given[key], "bool")
            if spec["dtype"] == "string" and x[key].dtype == tf.string:
                stripped = tf.strings.strip(x[key])
                flag = tf.logical_and(flag, tf.strings.length(stripped) > 0)
            flags[key] = flag
        return flags

    def call(self, x, y=None, sample_weight=None):
        if not isinstance(x, dict):
            raise ValueError(
                "Inputs must be a dict keyed by input name, with keys "
                f"{sorted(self.preprocessors)}. Received: {type(x).__name__}"
            )
        x = dict(x)
        flags = self._flags(x) if self.missing else None
        for key, preprocessor in self.preprocessors.items():
            if key in x:
                x[key] = preprocessor(x[key])
        if flags is not None:
            x["present"] = flags
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config["preprocessors"] = {
            key: keras.layers.serialize(layer)
            for key, layer in self.preprocessors.items()
        }
        config["missing"] = self.missing or None
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["preprocessors"] = {
            key: keras.layers.deserialize(layer)
            for key, layer in config["preprocessors"].items()
        }
        return cls(**config)
