"""The benchmark scripts run on a tiny setting (their figures live in
BENCHMARKS.md, not in tests)."""

import pytest

from benchmarks import captioner_generate_speed
from benchmarks import fusion_benchmark
from tests.test_case import TestCase


class FusionBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        output = self.get_temp_dir() + "/table.md"
        rows = fusion_benchmark.main(
            [
                "--num-samples",
                "60",
                "--image-size",
                "32",
                "--epochs",
                "1",
                "--hidden-dim",
                "8",
                "--fusions",
                "concat,late",
                "--output",
                output,
            ]
        )
        self.assertEqual(len(rows), 4)  # 2 fusions, image only, text only
        with open(output) as f:
            table = f.read()
        for label in (
            "| concat |",
            "| late |",
            "| images only |",
            "| text only |",
        ):
            self.assertIn(label, table)


class CaptionerGenerateSpeedTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        rows = captioner_generate_speed.main(
            ["--batch-sizes", "1", "--repeats", "1"]
        )
        (batch_size, cached, uncached, beam) = rows[0]
        self.assertEqual(batch_size, 1)
        self.assertGreater(cached, 0)
        self.assertGreater(uncached, 0)
        self.assertGreater(beam, 0)
