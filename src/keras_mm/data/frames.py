"""Reading images, and turning a pandas DataFrame into model inputs."""

import math
import os
import warnings

import keras
import numpy as np

from keras_mm.data.audio_io import op_error_message
from keras_mm.data.audio_io import read_audio
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf

# `load_frame` shows a progress bar when it reads more files than this.
_PROGRESS_BAR_MIN_FILES = 1000
# How many failed rows an error or warning message lists.
_MAX_LISTED_ROWS = 5
_LUMA_WEIGHTS = np.array([0.2989, 0.5870, 0.1140], "float32")


class CellError(Exception):
    """A cell of a frame that cannot be turned into an input (the cause)."""


def check_image_size(image_size):
    if image_size is None:
        return None
    valid = (
        isinstance(image_size, (tuple, list))
        and len(image_size) == 2
        and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool)
            for d in image_size
        )
        and all(d > 0 for d in image_size)
    )
    if not valid:
        raise ValueError(
            "`image_size` must be `None` or a tuple of two positive "
            f"integers `(height, width)`. Received: image_size={image_size!r}"
        )
    return (int(image_size[0]), int(image_size[1]))


def _check_channels(channels):
    if channels not in (1, 3, 4) or isinstance(channels, bool):
        raise ValueError(
            f"`channels` must be 1, 3 or 4. Received: channels={channels!r}"
        )


def _gray(rgb):
    gray = np.round(rgb.astype("float32") @ _LUMA_WEIGHTS)
    return np.clip(gray, 0, 255).astype("uint8")[..., None]


def _convert_channels(image, channels):
    """Converts a uint8 `(h, w, 1|2|3|4)` image to `channels` channels.

    Alpha is dropped (not composited); RGB becomes gray by luma weights.
    """
    have = image.shape[-1]
    if have == channels:
        return image
    if have in (1, 2):
        color, alpha = image[..., :1], image[..., 1:]
        if channels == 1:
            return color
        color = np.repeat(color, 3, axis=-1)
    else:
        color, alpha = image[..., :3], image[..., 3:]
        if channels == 1:
            return _gray(color)
    if channels == 3:
        return color
    if alpha.shape[-1] == 0:
        alpha = np.full(color.shape[:-1] + (1,), 255, "uint8")
    return np.concatenate([color, alpha], axis=-1)


def _resize(image, image_size):
    if image_size is None or tuple(image.shape[:2]) == image_size:
        return image
    resized = tf.image.resize(
        image, image_size, method="bilinear", antialias=True
    ).numpy()
    return np.clip(np.round(resized), 0, 255).astype("uint8")


def _decode_image(path):
    """Decodes an image file to uint8 `(h, w, c)`; raises `CellError`."""
    require_tensorflow("Reading image files")
    if not os.path.isfile(path):
        raise CellError("no such file.")
    try:
        image = tf.io.decode_image(
            tf.io.read_file(path), channels=0, expand_animations=False
        )
    except tf.errors.OpError as error:
        raise CellError(op_error_message(error)) from None
    return image.numpy()


def read_image(path, image_size=None, channels=3):
    """Reads an image file to a uint8 array.

    PNG, JPEG, BMP and GIF files (GIF: the first frame), and the other
    formats `tf.io.decode_image` knows (WebP), are decoded with TensorFlow.
    Grayscale, gray+alpha, RGB and RGBA images are converted to `channels`:
    gray is repeated to RGB, an alpha channel is dropped (not composited),
    RGB becomes gray by luma weights, and a missing alpha is opaque (255).
    16-bit PNGs are scaled to 8 bits.

    Args:
        path: str or path-like. The file.
        image_size: tuple `(height, width)` or `None`. When given, the image
            is resized to it (bilinear, antialiased) and rounded back to
            uint8. Defaults to `None`, the file's own size.
        channels: int. 1 (gray), 3 (RGB) or 4 (RGBA). Defaults to `3`.

    Returns:
        A uint8 NumPy array `(height, width, channels)`.

    Raises:
        ValueError: if the file is missing or cannot be decoded; the message
            names the path and the cause.

    Examples:
    >>> import os, tempfile
    >>> import tensorflow as tf
    >>> from keras_mm.data.frames import read_image
    >>> path = os.path.join(tempfile.mkdtemp(), "gray.png")
    >>> gray = tf.io.encode_png(np.zeros((32, 48, 1), "uint8"))
    >>> tf.io.write_file(path, gray)
    >>> read_image(path).shape
    (32, 48, 3)
    >>> read_image(path, image_size=(16, 16)).shape
    (16, 16, 3)
    """
    image_size = check_image_size(image_size)
    _check_channels(channels)
    path = os.fspath(path)
    try:
        image = _decode_image(path)
    except CellError as error:
        raise ValueError(f"Cannot read image file '{path}': {error}") from None
    return _resize(_convert_channels(image, channels), image_size)


