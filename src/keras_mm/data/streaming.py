"""Reading image and audio files inside the `tf.data` pipeline.

Each row's files are read when the pipeline meets the row, in parallel
with training, so memory holds a few batches of decoded images whatever
the number of rows. The reading itself is `load_frame`'s (same formats,
channels, resizing and causes), so a file reads the same either way.
"""

import itertools
import logging
import os
import re
import threading

import numpy as np

from keras_mm.data.frames import CellError
from keras_mm.data.frames import check_frame
from keras_mm.data.frames import check_image_size
from keras_mm.data.frames import describe_rows
from keras_mm.data.frames import is_missing_cell
from keras_mm.data.frames import load_audio_cell
from keras_mm.data.frames import load_image_cell
from keras_mm.data.frames import stack_images
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.validation import check_integers

logger = logging.getLogger("keras_mm")

# A `ValueError` raised inside `tf.data` reaches the caller wrapped in a
# TensorFlow error with a traceback; its clean message is kept here, under
# a token the wrapped text carries, for `read_errors` to raise again.
_ERRORS = {}
_TOKEN = re.compile(r"keras_mm read error #(\d+)")
_counter = itertools.count()
_lock = threading.Lock()


def _raise(message):
    with _lock:
        token = next(_counter)
        _ERRORS[token] = message
    raise ValueError(f"keras_mm read error #{token}: {message}")


