"""Bad inputs to a classifier's `fit`, `evaluate`, `predict` and
`predict_labels`: each one line, run on one model that must still train
after all of them."""

import numpy as np
import pytest
import tensorflow as tf

from tests.bad_inputs.harness import corpus
from tests.bad_inputs.harness import raises
from tests.bad_inputs.harness import run_case
from tests.bad_inputs.harness import works
from tests.export.saved_model_test import classifier
from tests.export.saved_model_test import inputs

X = inputs()
Y = np.array([0, 1, 2, 0])


def changed(**values):
    """The good inputs with some keys replaced (`None`: removed)."""
    x = dict(X, **values)
    return {k: v for k, v in x.items() if v is not None}


def nan_at(array, row):
    array = np.array(array, "float32")
    array[row].flat[0] = np.nan
    return array


def inf_at(array, row):
    array = np.array(array, "float32")
    array[row].flat[-1] = -np.inf
    return array


def images_of_sizes(*sizes):
    return [np.zeros(size + (3,), "uint8") for size in sizes]


def fit(m, x, y=Y, **kwargs):
    return m.fit(x, y, verbose=0, **kwargs)


def finite(out):
    return np.isfinite(out).all()


def shaped(rows):
    return lambda out: out.shape == (rows, 3) and finite(out)


def dataset(rows, batch=2):
    return tf.data.Dataset.from_tensor_slices(
        ({k: v[:rows] for k, v in X.items()}, Y[:rows])
    ).batch(batch)


NOT_FINITE = ("NaN or infinite",)

# One case per line, as the harness asks.
# fmt: off
PREDICT = [
    raises("nan pixels", lambda m: m.predict(changed(images=nan_at(X["images"], 0))), ValueError, "images", *NOT_FINITE, "row 0"),
    raises("inf pixels in row 2", lambda m: m.predict(changed(images=inf_at(X["images"], 2))), ValueError, "images", "row 2"),
    raises("nan audio", lambda m: m.predict(changed(audio=nan_at(X["audio"], 1))), ValueError, "audio", *NOT_FINITE, "row 1"),
    raises("inf waveform in a list", lambda m: m.predict(changed(audio=list(inf_at(X["audio"], 3)))), ValueError, "audio", "row 3"),
    raises("nan in every row", lambda m: m.predict(changed(audio=X["audio"] * np.nan)), ValueError, "4 rows"),
    raises("bare array", lambda m: m.predict(X["images"]), ValueError, "must be a dict", "images", "text", "audio"),
    raises("list of inputs", lambda m: m.predict([X["images"], X["text"], X["audio"]]), ValueError, "must be a dict", "list"),
    raises("tuple of inputs", lambda m: m.predict((X["images"], X["text"])), ValueError, "must be a dict", "tuple"),
    raises("no inputs", lambda m: m.predict(None), ValueError, "needs inputs", "None"),
    raises("missing text", lambda m: m.predict(changed(text=None)), ValueError, "missing", "text"),
    raises("missing two keys", lambda m: m.predict({"images": X["images"]}), ValueError, "audio", "text"),
    raises("unknown key", lambda m: m.predict(changed(colour=X["text"])), ValueError, "unknown", "colour"),
    raises("misspelt key", lambda m: m.predict(changed(image=X["images"], images=None)), ValueError, "image", "images"),
    raises("images of rank 3", lambda m: m.predict(changed(images=X["images"][..., 0])), ValueError, "images", "shape", "(4, 32, 32)"),
    raises("images of rank 5", lambda m: m.predict(changed(images=X["images"][None])), ValueError, "images", "shape"),
    raises("images with 4 channels", lambda m: m.predict(changed(images=np.zeros((4, 32, 32, 4), "uint8"))), ValueError, "images", "shape"),
    raises("images as strings", lambda m: m.predict(changed(images=np.full((4, 32, 32, 3), "a"))), ValueError, "images", "numbers"),
    raises("complex images", lambda m: m.predict(changed(images=X["images"].astype(complex))), ValueError, "images", "complex"),
    raises("one image of a list with 7 channels", lambda m: m.predict(changed(images=images_of_sizes((8, 8), (9, 9), (10, 10)) + [np.zeros((4, 4, 7))])), ValueError, "image 3", "images"),
    raises("missing image files", lambda m: m.predict(changed(images=["/no/such.png"] * 4)), ValueError, "/no/such.png", "row 0", "no such file"),
    raises("missing audio files", lambda m: m.predict(changed(audio=["/no/such.wav"] * 4)), ValueError, "/no/such.wav", "no such file"),
    raises("one text string", lambda m: m.predict(changed(text="a red circle")), ValueError, "text", "wrap it in a list"),
    raises("text as numbers", lambda m: m.predict(changed(text=[1, 2, 3, 4])), ValueError, "text", "strings"),
    raises("text with a None row", lambda m: m.predict(changed(text=[None, "a", "b", "c"])), ValueError, "text", "missing", "rows 0"),
    raises("fewer texts than images", lambda m: m.predict(changed(text=X["text"][:2])), ValueError, "same number of rows", "[2, 4]"),
    raises("fewer waveforms than images", lambda m: m.predict(changed(audio=X["audio"][:3])), ValueError, "same number of rows"),
    raises("audio of rank 4", lambda m: m.predict(changed(audio=X["audio"][:, :, None, None])), ValueError, "audio"),
    raises("audio with 9 channels", lambda m: m.predict(changed(audio=np.zeros((4, 100, 9), "float32"))), ValueError, "channels"),
    raises("no rows", lambda m: m.predict({k: v[:0] for k, v in X.items()}), ValueError, "no rows", "predict"),
    raises("batch size 0", lambda m: m.predict(X, batch_size=0), ValueError, "batch_size", "0"),
    raises("batch size as a string", lambda m: m.predict(X, batch_size="8"), ValueError, "batch_size", "'8'"),
    raises("batch size as a float", lambda m: m.predict(X, batch_size=2.5), ValueError, "batch_size", "2.5"),
    works("images of different sizes", lambda m: m.predict(changed(images=images_of_sizes((32, 32), (40, 20), (8, 8), (64, 64)))), shaped(4)),
    works("float pixels over 255", lambda m: m.predict(changed(images=np.full((4, 32, 32, 3), 1e6, "float32"))), shaped(4)),
    works("bool pixels", lambda m: m.predict(changed(images=X["images"] > 100)), shaped(4)),
    works("int16 waveforms", lambda m: m.predict(changed(audio=(X["audio"] * 1000).astype("int16"))), shaped(4)),
    works("waveforms of zero samples", lambda m: m.predict(changed(audio=[np.zeros(0, "float32")] * 4)), shaped(4)),
    works("waveforms longer than max_duration", lambda m: m.predict(changed(audio=np.zeros((4, 9000), "float32"))), shaped(4)),
    works("silence at full scale", lambda m: m.predict(changed(audio=np.ones((4, 100), "float32"))), shaped(4)),
    works("empty strings", lambda m: m.predict(changed(text=[""] * 4)), shaped(4)),
    works("unicode and control characters", lambda m: m.predict(changed(text=["\u202e\u0000", "日本語", "e\u0301\u0301", "🚗" * 500])), shaped(4)),
    works("a very long text", lambda m: m.predict(changed(text=["red " * 20000] * 4)), shaped(4)),
    works("bytes text", lambda m: m.predict(changed(text=[t.encode() for t in X["text"]])), shaped(4)),
    works("one row", lambda m: m.predict({k: v[:1] for k, v in X.items()}), shaped(1)),
    works("a batched dataset", lambda m: m.predict(dataset(4).map(lambda x, y: x)), shaped(4)),
]

