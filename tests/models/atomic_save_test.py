"""A task's `save` replaces a `.keras` file only once the new one is
complete: a process killed mid-save leaves the old file whole."""

import glob
import os
import subprocess
import sys

import keras
import numpy as np

import keras_mm
from tests.test_case import TestCase

# Saves a tiny classifier, predicts, then saves again and is killed
# (SIGKILL) while Keras writes the archive.
CHILD = """
import os, signal, sys, zipfile
import numpy as np
import keras, keras_mm
path = sys.argv[1]
keras.utils.set_random_seed(0)
model = keras_mm.build_classifier(
    {"images": keras_mm.encoders.image("cnn_small", image_shape=(8, 8, 3))},
    num_classes=2, hidden_dim=8)
x = {"images": np.zeros((2, 8, 8, 3), "uint8")}
model.save(path)
np.save(path + ".npy", model.predict(x, verbose=0))
model.fit(x, np.array([0, 1]), epochs=3, verbose=0)  # New weights.
def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)
zipfile.ZipFile.writestr = killed
model.save(path)
"""


class AtomicSaveTest(TestCase):
    def test_a_killed_save_leaves_the_old_file(self):
        directory = self.get_temp_dir()
        path = os.path.join(directory, "model.keras")
        result = subprocess.run(
            [sys.executable, "-c", CHILD, path],
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(result.returncode, -9, result.stderr[-2000:])
        model = keras.saving.load_model(path)
        x = {"images": np.zeros((2, 8, 8, 3), "uint8")}
        self.assertAllClose(
            model.predict(x, verbose=0), np.load(path + ".npy"), atol=1e-6
        )
        leftovers = glob.glob(os.path.join(directory, ".model.*"))
        self.assertLen(leftovers, 1)  # The killed write's temporary file.
        # The next save removes the leftover, and writes the file.
        model.save(path)
        self.assertEqual(glob.glob(os.path.join(directory, ".model.*")), [])
        self.assertIsInstance(
            keras.saving.load_model(path), keras_mm.models.MultimodalClassifier
        )
