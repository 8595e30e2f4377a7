"""The README's encoder example runs as written."""

import os
import re

import numpy as np

from tests.test_case import TestCase

README = os.path.join(os.path.dirname(__file__), "..", "README.md")


class ReadmeTest(TestCase):
    def test_encoder_example(self):
        with open(README) as f:
            blocks = re.findall(r"```python\n(.*?)```", f.read(), re.S)
        self.assertTrue(blocks)
        namespace = {}
        exec(blocks[0], namespace)  # noqa: S102
        outputs = namespace["audio_encoder"].predict(
            namespace["waveforms"], verbose=0
        )
        self.assertEqual(outputs["pooled_output"].shape, (4, 128))
        self.assertTrue(np.isfinite(outputs["pooled_output"]).all())
