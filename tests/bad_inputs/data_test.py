"""Bad inputs to `keras_mm.data` and `keras_mm.datasets`, one line each."""

import os

import numpy as np
import pandas as pd
import pytest
import scipy.io.wavfile
import tensorflow as tf

import keras_mm
from keras_mm.data import load_frame
from keras_mm.data import make_dataset
from keras_mm.data import read_audio
from keras_mm.data import read_errors
from keras_mm.data import read_files
from keras_mm.data import read_image
from keras_mm.data import read_waveforms
from keras_mm.data import resample
from keras_mm.data import stream_frame
from keras_mm.datasets import scenes
from keras_mm.datasets import spoken
from tests.bad_inputs.harness import corpus
from tests.bad_inputs.harness import raises
from tests.bad_inputs.harness import run_case
from tests.bad_inputs.harness import warns
from tests.bad_inputs.harness import works


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    paths = {
        name: str(folder / name)
        for name in (
            "good.png",
            "good.wav",
            "nan.wav",
            "empty.png",
            "text.png",
            "stereo.wav",
        )
    }
    tf.io.write_file(
        paths["good.png"], tf.io.encode_png(np.zeros((8, 6, 3), "uint8"))
    )
    scipy.io.wavfile.write(paths["good.wav"], 8000, np.zeros(800, "int16"))
    scipy.io.wavfile.write(
        paths["nan.wav"], 8000, np.array([0.0, np.nan, 0.1], "float32")
    )
    scipy.io.wavfile.write(
        paths["stereo.wav"], 8000, np.zeros((800, 2), "int16")
    )
    open(paths["empty.png"], "wb").close()
    with open(paths["text.png"], "w") as file:
        file.write("not an image")
    paths["missing"] = os.path.join(str(folder), "missing.png")
    return paths


def frame(f, **columns):
    base = {"image": [f["good.png"]] * 2, "text": ["a", "b"], "label": [0, 1]}
    return pd.DataFrame({**base, **columns})


def first_batch(dataset):
    return next(iter(dataset))


def read_first(dataset):
    """The first batch, with errors of file reads as their own message,
    as a task's `fit` gives them."""
    with read_errors():
        return first_batch(dataset)


