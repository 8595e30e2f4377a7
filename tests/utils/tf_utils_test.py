import os
import subprocess
import sys
import textwrap

import keras
import pytest

from tests.test_case import TestCase

# Runs with `import tensorflow` failing, as on a JAX-only install.
_WITHOUT_TENSORFLOW = textwrap.dedent(
    """
    import os, sys
    sys.modules["tensorflow"] = None
    import keras
    import numpy as np
    import keras_mm

    words = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "red", "circle"]
    model = keras_mm.build_classifier(
        {"images": keras_mm.encoders.image(
             "cnn_small", image_shape=(32, 32, 3)),
         "text": keras_mm.encoders.text(
             "transformer_small", vocabulary=words, sequence_length=8,
             hidden_dim=16)},
        num_classes=3, fusion="cross_attention")
    keras_mm.build_captioner(
        encoder=keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        vocabulary=words, sequence_length=8, hidden_dim=16, num_layers=1)
    keras_mm.build_speech_recognizer(
        list("abc "), sample_rate=8000, max_duration=0.5, num_mel_bins=16,
        hidden_dim=16, num_layers=1, filters=4)

    rng = np.random.default_rng(0)
    batch = {
        "images": rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32"),
        "text": {"token_ids": rng.integers(4, 7, (4, 8)).astype("int32"),
                 "padding_mask": np.ones((4, 8), bool)},
    }

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return 2

        def __getitem__(self, index):
            return batch, np.array([0, 1, 2, 0])

    history = model.fit(Batches(), epochs=1, verbose=0)
    loss = history.history["loss"][0]
    assert np.isfinite(loss), loss
    path = os.path.join(sys.argv[1], "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(Batches(), verbose=0),
        model.predict(Batches(), verbose=0), atol=1e-6)
    try:
        model.fit({"images": batch["images"], "text": ["a red circle"] * 4},
                  np.zeros(4), verbose=0)
    except ImportError as error:
        print("ERROR:", error)
    try:
        keras_mm.export.saved_model(model, os.path.join(sys.argv[1], "m"))
    except ImportError as error:
        print("EXPORT:", error)
    """
)


# The child process runs JAX whatever the suite's backend, so one run of
# the suite (the JAX one) covers it.
@pytest.mark.skipif(
    keras.config.backend() != "jax", reason="runs once, in the JAX suite"
)
class WithoutTensorFlowTest(TestCase):
    def test_builds_trains_and_reloads_without_tensorflow(self):
        env = dict(os.environ, KERAS_BACKEND="jax")
        result = subprocess.run(
            [sys.executable, "-c", _WITHOUT_TENSORFLOW, self.get_temp_dir()],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        self.assertIn(
            "ERROR: `MultimodalClassifier.fit` on raw inputs needs TensorFlow",
            result.stdout,
        )
        self.assertIn("keras-mm[tensorflow]", result.stdout)
        self.assertIn("keras.utils.PyDataset", result.stdout)
        self.assertIn("EXPORT: Export needs TensorFlow", result.stdout)
