import keras
import numpy as np
import tensorflow as tf

import keras_mm
from keras_mm.data.adapters import holds_raw_inputs
from tests.base.pipeline_model_test import toy_model
from tests.test_case import TestCase

TEXT = ["red", "blue", "red blue", "", "blue red", "red"]
NUMBER = np.arange(6, dtype="float32")[:, None]
LABELS = np.array([1.0, 0.0, 1.0, 0.0, 0.0, 1.0], "float32")


class RawBatches(keras.utils.PyDataset):
    """Two batches of raw text, as a user's PyDataset yields them."""

    def __init__(self, labels=True):
        super().__init__()
        self.labels = labels

    def __len__(self):
        return 2

    def __getitem__(self, index):
        rows = slice(3 * index, 3 * index + 3)
        x = {"text": TEXT[rows], "number": NUMBER[rows]}
        return (x, LABELS[rows]) if self.labels else (x,)


class AdaptersTest(TestCase):
    def setUp(self):
        super().setUp()
        self.model = toy_model()
        self.x = {"text": TEXT, "number": NUMBER}
        self.expected = self.model.predict(self.x, verbose=0)

    def test_py_dataset_of_raw_inputs(self):
        history = self.model.fit(RawBatches(), epochs=2, verbose=0)
        self.assertLen(history.history["loss"], 2)
        model = toy_model()
        self.assertAllClose(
            model.predict(RawBatches(labels=False), verbose=0),
            model.predict(self.x, verbose=0),
        )
        self.assertIn("loss", model.evaluate(RawBatches(), return_dict=True))

    def test_unbatched_dataset(self):
        examples = tf.data.Dataset.from_tensor_slices((self.x, LABELS))
        with self.assertRaisesRegex(
            ValueError, r"single examples.*'text'.*shape \(\).*\.batch\(32\)"
        ):
            self.model.fit(examples, verbose=0)
        self.model.fit(examples, batch_size=4, verbose=0)
        self.assertEqual(int(self.model.optimizer.iterations), 2)
        model = toy_model()
        inputs = tf.data.Dataset.from_tensor_slices(self.x)
        self.assertAllClose(
            model.predict(inputs, batch_size=4, verbose=0),
            model.predict(self.x, verbose=0),
        )
        # Batched datasets are used as they are.
        self.assertAllClose(
            model.predict(inputs.batch(5), verbose=0),
            model.predict(self.x, verbose=0),
        )

    def test_model_inputs_are_not_raw(self):
        model_inputs = self.model.input
        token_ids = {
            "text": {
                "token_ids": np.zeros((2, 3), "int32"),
                "padding_mask": np.ones((2, 3), bool),
            },
            "number": NUMBER[:2],
        }
        self.assertFalse(holds_raw_inputs((token_ids,), model_inputs))
        raw = {"text": ["red", "blue"], "number": NUMBER[:2]}
        self.assertTrue(holds_raw_inputs((raw, LABELS[:2]), model_inputs))
        self.assertTrue(holds_raw_inputs({"number": NUMBER}, model_inputs))

    def test_py_dataset_of_waveforms_of_different_lengths(self):
        rng = np.random.default_rng(0)
        audio = [
            rng.normal(0, 0.1, n).astype("float32")
            for n in (6000, 8000, 7000, 5000)
        ]
        texts = ["ab", "ba", "a b", "b"]

        class Clips(keras.utils.PyDataset):
            def __len__(self):
                return 2

            def __getitem__(self, index):
                rows = slice(2 * index, 2 * index + 2)
                return audio[rows], texts[rows]

        recognizer = keras_mm.build_speech_recognizer(
            vocabulary=list("ab "),
            sample_rate=8000,
            max_duration=1.0,
            hidden_dim=8,
            num_layers=1,
        )
        recognizer.fit(Clips(), epochs=1, verbose=0)
        self.assertEqual(int(recognizer.optimizer.iterations), 2)


class CountBatches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.train = self.test = 0

    def on_train_batch_end(self, batch, logs=None):
        self.train += 1

    def on_test_batch_end(self, batch, logs=None):
        self.test += 1


class GeneratorAndHuggingFaceTest(TestCase):
    def test_generator_of_raw_batches_loses_no_batch(self):
        model = toy_model()

        def batches():
            for start in (0, 2, 4):
                rows = slice(start, start + 2)
                x = {"text": TEXT[rows], "number": NUMBER[rows]}
                yield x, LABELS[rows]

        counter = CountBatches()
        # Keras warns at the end of any source of unknown length.
        with self.assertWarnsRegex(UserWarning, "ran out of data"):
            model.fit(batches(), epochs=1, verbose=0, callbacks=[counter])
        # The model was built from the pipeline's shapes, not from a batch
        # taken from the generator: all three batches trained.
        self.assertEqual(counter.train, 3)
        with self.assertWarnsRegex(UserWarning, "ran out of data"):
            scores = model.evaluate(batches(), verbose=0, callbacks=[counter])
        self.assertEqual(counter.test, 3)
        self.assertAllClose(
            scores,
            model.evaluate({"text": TEXT, "number": NUMBER}, LABELS, verbose=0),
        )
        with self.assertRaisesRegex(ValueError, "yielded no batch"):
            model.fit(iter([]), verbose=0)

    def test_hugging_face_dataset(self):
        import datasets

        model = toy_model()
        table = datasets.Dataset.from_dict(
            {"text": TEXT, "number": NUMBER.tolist(), "y": LABELS.tolist()}
        )
        history = model.fit(table, "y", batch_size=3, epochs=2, verbose=0)
        self.assertLen(history.history["loss"], 2)
        expected = model.predict({"text": TEXT, "number": NUMBER}, verbose=0)
        self.assertAllClose(model.predict(table, verbose=0), expected)
        through_tf = table.to_tf_dataset(
            columns=["text", "number"], label_cols="y", batch_size=4
        )
        self.assertAllClose(
            model.evaluate(through_tf, verbose=0),
            model.evaluate({"text": TEXT, "number": NUMBER}, LABELS, verbose=0),
        )
        with self.assertRaisesRegex(ValueError, "`y` must name a column"):
            model.fit(table, "label", verbose=0)
