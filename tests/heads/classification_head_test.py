import keras
import numpy as np
import pytest

from keras_mm.heads.classification_head import ClassificationHead
from tests.test_case import TestCase


class ClassificationHeadTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            ClassificationHead,
            {"num_classes": 3, "hidden_dim": 4, "dropout": 0.1},
            np.random.rand(2, 8).astype("float32"),
            expected_output_shape=(2, 3),
            run_precision_check=False,  # The output layer stays float32.
        )

    def test_probabilities_stay_float32_under_mixed_precision(self):
        head = ClassificationHead(3, hidden_dim=4, dtype="mixed_bfloat16")
        out = head(np.random.rand(2, 8).astype("float32"))
        self.assertEqual(keras.backend.standardize_dtype(out.dtype), "float32")
        self.assertEqual(head.hidden.dtype_policy.name, "mixed_bfloat16")
        self.assertAllClose(np.sum(out, axis=-1), np.ones(2), atol=1e-5)

    def test_regression_and_sigmoid(self):
        x = np.random.rand(2, 8).astype("float32")
        self.assertEqual(tuple(ClassificationHead(None, None)(x).shape), (2, 1))
        out = keras.ops.convert_to_numpy(ClassificationHead(4, "sigmoid")(x))
        self.assertTrue(((out > 0) & (out < 1)).all())

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="num_classes=0"):
            ClassificationHead(0)
        with pytest.raises(ValueError, match="activation='relu'"):
            ClassificationHead(2, activation="relu")
        with pytest.raises(ValueError, match="regression"):
            ClassificationHead(None, activation="softmax")
        with pytest.raises(ValueError, match="hidden_activation='swoosh'"):
            ClassificationHead(2, hidden_dim=4, hidden_activation="swoosh")

    def test_hidden_activation(self):
        head = ClassificationHead(3, hidden_dim=4)
        self.assertEqual(head.hidden.activation, keras.activations.relu)
        gelu = ClassificationHead(3, hidden_dim=4, hidden_activation="gelu")
        self.assertEqual(gelu.hidden.activation, keras.activations.gelu)
        revived = ClassificationHead.from_config(gelu.get_config())
        self.assertEqual(revived.hidden.activation, keras.activations.gelu)
        # A head saved before `hidden_activation` existed was ReLU, and
        # loads as such.
        config = gelu.get_config()
        del config["hidden_activation"]
        old = ClassificationHead.from_config(config)
        self.assertEqual(old.hidden.activation, keras.activations.relu)
