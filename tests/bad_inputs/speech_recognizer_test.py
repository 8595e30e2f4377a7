"""Bad inputs to a speech recognizer's `fit`, `evaluate` and `transcribe`,
one line each, on one model that must still train after all of them."""

import os

import numpy as np
import pytest
import scipy.io.wavfile

from tests.bad_inputs.harness import corpus
from tests.bad_inputs.harness import raises
from tests.bad_inputs.harness import run_case
from tests.bad_inputs.harness import strings
from tests.bad_inputs.harness import warns
from tests.bad_inputs.harness import works
from tests.export.saved_model_test import SAMPLE_RATE
from tests.export.saved_model_test import speech_recognizer

AUDIO = (0.3 * np.random.default_rng(0).normal(size=(3, 3000))).astype("f4")
TEXT = ["a bad", "cafe", "head"]


def nan_at(row):
    audio = AUDIO.copy()
    audio[row, 10] = np.nan
    return audio


def finite_loss(history):
    return np.isfinite(history.history["loss"]).all()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Audio files, good and bad."""
    folder = tmp_path_factory.mktemp("audio")
    paths = {
        "good": str(folder / "good.wav"),
        "nan": str(folder / "nan.wav"),
        "empty": str(folder / "empty.wav"),
        "text": str(folder / "text.wav"),
    }
    scipy.io.wavfile.write(paths["good"], SAMPLE_RATE, AUDIO[0])
    nan = AUDIO[0].copy()
    nan[5] = np.nan
    scipy.io.wavfile.write(paths["nan"], SAMPLE_RATE, nan)
    open(paths["empty"], "wb").close()
    with open(paths["text"], "w") as file:
        file.write("not audio")
    paths["missing"] = os.path.join(str(folder), "missing.wav")
    return paths


# One case per line, as the harness asks.
# fmt: off
TRANSCRIBE = [
    raises("nan samples", lambda m, f: m.transcribe(nan_at(2)), ValueError, "audio", "NaN or infinite", "row 2"),
    raises("inf in a list", lambda m, f: m.transcribe([AUDIO[0], np.full(100, np.inf, "f4")]), ValueError, "audio", "row 1"),
    raises("a float file holding NaN", lambda m, f: m.transcribe([f["nan"]]), ValueError, "nan.wav", "NaN or infinite"),
    raises("a missing file", lambda m, f: m.transcribe([f["missing"]]), ValueError, "missing.wav", "no such file"),
    raises("an empty file", lambda m, f: m.transcribe([f["empty"]]), ValueError, "empty.wav"),
    raises("a text file named .wav", lambda m, f: m.transcribe([f["text"]]), ValueError, "text.wav"),
    raises("one path, not a list", lambda m, f: m.transcribe(f["good"]), ValueError, "wrap it in a list"),
    raises("one waveform, not a batch", lambda m, f: m.transcribe(AUDIO[0]), ValueError, "wrap it in a list"),
    raises("audio of rank 3", lambda m, f: m.transcribe(AUDIO[:, :, None]), ValueError, "(batch, samples)"),
    raises("int waveforms in a list", lambda m, f: m.transcribe([np.zeros(100, "int16")]), ValueError, "1-D float", "row 0"),
    raises("a 2-D waveform in a list", lambda m, f: m.transcribe([np.zeros((100, 2), "f4")]), ValueError, "1-D float", "(100, 2)"),
    raises("unknown sampler", lambda m, f: m.transcribe(AUDIO, sampler="top_k"), ValueError, "sampler", "top_k"),
    raises("num_beams 0", lambda m, f: m.transcribe(AUDIO, sampler="beam", num_beams=0), ValueError, "num_beams"),
    raises("batch size as a string", lambda m, f: m.transcribe(AUDIO, batch_size="4"), ValueError, "batch_size"),
    raises("sample rate 0", lambda m, f: m.transcribe(AUDIO, sample_rate=0), ValueError, "sample_rate"),
    works("no clips", lambda m, f: m.transcribe(np.zeros((0, 100), "f4")), strings(0)),
    works("silence", lambda m, f: m.transcribe(np.zeros((2, 4000), "f4")), strings(2)),
    works("one sample", lambda m, f: m.transcribe([np.zeros(1, "f4")]), strings(1)),
    works("clips of different lengths", lambda m, f: m.transcribe([AUDIO[0], AUDIO[1, :50]]), strings(2)),
    works("full-scale square wave", lambda m, f: m.transcribe(np.sign(AUDIO)), strings(3)),
    warns("a clip longer than max_duration", lambda m, f: m.transcribe(np.zeros((1, 9000), "f4")), UserWarning, "longer than max_duration", "rows [0]"),
    works("another sample rate", lambda m, f: m.transcribe(AUDIO, sample_rate=16000), strings(3)),
    works("a good file", lambda m, f: m.transcribe([f["good"]]), strings(1)),
]

FIT = [
    raises("no transcripts", lambda m, f: m.fit(AUDIO, verbose=0), ValueError, "needs labels"),
    raises("one transcript string", lambda m, f: m.fit(AUDIO, "a bad", verbose=0), ValueError, "list of transcripts"),
    raises("fewer transcripts than clips", lambda m, f: m.fit(AUDIO, TEXT[:2], verbose=0), ValueError, "one transcript per clip", "3 clips and 2"),
    raises("transcripts as numbers", lambda m, f: m.fit(AUDIO, [1, 2, 3], verbose=0), ValueError, "strings", "rows [0, 1, 2]"),
    raises("characters outside the vocabulary", lambda m, f: m.fit(AUDIO, ["xyz", "a", "b"], verbose=0), ValueError, "x"),
    raises("nan samples", lambda m, f: m.fit(nan_at(0), TEXT, verbose=0), ValueError, "audio", "row 0"),
    raises("no clips", lambda m, f: m.fit(AUDIO[:0], [], verbose=0), ValueError, "no clips"),
    raises("a missing file", lambda m, f: m.fit([f["missing"]], ["a"], verbose=0), ValueError, "missing.wav"),
    raises("nan in validation data", lambda m, f: m.fit(AUDIO, TEXT, validation_data=(nan_at(1), TEXT), verbose=0), ValueError, "audio", "row 1"),
    raises("negative epochs", lambda m, f: m.fit(AUDIO, TEXT, epochs=-2, verbose=0), ValueError, "epochs"),
    works("empty transcripts", lambda m, f: finite_loss(m.fit(AUDIO, ["", "", ""], verbose=0)), bool),
]

EVALUATE = [
    raises("nan samples", lambda m, f: m.evaluate(nan_at(0), TEXT, verbose=0), ValueError, "row 0"),
    raises("fewer transcripts than clips", lambda m, f: m.evaluate(AUDIO, TEXT[:1], verbose=0), ValueError, "one transcript per clip"),
]
# fmt: on


@pytest.fixture(scope="module")
def model():
    model = speech_recognizer()
    model.compile(optimizer="adam")
    return model


@pytest.mark.parametrize(
    "case", corpus(transcribe=TRANSCRIBE, fit=FIT, evaluate=EVALUATE)
)
def test_bad_input(case, model, files):
    run_case(case, model, files)


def test_model_still_trains_after_every_bad_input(model):
    assert finite_loss(model.fit(AUDIO, TEXT, epochs=1, verbose=0))
    assert strings(3)(model.transcribe(AUDIO))