FIT = [
    raises("no labels", lambda m: m.fit(X, verbose=0), ValueError, "needs labels", "y=None"),
    raises("a label out of range", lambda m: fit(m, X, np.array([0, 1, 3, 0])), ValueError, "[0, 3)", "row 2: 3"),
    raises("a negative label", lambda m: fit(m, X, np.array([-1, 1, 2, 0])), ValueError, "[0, 3)", "row 0: -1"),
    raises("a NaN label", lambda m: fit(m, X, np.array([0, np.nan, 2, 0])), ValueError, "row 1: nan"),
    raises("a fractional label", lambda m: fit(m, X, np.array([0.5, 1, 2, 0])), ValueError, "row 0: 0.5"),
    raises("bool labels", lambda m: fit(m, X, np.array([True, False, True, True])), ValueError, "integers", "bool"),
    raises("one-hot labels", lambda m: fit(m, X, np.eye(3)[[0, 1, 2, 0]]), ValueError, "one class index per row", "categorical_crossentropy"),
    raises("labels of rank 3", lambda m: fit(m, X, np.zeros((4, 1, 1))), ValueError, "one class index per row", "(4, 1, 1)"),
    raises("four class names for three classes", lambda m: fit(m, X, np.array(["a", "b", "c", "d"])), ValueError, "class_names", "3 classes"),
    raises("a None among the labels", lambda m: fit(m, X, [0, None, 1, 2]), ValueError, "class names", "None"),
    raises("labels in a dict", lambda m: fit(m, X, {"label": Y}), ValueError, "one output", "label"),
    raises("fewer labels than rows", lambda m: fit(m, X, Y[:2]), ValueError, "same number of rows", "[2, 4]"),
    raises("more labels than rows", lambda m: fit(m, X, np.zeros(9, "int32")), ValueError, "same number of rows"),
    raises("no rows", lambda m: fit(m, {k: v[:0] for k, v in X.items()}, Y[:0]), ValueError, "no rows", "fit"),
    raises("an empty dataset", lambda m: m.fit(dataset(4).take(0), verbose=0), ValueError, "no rows"),
    raises("nan pixels", lambda m: fit(m, changed(images=nan_at(X["images"], 3))), ValueError, "images", "row 3"),
    raises("inf audio", lambda m: fit(m, changed(audio=inf_at(X["audio"], 0))), ValueError, "audio", "row 0"),
    raises("nan in validation data", lambda m: fit(m, X, validation_data=(changed(audio=nan_at(X["audio"], 2)), Y)), ValueError, "audio", "row 2"),
    raises("labels out of range in validation data", lambda m: fit(m, X, validation_data=(X, Y + 5)), ValueError, "[0, 3)"),
    raises("nan sample weight", lambda m: fit(m, X, sample_weight=np.array([1, np.nan, 1, 1])), ValueError, "sample_weight", "row 1"),
    raises("negative sample weight", lambda m: fit(m, X, sample_weight=np.array([1, -1, 1, 1])), ValueError, "sample_weight", "negative"),
    raises("string sample weights", lambda m: fit(m, X, sample_weight=np.array(["a"] * 4)), ValueError, "sample_weight", "numbers"),
    raises("fewer sample weights than rows", lambda m: fit(m, X, sample_weight=np.ones(3)), ValueError, "same number of rows"),
    raises("validation split of 1.5", lambda m: fit(m, X, validation_split=1.5), ValueError, "validation_split", "1.5"),
    raises("validation split of -0.1", lambda m: fit(m, X, validation_split=-0.1), ValueError, "validation_split"),
    raises("epochs as a string", lambda m: fit(m, X, epochs="two"), ValueError, "epochs", "'two'"),
    raises("negative epochs", lambda m: fit(m, X, epochs=-1), ValueError, "epochs", "-1"),
    raises("batch size 0", lambda m: fit(m, X, batch_size=0), ValueError, "batch_size"),
    raises("no inputs", lambda m: m.fit(None, Y, verbose=0), ValueError, "needs inputs"),
    raises("a bare array", lambda m: fit(m, X["images"]), ValueError, "must be a dict", "text"),
    works("labels as a column", lambda m: fit(m, X, Y[:, None]).history["loss"], lambda loss: np.isfinite(loss).all()),
    works("float labels that are integers", lambda m: fit(m, X, Y.astype("float32")).history["loss"], lambda loss: np.isfinite(loss).all()),
]

