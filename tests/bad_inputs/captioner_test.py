"""Bad inputs to an image captioner's `fit`, `evaluate` and `generate`,
one line each, on one model that must still caption after all of them."""

import numpy as np
import pytest

from tests.bad_inputs.harness import corpus
from tests.bad_inputs.harness import raises
from tests.bad_inputs.harness import run_case
from tests.bad_inputs.harness import strings
from tests.bad_inputs.harness import works
from tests.export.saved_model_test import CAPTIONS
from tests.export.saved_model_test import image_captioner

IMAGES = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), "uint8")
X = {"images": IMAGES, "text": CAPTIONS}


def nan_at(row):
    images = IMAGES.astype("float32")
    images[row, 0, 0, 0] = np.nan
    return images


# One case per line, as the harness asks.
# fmt: off
GENERATE = [
    raises("nan pixels", lambda m: m.generate(nan_at(1)), ValueError, "images", "NaN or infinite", "row 1"),
    raises("inf pixels everywhere", lambda m: m.generate(np.full((2, 32, 32, 3), np.inf, "float32")), ValueError, "images", "2 rows"),
    raises("one image without a batch axis", lambda m: m.generate(IMAGES[0]), ValueError, "images[None]"),
    raises("images of rank 5", lambda m: m.generate(IMAGES[None]), ValueError, "(batch, height, width, 3)"),
    raises("images with 4 channels", lambda m: m.generate(np.zeros((2, 32, 32, 4), "uint8")), ValueError, "(batch, height, width, 3)"),
    raises("images of different sizes in a list", lambda m: m.generate([IMAGES[0], np.zeros((40, 20, 3), "uint8")]), ValueError, "same shape", "(40, 20, 3)"),
    raises("strings for images", lambda m: m.generate(["a red circle"]), ValueError, "images"),
    raises("None", lambda m: m.generate(None), ValueError, "images", "object"),
    raises("a dict of unknown inputs", lambda m: m.generate({"pictures": IMAGES}), ValueError, "images", "pictures"),
    raises("unknown sampler", lambda m: m.generate(IMAGES, sampler="magic"), ValueError, "sampler", "magic"),
    raises("max_length 0", lambda m: m.generate(IMAGES, max_length=0), ValueError, "max_length"),
    raises("max_length over sequence_length", lambda m: m.generate(IMAGES, max_length=99), ValueError, "max_length", "99"),
    raises("num_beams 0", lambda m: m.generate(IMAGES, sampler="beam", num_beams=0), ValueError, "num_beams"),
    raises("temperature 0", lambda m: m.generate(IMAGES, sampler="top_k", temperature=0), ValueError, "temperature"),
    raises("p over 1", lambda m: m.generate(IMAGES, sampler="top_p", p=1.5), ValueError, "p"),
    raises("k 0", lambda m: m.generate(IMAGES, sampler="top_k", k=0), ValueError, "k"),
    raises("batch size 0", lambda m: m.generate(IMAGES, batch_size=0), ValueError, "batch_size"),
    raises("sample rate for images", lambda m: m.generate(IMAGES, sample_rate=-1), ValueError, "sample_rate"),
    works("no images", lambda m: m.generate(np.zeros((0, 32, 32, 3), "uint8")), strings(0)),
    works("float pixels", lambda m: m.generate(IMAGES.astype("float32")), strings(3)),
    works("images of another size", lambda m: m.generate(np.zeros((2, 48, 20, 3), "uint8")), strings(2)),
    works("a list of images", lambda m: m.generate(list(IMAGES)), strings(3)),
    works("beam search", lambda m: m.generate(IMAGES[:1], sampler="beam", num_beams=2), strings(1)),
]

FIT = [
    raises("no captions", lambda m: m.fit({"images": IMAGES}, verbose=0), ValueError, "keys", "text"),
    raises("labels given as y", lambda m: m.fit(X, np.zeros(3), verbose=0), ValueError, "pass no `y`"),
    raises("captions as numbers", lambda m: m.fit({"images": IMAGES, "text": [1, 2, 3]}, verbose=0), ValueError, "Captions must be strings", "rows [0, 1, 2]"),
    raises("a None caption", lambda m: m.fit({"images": IMAGES, "text": ["a", None, "b"]}, verbose=0), ValueError, "strings", "rows [1]"),
    raises("fewer captions than images", lambda m: m.fit({"images": IMAGES, "text": CAPTIONS[:2]}, verbose=0), ValueError, "one caption per input", "3 images and 2 captions"),
    raises("no rows", lambda m: m.fit({"images": IMAGES[:0], "text": []}, verbose=0), ValueError, "at least one caption"),
    raises("nan pixels", lambda m: m.fit({"images": nan_at(0), "text": CAPTIONS}, verbose=0), ValueError, "images", "row 0"),
    raises("not a dict", lambda m: m.fit(IMAGES, CAPTIONS, verbose=0), ValueError, "must be a dict", "ndarray"),
    raises("an extra key", lambda m: m.fit(dict(X, audio=IMAGES), verbose=0), ValueError, "keys", "audio"),
    raises("epochs as a string", lambda m: m.fit(X, epochs="2", verbose=0), ValueError, "epochs"),
    raises("validation split 1", lambda m: m.fit(X, validation_split=1.0, verbose=0), ValueError, "validation_split"),
    raises("nan pixels in validation data", lambda m: m.fit(X, validation_data={"images": nan_at(2), "text": CAPTIONS}, verbose=0), ValueError, "images", "row 2"),
    raises("no inputs", lambda m: m.fit(None, verbose=0), ValueError, "needs inputs"),
    works("one caption string for one image", lambda m: m.fit({"images": IMAGES[:1], "text": "a cross"}, verbose=0).history["loss"], lambda loss: np.isfinite(loss).all()),
    works("unicode captions", lambda m: m.fit({"images": IMAGES, "text": ["日本語", "🚗 e\u0301", ""]}, verbose=0).history["loss"], lambda loss: np.isfinite(loss).all()),
]

EVALUATE = [
    raises("captions as numbers", lambda m: m.evaluate({"images": IMAGES, "text": [1, 2, 3]}, verbose=0), ValueError, "strings"),
    raises("nan pixels", lambda m: m.evaluate({"images": nan_at(1), "text": CAPTIONS}, verbose=0), ValueError, "row 1"),
    raises("no rows", lambda m: m.evaluate({"images": IMAGES[:0], "text": []}, verbose=0), ValueError, "at least one caption"),
]
# fmt: on


@pytest.fixture(scope="module")
def model():
    model = image_captioner()
    model.compile(optimizer="adam")
    return model


@pytest.mark.parametrize(
    "case", corpus(generate=GENERATE, fit=FIT, evaluate=EVALUATE)
)
def test_bad_input(case, model):
    run_case(case, model)


def test_model_still_captions_after_every_bad_input(model):
    history = model.fit(X, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert strings(3)(model.generate(IMAGES))
