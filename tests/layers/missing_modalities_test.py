import keras
import numpy as np
import pytest

from keras_mm.layers.missing_modalities import MissingModalities
from tests.test_case import TestCase


def features(batch=4, tokens=3, dim=4):
    return {
        "images": {
            "sequence_output": np.random.rand(batch, tokens, dim),
            "pooled_output": np.random.rand(batch, dim),
        },
        "text": {
            "sequence_output": np.random.rand(batch, 5, dim),
            "pooled_output": np.random.rand(batch, dim),
            "padding_mask": np.array([[1, 1, 0, 0, 0]] * batch, bool),
        },
    }


class MissingModalitiesTest(TestCase):
    def test_absent_rows_get_the_learned_vector(self):
        layer = MissingModalities()
        x = features()
        present = {
            "images": np.array([True, False, True, False]),
            "text": np.array([True, True, False, False]),
        }
        out = keras.tree.map_structure(
            keras.ops.convert_to_numpy, layer(x, present)
        )
        image_vector = keras.ops.convert_to_numpy(layer.embeddings["images_4"])
        # Present rows pass through; absent rows hold the learned vector,
        # in every token and in the pooled features.
        self.assertAllClose(
            out["images"]["pooled_output"][0], x["images"]["pooled_output"][0]
        )
        self.assertAllClose(out["images"]["pooled_output"][1], image_vector)
        self.assertAllClose(
            out["images"]["sequence_output"][3], np.tile(image_vector, (3, 1))
        )
        self.assertAllClose(
            out["text"]["sequence_output"][:2], x["text"]["sequence_output"][:2]
        )
        # Absent rows attend to every (learned) token; present rows keep
        # their padding.
        np.testing.assert_array_equal(
            out["text"]["padding_mask"][:, :3],
            [[1, 1, 0], [1, 1, 0], [1, 1, 1], [1, 1, 1]],
        )
        np.testing.assert_array_equal(
            out["images"]["padding_mask"], np.ones((4, 3), bool)
        )

    def test_modality_dropout_never_hides_every_modality(self):
        layer = MissingModalities(rate=0.5, seed=1)
        x = features(batch=256)
        present = {
            "images": np.ones(256, bool),
            "text": np.arange(256) % 2 == 0,
        }
        out = layer(x, present, training=True)
        out = keras.tree.map_structure(keras.ops.convert_to_numpy, out)
        vectors = {
            key: keras.ops.convert_to_numpy(layer.embeddings[f"{key}_4"])
            for key in ("images", "text")
        }
        hidden = {
            key: np.all(
                np.isclose(out[key]["pooled_output"], vectors[key]), axis=1
            )
            for key in vectors
        }
        # Absent rows stay absent, some present ones are hidden, and no row
        # loses both modalities.
        self.assertTrue(np.all(hidden["text"][1::2]))
        # Images can only be hidden where the text is present.
        self.assertGreater(hidden["images"][::2].mean(), 0.2)
        self.assertGreater(hidden["text"][::2].mean(), 0.2)
        self.assertFalse(np.any(hidden["images"] & hidden["text"]))
        # No dropout at inference.
        inference = keras.ops.convert_to_numpy(
            layer(x, present)["images"]["pooled_output"]
        )
        self.assertAllClose(inference, x["images"]["pooled_output"])

    def test_keras_mask_becomes_a_padding_mask(self):
        token_ids = keras.Input((4,), dtype="int32")
        sequence = keras.layers.Embedding(10, 4, mask_zero=True)(token_ids)
        pooled = keras.layers.GlobalAveragePooling1D()(sequence)
        present = keras.Input((), dtype="bool")
        out = MissingModalities()(
            {"text": {"sequence_output": sequence, "pooled_output": pooled}},
            {"text": present},
        )
        model = keras.Model([token_ids, present], out["text"]["padding_mask"])
        mask = model.predict(
            [np.array([[3, 4, 0, 0], [5, 0, 0, 0]]), np.array([True, False])],
            verbose=0,
        )
        np.testing.assert_array_equal(mask, [[1, 1, 0, 0], [1, 1, 1, 1]])

    def test_serialization_and_saving(self):
        layer = MissingModalities(rate=0.2, seed=3)
        revived = MissingModalities.from_config(layer.get_config())
        self.assertEqual(revived.get_config(), layer.get_config())
        inputs = {
            "images": {
                "sequence_output": keras.Input((3, 4)),
                "pooled_output": keras.Input((4,)),
            }
        }
        present = {"images": keras.Input((), dtype="bool")}
        out = layer(inputs, present)
        model = keras.Model([inputs, present], out["images"]["pooled_output"])
        x = features()
        data = [
            {"images": x["images"]},
            {"images": np.array([True, False, True, False])},
        ]
        self.run_model_saving_test(model, data)

    def test_bad_rate(self):
        with pytest.raises(ValueError, match="rate"):
            MissingModalities(rate=1.0)