# One case per line, as the harness asks.
# fmt: off
DATA = [
    raises("read_audio of a missing file", lambda f: read_audio(f["missing"]), ValueError, "missing.png", "no such file"),
    raises("read_audio of an image", lambda f: read_audio(f["good.png"]), (ValueError, ImportError), "good.png"),
    raises("read_audio of a float file with NaN", lambda f: read_audio(f["nan.wav"], 8000), ValueError, "nan.wav", "NaN or infinite"),
    raises("read_audio at rate 0", lambda f: read_audio(f["good.wav"], sample_rate=0), ValueError, "sample_rate"),
    raises("read_image of a missing file", lambda f: read_image(f["missing"]), ValueError, "missing.png"),
    raises("read_image of an empty file", lambda f: read_image(f["empty.png"]), ValueError, "empty.png"),
    raises("read_image of text", lambda f: read_image(f["text.png"]), ValueError, "text.png"),
    raises("read_image to a size of 0", lambda f: read_image(f["good.png"], image_size=(0, 4)), ValueError, "image_size"),
    raises("read_image to a size of one number", lambda f: read_image(f["good.png"], image_size=8), ValueError, "image_size"),
    raises("read_image with 5 channels", lambda f: read_image(f["good.png"], channels=5), ValueError, "channels"),
    raises("read_waveforms of one path", lambda f: read_waveforms(f["good.wav"], 8000), ValueError, "wrap it in a list"),
    raises("read_waveforms of NaN", lambda f: read_waveforms([np.array([0.0, np.nan], "f4")], 8000), ValueError, "row 0", "NaN"),
    raises("read_waveforms of strings and a missing file", lambda f: read_waveforms([f["good.wav"], f["missing"]], 8000), ValueError, "row 1", "missing.png"),
    raises("read_waveforms of rank 3", lambda f: read_waveforms(np.zeros((2, 3, 4), "f4"), 8000), ValueError, "(batch, samples)"),
    raises("resample to rate 0", lambda f: resample(np.zeros(10, "f4"), 8000, 0), ValueError, "rate"),
    raises("resample of a 2-D waveform", lambda f: resample(np.zeros((10, 2, 2), "f4"), 8000, 16000), ValueError, "1-D", "(10, 2, 2)"),
    raises("load_frame of a list", lambda f: load_frame([1, 2]), (ValueError, TypeError), "DataFrame"),
    raises("load_frame with an unknown column", lambda f: load_frame(frame(f), images=["picture"]), ValueError, "picture"),
    raises("load_frame with a missing file", lambda f: load_frame(frame(f, image=[f["good.png"], f["missing"]]), images=["image"]), ValueError, "missing.png", "row 1"),
    raises("load_frame with a NaN waveform", lambda f: load_frame(pd.DataFrame({"audio": [np.array([0.0, np.nan], "f4")]}), audio=["audio"]), ValueError, "audio", "NaN"),
    raises("load_frame with a NaN image array", lambda f: load_frame(pd.DataFrame({"image": [np.full((4, 4, 3), np.nan)]}), images=["image"]), ValueError, "image", "NaN"),
    raises("load_frame with on_error 'ignore'", lambda f: load_frame(frame(f), images=["image"], on_error="ignore"), ValueError, "on_error", "ignore"),
    raises("load_frame with a label column that is not there", lambda f: load_frame(frame(f), text=["text"], labels="class"), ValueError, "class"),
    raises("load_frame of an empty frame", lambda f: load_frame(frame(f).iloc[:0], text=["text"]), ValueError, "no rows"),
    raises("stream_frame with batch size 0", lambda f: stream_frame(frame(f), images=["image"], batch_size=0), ValueError, "batch_size"),
    raises("stream_frame with an unknown column", lambda f: stream_frame(frame(f), images=["photo"]), ValueError, "photo"),
    raises("stream_frame with a missing file", lambda f: read_first(stream_frame(frame(f, image=[f["missing"]] * 2), images=["image"])), ValueError, "missing.png"),
    raises("stream_frame of an empty frame", lambda f: stream_frame(frame(f).iloc[:0], images=["image"]), ValueError, "no rows"),
    raises("stream_frame with on_error 'warn'", lambda f: stream_frame(frame(f), images=["image"], on_error="warn"), ValueError, "on_error"),
    raises("read_files of a dataset that is not batched", lambda f: first_batch(read_files(tf.data.Dataset.from_tensor_slices({"image": [f["good.png"]]}), images={"image": None})), ValueError, "batch"),
    raises("make_dataset with batch size 0", lambda f: make_dataset(np.zeros((4, 2)), batch_size=0), ValueError, "batch_size"),
    raises("make_dataset with fewer labels than rows", lambda f: make_dataset(np.zeros((4, 2)), np.zeros(3)), ValueError, "same number of rows"),
    warns("load_frame skips a missing file", lambda f: load_frame(frame(f, image=[f["good.png"], f["missing"]]), images=["image"], on_error="skip"), UserWarning, "missing.png", "row 1"),
    works("read_audio of a stereo file", lambda f: read_audio(f["stereo.wav"], 8000), lambda w: w.shape == (800,)),
    works("read_waveforms of an empty batch", lambda f: read_waveforms([], 8000), lambda w: w == []),
    works("make_dataset of fewer rows than a batch", lambda f: first_batch(make_dataset(np.zeros((3, 2)), batch_size=8)).shape, lambda s: tuple(s) == (3, 2)),
]

DATASETS = [
    raises("scenes of 0 samples", lambda f: scenes(num_samples=0), ValueError, "num_samples"),
    raises("scenes of a negative count", lambda f: scenes(num_samples=-5), ValueError, "num_samples"),
    raises("scenes of a float count", lambda f: scenes(num_samples=30.5), ValueError, "num_samples"),
    raises("scenes of image size 4", lambda f: scenes(num_samples=30, image_size=4), ValueError, "image_size"),
    raises("scenes of a string seed", lambda f: scenes(num_samples=30, seed="a"), ValueError, "seed"),
    raises("spoken of an unknown kind", lambda f: spoken(num_samples=30, kind="songs"), ValueError, "kind", "songs"),
    raises("spoken at rate 0", lambda f: spoken(num_samples=30, sample_rate=0), ValueError, "sample_rate"),
    raises("spoken of 0 samples", lambda f: spoken(num_samples=0), ValueError, "num_samples"),
    raises("spoken_commands of a negative count", lambda f: keras_mm.datasets.spoken_commands(num_samples=-1), ValueError, "num_samples"),
    raises("spoken_scenes of image size 0", lambda f: keras_mm.datasets.spoken_scenes(num_samples=30, image_size=0), ValueError, "image_size"),
    raises("a dataset that does not exist", lambda f: keras_mm.datasets.medical_scans(), AttributeError, "medical_scans"),
    works("scenes of few samples", lambda f: scenes(num_samples=30, image_size=24)["train"]["images"].dtype, lambda d: d == np.uint8),
]
# fmt: on


@pytest.mark.parametrize("case", corpus(data=DATA, datasets=DATASETS))
def test_bad_input(case, files):
    run_case(case, files)
