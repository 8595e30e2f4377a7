import os

import keras
import numpy as np
import pandas as pd
import pytest

import keras_mm
from tests.test_case import TestCase

NAMES = ["circle", "square", "triangle"]


def tiny_model(**kwargs):
    return keras_mm.build_classifier(
        {"images": keras_mm.encoders.image("cnn_small", image_shape=(8, 8, 3))},
        num_classes=3,
        hidden_dim=8,
        **kwargs,
    )


class ClassNamesTest(TestCase):
    def test_string_labels_train_predict_and_save(self):
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (12, 8, 8, 3)).astype("uint8")
        labels = ["triangle", "circle", "square"] * 4
        model = tiny_model()
        model.fit({"images": images}, labels, batch_size=4, verbose=0)
        # The first string labels named the classes, sorted.
        self.assertEqual(model.class_names, NAMES)
        indices = np.array([NAMES.index(name) for name in labels])
        self.assertAllClose(
            model.evaluate({"images": images}, labels, verbose=0),
            model.evaluate({"images": images}, indices, verbose=0),
        )
        names = model.predict_labels({"images": images}, verbose=0)
        probabilities = model.predict({"images": images}, verbose=0)
        np.testing.assert_array_equal(
            names, np.array(NAMES)[probabilities.argmax(-1)]
        )
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertEqual(loaded.class_names, NAMES)
        np.testing.assert_array_equal(
            loaded.predict_labels({"images": images}, verbose=0), names
        )

    def test_string_label_column_of_a_frame(self):
        model = tiny_model(class_names=["owl", "cat", "dog"])
        frame = pd.DataFrame(
            {
                "images": list(np.zeros((4, 8, 8, 3), "uint8")),
                "kind": ["dog", "owl", "cat", "dog"],
            }
        )
        history = model.fit(frame, "kind", batch_size=2, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        self.assertEqual(model.class_names, ["owl", "cat", "dog"])

    def test_bad_names_and_labels(self):
        with pytest.raises(ValueError, match="list of 3 different strings"):
            tiny_model(class_names=["a", "b"])
        with pytest.raises(ValueError, match="list of 3 different strings"):
            tiny_model(class_names=["a", "a", "b"])
        images = {"images": np.zeros((4, 8, 8, 3), "uint8")}
        with pytest.raises(ValueError, match="2 different ones.*3 classes"):
            tiny_model().fit(images, ["a", "b", "a", "b"], verbose=0)
        model = tiny_model(class_names=NAMES)
        with pytest.raises(ValueError, match=r"Labels \['star'\] are not"):
            model.fit(images, ["circle", "star"] * 2, verbose=0)
        regressor = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(8, 8, 3)
                )
            },
            num_classes=None,
            activation=None,
            hidden_dim=8,
        )
        with pytest.raises(ValueError, match="regressor"):
            regressor.predict_labels(images, verbose=0)