EVALUATE = [
    raises("no labels", lambda m: m.evaluate(X, verbose=0), ValueError, "needs labels", "evaluate"),
    raises("a label out of range", lambda m: m.evaluate(X, Y * 3, verbose=0), ValueError, "[0, 3)", "row 1: 3"),
    raises("no rows", lambda m: m.evaluate({k: v[:0] for k, v in X.items()}, Y[:0], verbose=0), ValueError, "no rows", "evaluate"),
    raises("nan audio", lambda m: m.evaluate(changed(audio=nan_at(X["audio"], 0)), Y, verbose=0), ValueError, "audio", "row 0"),
    raises("a missing key", lambda m: m.evaluate(changed(audio=None), Y, verbose=0), ValueError, "missing", "audio"),
    raises("nan sample weight", lambda m: m.evaluate(X, Y, sample_weight=np.full(4, np.inf), verbose=0), ValueError, "sample_weight"),
    raises("batch size as a float", lambda m: m.evaluate(X, Y, batch_size=1.5, verbose=0), ValueError, "batch_size"),
    works("a batched dataset", lambda m: m.evaluate(dataset(4), verbose=0), lambda out: np.isfinite(out).all()),
]

PREDICT_LABELS = [
    raises("nan pixels", lambda m: m.predict_labels(changed(images=nan_at(X["images"], 1))), ValueError, "images", "row 1"),
    raises("a bare array", lambda m: m.predict_labels(X["images"]), ValueError, "must be a dict"),
    works("labels of good inputs", lambda m: m.predict_labels(X, verbose=0), lambda out: np.isin(out, [0, 1, 2]).all()),
]
# fmt: on


@pytest.fixture(scope="module")
def model():
    model = classifier()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize(
    "case",
    corpus(
        predict=PREDICT,
        fit=FIT,
        evaluate=EVALUATE,
        predict_labels=PREDICT_LABELS,
    ),
)
def test_bad_input(case, model):
    run_case(case, model)


def test_model_still_trains_after_every_bad_input(model):
    """No failed call above left the model without its weights (Keras' JAX
    trainer empties them while a step runs) or with NaN ones."""
    before = model.predict(X, verbose=0)
    history = model.fit(X, Y, epochs=2, verbose=0)
    after = model.predict(X, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert np.isfinite(before).all() and np.isfinite(after).all()
    assert not np.allclose(before, after)
