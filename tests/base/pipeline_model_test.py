import keras
import numpy as np
import pytest

from keras_mm.base.pipeline_model import PipelineModel
from keras_mm.base.pipeline_model import check_inputs
from keras_mm.layers.multimodal_preprocessor import MultimodalPreprocessor
from keras_mm.layers.word_tokenizer import WordTokenizer
from tests.test_case import TestCase

VOCAB = ["[PAD]", "[UNK]", "[START]", "[END]", "red", "blue"]


def toy_model():
    """Text + a number -> one logit, with the text tokenised in the pipeline."""
    inputs = {
        "text": {
            "token_ids": keras.Input((3,), dtype="int32", name="token_ids"),
            "padding_mask": keras.Input(
                (3,), dtype="bool", name="padding_mask"
            ),
        },
        "number": keras.Input((1,), name="number"),
    }
    embedded = keras.layers.Embedding(len(VOCAB), 4)(
        inputs["text"]["token_ids"]
    )
    x = keras.layers.Concatenate()(
        [keras.layers.Flatten()(embedded), inputs["number"]]
    )
    model = PipelineModel(
        inputs,
        keras.layers.Dense(1)(x),
        preprocessor=MultimodalPreprocessor({"text": WordTokenizer(VOCAB, 3)}),
    )
    model.compile(optimizer="adam", loss="mse")
    return model


class PipelineModelTest(TestCase):
    def setUp(self):
        super().setUp()
        self.x = {
            "text": ["red", "blue", "red blue", ""],
            "number": np.arange(4, dtype="float32")[:, None],
        }
        self.y = np.array([1.0, 0.0, 1.0, 0.0])

    def test_fit_evaluate_predict_on_raw_inputs(self):
        model = toy_model()
        history = model.fit(
            self.x,
            self.y,
            batch_size=2,
            epochs=2,
            verbose=0,
            validation_split=0.25,
        )
        self.assertEqual(len(history.history["val_loss"]), 2)
        self.assertEqual(model.predict(self.x, verbose=0).shape, (4, 1))
        loss = model.evaluate(self.x, self.y, verbose=0)
        self.assertTrue(np.isfinite(loss))

    def test_train_and_test_steps_are_traced_once(self):
        # Under TensorFlow, Keras creates the optimizer and metric
        # variables in the first trace unless the model builds them first,
        # and `tf.function` then traces the step twice.
        model = toy_model()
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        traces = {"train": 0, "test": 0}
        train_step, test_step = model.train_step, model.test_step

        def counting(kind, step):
            def wrapped(*args):  # JAX passes its state too.
                traces[kind] += 1
                return step(*args)

            return wrapped

        model.train_step = counting("train", train_step)
        model.test_step = counting("test", test_step)
        history = model.fit(
            self.x,
            self.y,
            batch_size=2,
            epochs=2,
            validation_data=(self.x, self.y),
            verbose=0,
        )
        self.assertEqual(traces, {"train": 1, "test": 1})
        self.assertTrue(np.isfinite(history.history["val_mae"]).all())

    def test_predict_agrees_with_call_on_preprocessed_inputs(self):
        model = toy_model()
        expected = model(model.preprocessor(self.x))
        self.assertAllClose(
            model.predict(self.x, verbose=0), expected, atol=1e-6
        )

    def test_validation_data_and_datasets(self):
        model = toy_model()
        history = model.fit(
            self.x,
            self.y,
            epochs=1,
            verbose=0,
            validation_data=(self.x, self.y),
        )
        self.assertIn("val_loss", history.history)

    def test_preprocessor_does_not_disable_xla(self):
        # The tokenizer's lookup layer cannot be compiled with XLA; as it
        # runs in tf.data, it must not turn XLA off for the whole model.
        # Keras decides with `_flatten_layers` (`trainer.model_supports_jit`).
        model = toy_model()
        layers = model._flatten_layers()
        self.assertTrue(all(layer.supports_jit for layer in layers))
        self.assertNotIn(model.preprocessor, layers)

    def test_saving_keeps_the_preprocessor(self):
        model = toy_model()
        path = self.get_temp_dir() + "/model.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertIsInstance(restored.preprocessor, MultimodalPreprocessor)
        self.assertAllClose(
            model.predict(self.x, verbose=0),
            restored.predict(self.x, verbose=0),
        )

    def test_key_errors_name_the_keys(self):
        model = toy_model()
        with pytest.raises(ValueError, match=r"unknown: \['audio'\]"):
            model.predict(dict(self.x, audio=np.zeros((4, 8))), verbose=0)
        with pytest.raises(ValueError, match=r"missing: \['number'\]"):
            model.fit({"text": self.x["text"]}, self.y, verbose=0)
        with pytest.raises(ValueError, match=r"number' must have shape"):
            model.evaluate(
                dict(self.x, number=np.zeros((4, 2))), self.y, verbose=0
            )

    def test_check_inputs(self):
        spec = keras.Input((None, 3))
        check_inputs(np.zeros((2, 5, 3)), spec)
        with pytest.raises(ValueError, match=r"\(batch, None, 3\)"):
            check_inputs(np.zeros((2, 5, 4)), spec)
        with pytest.raises(ValueError, match="must hold numbers"):
            check_inputs(["a", "b"], spec)
