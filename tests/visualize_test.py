import os

import pytest

from keras_mm import visualize
from tests.test_case import TestCase


class TrainingCurvesTest(TestCase):
    def test_writes_png_with_a_panel_per_metric(self):
        path = os.path.join(self.get_temp_dir(), "curves.png")
        figure = visualize.training_curves(
            {
                "loss": [1.0, 0.6, 0.4],
                "val_loss": [1.2, 0.9, 0.8],
                "accuracy": [0.3, 0.6, 0.9],
            },
            path=path,
        )
        self.assertEqual(
            [a.get_title() for a in figure.axes], ["loss", "accuracy"]
        )
        self.assertEqual(len(figure.axes[0].lines), 2)  # train, validation
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_bad_history(self):
        with pytest.raises(ValueError, match="History"):
            visualize.training_curves({})