class read_errors:
    """A context manager that turns an error of a file read inside
    `tf.data` (wrapped by TensorFlow) back into its own `ValueError`."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        if error is None:
            return False
        found = _TOKEN.search(str(error))
        if found is None:
            return False
        with _lock:
            message = _ERRORS.pop(int(found.group(1)), None)
        if message is None:
            return False
        raise ValueError(message) from None


def is_path_batch(values):
    """Whether `values` is a batch of file paths: a list or 1-D array of
    `str` (or path-like), or a 1-D string tensor."""
    if tf is not None and isinstance(values, tf.Tensor):
        return values.dtype == tf.string and values.shape.rank == 1
    if isinstance(values, np.ndarray):
        return values.ndim == 1 and values.dtype.kind in "US"
    return (
        isinstance(values, (list, tuple))
        and len(values) > 0
        and all(isinstance(v, (str, os.PathLike)) for v in values)
    )


def path_inputs(x, files):
    """The keys of `files` whose values in the dict or element spec `x`
    hold file paths (strings) rather than decoded arrays."""
    if not isinstance(x, dict):
        return []
    keys = []
    for key in files:
        value = x.get(key)
        if isinstance(value, tf.TensorSpec):
            if value.dtype == tf.string:
                keys.append(key)
        elif value is not None and is_path_batch(value):
            keys.append(key)
    return keys


def read_files(
    dataset, images=None, audio=None, on_error="raise", row_names=None
):
    """Reads the file paths in a `tf.data.Dataset` of batches.

    Each batch is `x` or a tuple `(x, y, ...)` whose dict `x` holds, at
    each key of `images` and `audio`, a batch of file paths (a 1-D string
    tensor). The returned dataset holds there the read images (uint8
    `(batch, h, w, 3)`, each read as `keras_mm.data.read_image` reads it
    and resized to `images[key]`) or waveforms (a float32 `tf.RaggedTensor`
    `(batch, None)`, each read as `keras_mm.data.read_audio` reads it at
    `audio[key]` samples per second). Batches are read in parallel and kept
    in order, and keep their number.

    A file that cannot be read raises a `ValueError` naming the row when
    the pipeline meets it, under `on_error="raise"`, inside a
    `read_errors()` block (the tasks' `fit`, `evaluate` and `predict` are
    one); `on_error="skip"` drops the row from its batch and logs a
    warning naming it, on the `"keras_mm"` logger.

    Args:
        dataset: a `tf.data.Dataset` of batches.
        images: dict of key to `(height, width)` (or `None`: the files' own
            size). Defaults to `None`, no images.
        audio: dict of key to samples per second. Defaults to `None`.
        on_error: `"raise"` or `"skip"`. Defaults to `"raise"`.
        row_names: sequence of the rows' names for messages (in the order
            of the rows over all batches), or `None`: their positions.

    Returns:
        A `tf.data.Dataset` of batches.

    Examples:
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "gray.png")
    >>> gray = tf.io.encode_png(tf.zeros((8, 8, 1), "uint8"))
    >>> _ = tf.io.write_file(path, gray)
    >>> paths = tf.data.Dataset.from_tensor_slices({"images": [path] * 3})
    >>> batches = keras_mm.data.read_files(paths.batch(2),
    ...                                    images={"images": (4, 4)})
    >>> [x["images"].shape for x in batches]
    [TensorShape([2, 4, 4, 3]), TensorShape([1, 4, 4, 3])]
    """
    require_tensorflow("Reading files in a `tf.data` pipeline")
    keys = list(images or {}) + list(audio or {})
    if not keys:
        return dataset
    spec = dataset.element_spec
    spec = spec[0] if isinstance(spec, tuple) else spec
    for key in keys:
        if not isinstance(spec, dict) or key not in spec:
            raise ValueError(
                f"The dataset's elements have no key '{key}' to read files "
                f"from. Received elements: {spec}"
            )
        if spec[key].shape.rank != 1:
            raise ValueError(
                f"`read_files` takes batches of file paths; '{key}' holds "
                f"elements of shape {spec[key].shape}. Batch the dataset "
                "first (`dataset.batch(32)`)."
            )

    def positions(start, batch):
        x = batch[0] if isinstance(batch, tuple) else batch
        rows = tf.shape(x[keys[0]], out_type="int64")[0]
        return start + rows, (start + tf.range(rows), batch)

    # The rows' positions over all batches, counted as the batches pass.
    rows = dataset.scan(tf.constant(0, "int64"), positions)
    return read_rows(rows, images, audio, on_error, row_names)


def read_rows(batches, images, audio, on_error, row_names):
    """`read_files` over a dataset of `(positions, batch)`: the positions
    name the rows, wherever shuffling put them."""
    if on_error not in ("raise", "skip"):
        raise ValueError(
            '`on_error` must be "raise" or "skip". Received: '
            f"on_error={on_error!r}"
        )
    images = {k: check_image_size(v) for k, v in (images or {}).items()}
    audio = dict(audio or {})
    keys = list(images) + list(audio)
    if not keys:
        return batches.map(lambda positions, batch: batch)
    reported = set()

    def read(positions, *paths):
        positions = positions.numpy().tolist()
        columns = [[] for _ in keys]
        failures = {}
        for row, position in enumerate(positions):
            values = []
            for key, path in zip(keys, paths):
                path = path[row].numpy().decode("utf-8")
                try:
                    if key in images:
                        values.append(load_image_cell(path, images[key]))
                    else:
                        values.append(load_audio_cell(path, audio[key]))
                except CellError as error:
                    failures.setdefault(position, []).append(
                        (key, path, str(error))
                    )
            if position in failures:
                continue
            for column, value in zip(columns, values):
                column.append(value)
        if failures:
            names = (
                row_names if row_names is not None else range(max(failures) + 1)
            )
            rows = describe_rows(failures, names)
            if on_error == "raise":
                _raise(
                    f"A row could not be read:\n{rows}\nTo drop such "
                    'rows, pass `on_error="skip"` to `keras_mm.data.'
                    "stream_frame` (or `read_files`)."
                )
            if not reported.issuperset(failures):
                reported.update(failures)
                logger.warning("Skipped rows that could not be read:\n%s", rows)
        kept = [p not in failures for p in positions]
        outputs = [np.asarray(kept)]
        for key, column in zip(keys, columns):
            if key in images:
                try:
                    outputs.append(stack_images(key, column, images[key]))
                except ValueError as error:
                    _raise(str(error))
            else:
                outputs.append(
                    np.concatenate(column or [np.zeros(0)]).astype("float32")
                )
                outputs.append(np.asarray([len(c) for c in column], "int64"))
        return outputs

    def decode(positions, batch):
        x = batch[0] if isinstance(batch, tuple) else batch
        if not isinstance(x, dict) or any(key not in x for key in keys):
            raise ValueError(
                f"Each batch's inputs must be a dict holding the keys "
                f"{keys}. Received: {x}"
            )
        dtypes = [tf.bool] + [tf.uint8] * len(images)
        dtypes += [tf.float32, tf.int64] * len(audio)
        kept, *values = tf.py_function(
            read, [positions] + [x[key] for key in keys], dtypes
        )
        kept.set_shape((None,))
        x = {key: value for key, value in x.items() if key not in keys}
        x = tf.nest.map_structure(lambda v: tf.boolean_mask(v, kept), x)
        for key in images:
            value = values.pop(0)
            value.set_shape((None,) + (images[key] or (None, None)) + (3,))
            x[key] = value
        for key in audio:
            flat, lengths = values.pop(0), values.pop(0)
            flat.set_shape((None,))
            lengths.set_shape((None,))
            x[key] = tf.RaggedTensor.from_row_lengths(flat, lengths)
        if not isinstance(batch, tuple):
            return x
        rest = tf.nest.map_structure(
            lambda v: tf.boolean_mask(v, kept), tuple(batch[1:])
        )
        return (x,) + rest

    return batches.map(
        decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True
    )


def stream_frame(
    frame,
    images=(),
    audio=(),
    text=(),
    labels=None,
    image_size=None,
    sample_rate=16000,
    on_error="raise",
    batch_size=32,
    shuffle=False,
    cache=None,
):
    """Turns a pandas DataFrame into a `tf.data.Dataset` that reads its
    files as it goes.

    Like `keras_mm.data.load_frame`, but nothing is read up front: image
    and audio columns of file paths are read inside the pipeline
    (`read_files`), so memory stays flat in the number of rows. Each
    element is a batch `(x, y)` (or `x` without `labels`), for a task's
    `fit`, `evaluate` or `predict`. The tasks stream a DataFrame of file
    paths this way themselves.

    Every image and audio cell must be a file path; for arrays or missing
    cells, use `load_frame`. A file that cannot be read raises a
    `ValueError` naming the row when the pipeline meets it, or is dropped
    from its batch and named in a warning with `on_error="skip"`.

    Args:
        frame: `pandas.DataFrame`. One row per example.
        images, audio, text: str or sequence of str. The columns of each
            kind. Default to `()`.
        labels: str or `None`. The label column. Defaults to `None`.
        image_size: tuple `(height, width)` or `None`. Resize every image
            to this size. Defaults to `None`: the files' own size (which
            must then be one size for a batch).
        sample_rate: int. Samples per second of the waveforms. Defaults
            to `16000`.
        on_error: `"raise"` or `"skip"`. Defaults to `"raise"`.
        batch_size: int. Rows per batch. Defaults to `32`.
        shuffle: bool. Shuffle the rows before each pass (the paths, so
            the whole frame, before reading). Defaults to `False`.
        cache: str, or `None`. A file to cache the read batches in: the
            first pass reads the files and writes it, later passes (and
            runs) read it instead. With a cache, `shuffle` shuffles the
            order of the cached batches, not the rows within them.
            Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of batches.

    Examples:
    >>> import os, tempfile
    >>> import pandas as pd
    >>> import tensorflow as tf
    >>> path = os.path.join(tempfile.mkdtemp(), "black.png")
    >>> black = tf.io.encode_png(tf.zeros((8, 8, 3), "uint8"))
    >>> _ = tf.io.write_file(path, black)
    >>> frame = pd.DataFrame({"image": [path] * 3, "caption": ["a", "b", "c"],
    ...                       "label": [0, 1, 2]})
    >>> batches = keras_mm.data.stream_frame(
    ...     frame, images="image", text="caption", labels="label",
    ...     image_size=(4, 4))
    >>> x, y = next(iter(batches))
    >>> x["image"].shape, y.numpy().tolist()
    (TensorShape([3, 4, 4, 3]), [0, 1, 2])
    """
    require_tensorflow("`stream_frame`")
    columns, image_size = check_frame(
        frame, images, audio, text, labels, image_size, sample_rate, on_error
    )
    check_integers(batch_size=batch_size)
    x = {}
    for column in columns["images"] + columns["audio"]:
        values = frame[column].to_list()
        bad = [
            i
            for i, v in enumerate(values)
            if is_missing_cell(v) or not isinstance(v, (str, os.PathLike))
        ]
        if bad:
            raise ValueError(
                f"Column '{column}' must hold a file path in every row to "
                f"be streamed; rows {bad[:5]} do not (e.g. "
                f"{values[bad[0]]!r}). Read such a frame with "
                "`keras_mm.data.load_frame`, which takes arrays and "
                "missing cells."
            )
        x[column] = [os.fspath(v) for v in values]
    for column in columns["text"]:
        x[column] = [
            "" if is_missing_cell(v) else str(v)
            for v in frame[column].to_list()
        ]
    data = x if labels is None else (x, np.asarray(frame[labels].to_numpy()))
    rows = tf.data.Dataset.from_tensor_slices(data).enumerate()
    if shuffle and cache is None:
        rows = rows.shuffle(len(frame.index), reshuffle_each_iteration=True)
    dataset = read_rows(
        rows.batch(batch_size),
        images={c: image_size for c in columns["images"]},
        audio={c: sample_rate for c in columns["audio"]},
        on_error=on_error,
        row_names=list(frame.index),
    )
    if cache is not None:
        dataset = dataset.cache(os.fspath(cache))
        if shuffle:
            dataset = dataset.shuffle(64, reshuffle_each_iteration=True)
    return dataset
