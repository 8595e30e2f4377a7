"""What the built-in datasets share: the on-disk cache (one `.npz` file a
dataset, written atomically, read back as it was built), the splits, and
the check of the image size."""

import hashlib
import os
import tempfile
import zipfile

import numpy as np

from keras_mm.utils.validation import check_integers

SPLITS = ("train", "validation", "test")
_FRACTIONS = {"train": 0.7, "validation": 0.1}


def split_sizes(num_samples):
    """Examples per split of `num_samples`: 70% train, 10% validation (at
    least one), the rest test."""
    num_train = int(round(num_samples * _FRACTIONS["train"]))
    num_validation = max(1, int(round(num_samples * _FRACTIONS["validation"])))
    return {
        "train": num_train,
        "validation": num_validation,
        "test": num_samples - num_train - num_validation,
    }


MAX_IMAGE_SIZE = 512


def check_num_samples(num_samples, minimum, maximum, why):
    """Raises unless `num_samples` is an int from `minimum` to `maximum`;
    `why` says what limits it to `maximum`."""
    check_integers(minimum=minimum, num_samples=num_samples)
    if num_samples > maximum:
        raise ValueError(
            f"`num_samples` must be at most {maximum}: {why}. Received: "
            f"num_samples={num_samples}"
        )


def check_image_size(image_size, minimum):
    """Raises unless `image_size` is an int from `minimum` to 512."""
    check_integers(minimum=minimum, image_size=image_size)
    if image_size > MAX_IMAGE_SIZE:
        raise ValueError(
            f"`image_size` must be at most {MAX_IMAGE_SIZE}: an image of "
            f"{MAX_IMAGE_SIZE} pixels already holds 786 kB, and larger ones "
            f"are slow to draw and to store. Received: image_size={image_size}"
        )


def check_cache_dir(cache_dir):
    if cache_dir is not None and not isinstance(cache_dir, (str, os.PathLike)):
        raise ValueError(
            "`cache_dir` must be None or a path. "
            f"Received: cache_dir={cache_dir!r}"
        )


def cache_file(cache_dir, folder, name, design):
    """The cache file of a dataset: `name`, then a digest of `design` (a
    string of whatever shapes the data, so that editing it misses the old
    files rather than loading them), in `cache_dir`, else
    `$KERAS_MM_CACHE/folder`, else `~/.cache/keras_mm/folder`."""
    if cache_dir is None:
        root = os.environ.get("KERAS_MM_CACHE") or os.path.join(
            os.path.expanduser("~"), ".cache", "keras_mm"
        )
        cache_dir = os.path.join(root, folder)
    digest = hashlib.sha256(design.encode()).hexdigest()[:10]
    return os.path.join(os.fspath(cache_dir), f"{name}-{digest}.npz")


def cached(path, keys, sample_rate, build):
    """Loads the dataset at `path`, else calls `build()` and saves it there.

    Every split of the dataset holds `keys`, and `"sample_rate"` unless
    `sample_rate` is `None` (data without audio); `"audio"` is a list of
    1-D arrays, lists hold str, the others are arrays.
    """
    if os.path.isfile(path):
        try:
            return _load(path, keys, sample_rate)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # An unreadable cache file is made again.
    data = build()
    _save(path, data)
    return data


def _save(path, data):
    """Writes `data` to `path` atomically: a temporary file, then a rename."""
    arrays = {}
    for split, values in data.items():
        for key, value in values.items():
            if key == "audio":
                arrays[f"{split}_audio"] = np.concatenate(value)
                arrays[f"{split}_lengths"] = np.array(
                    [len(a) for a in value], "int64"
                )
            elif isinstance(value, np.ndarray):
                arrays[f"{split}_{key}"] = value
            elif key != "sample_rate":
                arrays[f"{split}_{key}"] = np.array(value, str)
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temporary, path)
    except BaseException:
        os.remove(temporary)
        raise


def _load(path, keys, sample_rate):
    data = {}
    with np.load(path, allow_pickle=False) as arrays:
        for split in SPLITS:
            values = {}
            for key in keys:
                if key == "audio":
                    ends = np.cumsum(arrays[f"{split}_lengths"])
                    audio = np.split(arrays[f"{split}_audio"], ends[:-1])
                    values[key] = [a.copy() for a in audio]
                else:
                    array = arrays[f"{split}_{key}"]
                    strings = array.dtype.kind == "U"
                    values[key] = array.tolist() if strings else array
            if sample_rate is not None:
                values["sample_rate"] = sample_rate
            data[split] = values
    return data