def normalize_columns(columns, argument):
    if columns is None:
        return ()
    if isinstance(columns, str) or not hasattr(columns, "__iter__"):
        return (columns,)
    columns = tuple(columns)
    if len(set(columns)) != len(columns):
        raise ValueError(
            f"`{argument}` names a column twice. Received: "
            f"{argument}={list(columns)!r}"
        )
    return columns


def is_missing_cell(value):
    """`None`, a NaN-like scalar, or a blank string."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if np.ndim(value) != 0 or isinstance(value, (bytes, os.PathLike)):
        return False
    try:
        import pandas

        return bool(pandas.isna(value))
    except (ImportError, TypeError, ValueError):
        return isinstance(value, float) and math.isnan(value)


def _describe(value):
    """A short description of a cell, for error messages."""
    if isinstance(value, (str, os.PathLike)):
        return f"file '{os.fspath(value)}'"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}"
    return f"value {value!r}"[:80]


def _array_to_image(value, channels):
    image = np.asarray(value)
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or not 1 <= image.shape[-1] <= 4:
        raise CellError(
            "an image array must have shape (height, width) or "
            f"(height, width, 1-4 channels); got shape {image.shape}."
        )
    if image.dtype.kind not in "biuf":
        raise CellError(f"image arrays must be numeric; got {image.dtype}.")
    if image.dtype.kind == "f" and not np.isfinite(image).all():
        raise CellError("the image holds NaN or infinite values.")
    if image.dtype != np.uint8:
        image = np.clip(np.round(image.astype("float64")), 0, 255)
        image = image.astype("uint8")
    return _convert_channels(image, channels)


def load_image_cell(value, image_size):
    if isinstance(value, (str, os.PathLike)):
        image = _convert_channels(_decode_image(os.fspath(value)), 3)
    elif np.ndim(value) > 0:
        image = _array_to_image(value, 3)
    else:
        raise CellError(
            f"expected a file path or an image array; got {type(value)}."
        )
    return _resize(image, image_size)


def load_audio_cell(value, sample_rate):
    if isinstance(value, (str, os.PathLike)):
        path = os.fspath(value)
        try:
            return read_audio(path, sample_rate=sample_rate)
        except ValueError as error:
            message = str(error)
            prefix = f"Cannot read audio file '{path}': "
            if message.startswith(prefix):
                message = message[len(prefix) :]
            raise CellError(message) from None
    if np.ndim(value) > 0:
        waveform = np.asarray(value)
        if waveform.ndim != 1 or waveform.dtype.kind not in "biuf":
            raise CellError(
                "an audio array must be a 1-D numeric waveform; got "
                f"shape {waveform.shape} and dtype {waveform.dtype}."
            )
        if waveform.dtype.kind == "f" and not np.isfinite(waveform).all():
            raise CellError("the waveform holds NaN or infinite values.")
        return waveform.astype("float32")
    raise CellError(
        f"expected a file path or a 1-D waveform array; got {type(value)}."
    )


def _load_text_cell(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def describe_rows(failures, index):
    lines = []
    for position in sorted(failures)[:_MAX_LISTED_ROWS]:
        cells = "; ".join(
            f"column '{column}', {_describe(value)}: {cause}"
            for column, value, cause in failures[position]
        )
        label = index[position]
        if isinstance(label, np.generic):
            label = label.item()
        lines.append(f"  row {label!r} (position {position}): {cells}")
    if len(failures) > _MAX_LISTED_ROWS:
        lines.append(f"  ... and {len(failures) - _MAX_LISTED_ROWS} more.")
    return "\n".join(lines)


def stack_images(column, images, image_size):
    """Images read from one column -> one array, or a `ValueError` when
    their sizes differ; missing ones (`None`) leave the list as it is."""
    present = [image for image in images if image is not None]
    sizes = sorted({tuple(image.shape[:2]) for image in present})
    if len(sizes) > 1:
        listed = ", ".join(str(size) for size in sizes[:_MAX_LISTED_ROWS])
        if len(sizes) > _MAX_LISTED_ROWS:
            listed += f", ... ({len(sizes)} sizes)"
        raise ValueError(
            f"The images of column '{column}' have different sizes "
            f"(height, width): {listed}. Pass `image_size=(height, width)` "
            "to resize them all to one size."
        )
    if len(present) < len(images):
        return images
    if not images:
        return np.zeros((0,) + (image_size or (0, 0)) + (3,), "uint8")
    return np.stack(images)


def check_frame(
    frame, images, audio, text, labels, image_size, sample_rate, on_error
):
    """Checks the arguments of `load_frame` and `stream_frame`; returns
    the columns of each role (`{"images": [...], "audio": [...], "text":
    [...]}`) and the checked `image_size`. Raises a `ValueError` that says
    what was received."""
    if not hasattr(frame, "columns") or not hasattr(frame, "index"):
        raise ValueError(
            "`frame` must be a pandas DataFrame. Received: "
            f"frame of type {type(frame)}"
        )
    if on_error not in ("raise", "skip"):
        raise ValueError(
            '`on_error` must be "raise" or "skip". Received: '
            f"on_error={on_error!r}"
        )
    image_size = check_image_size(image_size)
    if (
        not isinstance(sample_rate, (int, np.integer))
        or isinstance(sample_rate, bool)
        or sample_rate < 1
    ):
        raise ValueError(
            "`sample_rate` must be a positive integer. Received: "
            f"sample_rate={sample_rate!r}"
        )
    roles = {
        "images": normalize_columns(images, "images"),
        "audio": normalize_columns(audio, "audio"),
        "text": normalize_columns(text, "text"),
    }
    requested = [(column, role) for role in roles for column in roles[role]]
    if labels is not None:
        requested.append((labels, "labels"))
    available = list(frame.columns)
    unknown = [column for column, _ in requested if column not in available]
    if unknown:
        raise ValueError(
            f"Unknown column(s) {unknown}. The frame's columns are: {available}"
        )
    repeated = [c for c, _ in requested if available.count(c) > 1]
    if repeated:
        raise ValueError(
            f"The frame has more than one column named {repeated[0]!r}; "
            "rename them so that each name picks one column."
        )
    seen = {}
    for column, role in requested:
        if role != "labels" and column in seen:
            raise ValueError(
                f"Column '{column}' is given both as `{seen[column]}` and "
                f"as `{role}`; each input column may have one role."
            )
        seen[column] = role
    if not len(frame.index):
        raise ValueError(
            "The frame has no rows. Received: an empty DataFrame with "
            f"columns {available}"
        )
    return roles, image_size


def load_frame(
    frame,
    images=(),
    audio=(),
    text=(),
    labels=None,
    image_size=None,
    sample_rate=16000,
    on_error="raise",
):
    """Turns a pandas DataFrame into `(x, y)` model inputs and labels.

    Each image, audio and text column becomes one entry of the dict `x`,
    keyed by the column name, with one item per row in the frame's row
    order:

    - image columns (file paths, or arrays `(h, w)` / `(h, w, c)` of 0-255
      pixel values) become a uint8 array `(rows, h, w, 3)`, read with
      `read_image`. All images must then share one size, unless
      `image_size` is given.
    - audio columns (file paths, or 1-D waveforms taken to be at
      `sample_rate` already) become a list of float32 1-D waveforms at
      `sample_rate`, read with `keras_mm.data.read_audio`.
    - text columns become a list of `str`.

    `y` is the `labels` column as a NumPy array, or `None`.

    Missing entries: a cell of an image, audio or text column that is
    `None`, a NaN-like scalar (`float("nan")`, `pd.NA`, `pd.NaT`) or a
    string that is empty or only whitespace is kept as `None` in the
    output. An image column with a missing cell becomes a list of arrays
    and `None` instead of one array. Missing labels are passed through.

    Unreadable entries (a missing or corrupt file, or an array of the wrong
    shape): every row is read first, then `on_error="raise"` raises one
    `ValueError` that counts the failed rows and names the first 5 of
    them (index label and position), with the column, the path and the
    cause; `on_error="skip"` drops the failed rows from `x` and `y` alike
    and warns (`UserWarning`) with the same count and names. Rows are never
    reordered. Reading more than 1000 files shows a progress bar.

    Args:
        frame: `pandas.DataFrame`. One row per example.
        images: str or sequence of str. The image columns. Defaults to `()`.
        audio: str or sequence of str. The audio columns. Defaults to `()`.
        text: str or sequence of str. The text columns. Defaults to `()`.
        labels: str or `None`. The label column. Defaults to `None`.
        image_size: tuple `(height, width)` or `None`. Resize every image
            to this size (bilinear, antialiased). Defaults to `None`.
        sample_rate: int. Samples per second of the waveforms. Defaults to
            `16000`.
        on_error: str. `"raise"` or `"skip"`, for unreadable entries.
            Defaults to `"raise"`.

    Returns:
        A tuple `(x, y)`: the dict of inputs and the labels (or `None`).

    Raises:
        ValueError: for an unknown column, a column given twice, images of
            different sizes without `image_size`, or (with
            `on_error="raise"`) unreadable entries.

    Examples:
    >>> import pandas as pd
    >>> from keras_mm.data.frames import load_frame
    >>> frame = pd.DataFrame({
    ...     "image": [np.zeros((8, 8, 3), "uint8"), np.ones((8, 8), "uint8")],
    ...     "caption": ["a black square", None],
    ...     "label": [0, 1],
    ... })
    >>> x, y = load_frame(frame, images="image", text="caption",
    ...                   labels="label")
    >>> x["image"].shape, x["caption"], y
    ((2, 8, 8, 3), ['a black square', None], array([0, 1]))
    """
    roles, image_size = check_frame(
        frame, images, audio, text, labels, image_size, sample_rate, on_error
    )

    def is_file(value):
        return isinstance(value, (str, os.PathLike)) and not (
            is_missing_cell(value)
        )

    num_files = sum(
        is_file(value)
        for column in roles["images"] + roles["audio"]
        for value in frame[column]
    )
    progress = None
    if num_files > _PROGRESS_BAR_MIN_FILES:
        progress = keras.utils.Progbar(num_files, unit_name="file")
    files_read = 0

    x, failures = {}, {}
    for role, columns in roles.items():
        for column in columns:
            outputs = []
            for position, value in enumerate(frame[column].to_list()):
                if is_missing_cell(value):
                    outputs.append(None)
                    continue
                try:
                    if role == "images":
                        output = load_image_cell(value, image_size)
                    elif role == "audio":
                        output = load_audio_cell(value, sample_rate)
                    else:
                        output = _load_text_cell(value)
                except CellError as error:
                    failures.setdefault(position, []).append(
                        (column, value, str(error))
                    )
                    output = None
                outputs.append(output)
                if progress is not None and is_file(value):
                    files_read += 1
                    progress.update(files_read)
            x[column] = outputs

    num_rows = len(frame.index)
    if failures:
        rows = describe_rows(failures, frame.index)
        if on_error == "raise":
            raise ValueError(
                f"{len(failures)} of {num_rows} rows could not be read:\n"
                f'{rows}\nPass `on_error="skip"` to drop these rows.'
            )
        warnings.warn(
            f"Skipped {len(failures)} of {num_rows} rows that could not be "
            f"read:\n{rows}",
            UserWarning,
            stacklevel=2,
        )
    kept = [i for i in range(num_rows) if i not in failures]
    for column in x:
        x[column] = [x[column][i] for i in kept]
    for column in roles["images"]:
        x[column] = stack_images(column, x[column], image_size)
    y = None
    if labels is not None:
        y = np.asarray(frame[labels].to_numpy())[kept]
    return x, y
