import os

import keras
import numpy as np

from keras_mm import cli
from keras_mm import demo
from tests.test_case import TestCase


class DemoTest(TestCase):
    def test_statements_need_both_modalities(self):
        data = demo.color_statements(200, image_size=16, seed=1)
        self.assertEqual(data["images"].shape, (200, 16, 16, 3))
        self.assertEqual(data["images"].dtype, np.uint8)
        # Each colour word is said truly and falsely: text alone is chance.
        for color in demo.COLORS:
            said = [i for i, t in enumerate(data["text"]) if color in t]
            rate = data["labels"][said].mean()
            self.assertGreater(rate, 0.25)
            self.assertLess(rate, 0.75)
        again = demo.color_statements(200, image_size=16, seed=1)
        np.testing.assert_array_equal(data["images"], again["images"])

    def test_demo_command_trains_and_saves(self):
        output_dir = self.get_temp_dir()
        code = cli.main(
            [
                "demo",
                "--num-samples",
                "64",
                "--epochs",
                "1",
                "--output-dir",
                output_dir,
            ]
        )
        self.assertEqual(code, 0)
        path = os.path.join(output_dir, "demo_classifier.keras")
        model = keras.saving.load_model(path)
        data = demo.color_statements(4, seed=3)
        probabilities = model.predict(
            {"images": data["images"], "text": data["text"]}, verbose=0
        )
        self.assertEqual(probabilities.shape, (4, 1))
        self.assertTrue(((probabilities >= 0) & (probabilities <= 1)).all())
