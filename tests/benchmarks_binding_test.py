"""The binding diagnostics run on a tiny setting (their figures live in
BENCHMARKS.md)."""

import pytest

from benchmarks import binding_diagnostics
from benchmarks import fresh_scenes
from tests.test_case import TestCase


@pytest.mark.one_backend
class BindingDiagnosticsTest(TestCase):
    def test_pair_labels_mark_each_object(self):
        data = fresh_scenes.generate("distractor", 0, 6, 2)
        labels = binding_diagnostics.pair_labels(data["train"], "distractor")
        colours = fresh_scenes.VARIANTS["distractor"]["colours"]
        shapes = fresh_scenes.VARIANTS["distractor"]["shapes"]
        self.assertEqual(labels.shape, (6, 16))
        for row, objects in enumerate(data["train"]["objects"]):
            self.assertEqual(labels[row].sum(), len(objects))
            for shape, colour in objects:
                column = shapes.index(shape) * 4 + colours.index(colour)
                self.assertEqual(labels[row, column], 1.0)

    @pytest.mark.slow
    def test_runs_tiny(self):
        rows = binding_diagnostics.main(
            ["--train-size", "16", "--test-size", "8", "--batch-size", "8"]
            + ["--pretrain-seconds", "0.01", "--budget-seconds", "0.01"]
        )
        self.assertEqual(
            [row[0] for row in rows], list(binding_diagnostics.MODES)
        )
        for _, accuracy, steps in rows:
            self.assertTrue(0.0 <= accuracy <= 1.0)
            self.assertEqual(steps, 1)

    def test_unknown_mode_is_refused(self):
        with self.assertRaises(SystemExit):
            binding_diagnostics.main(["--modes", "pairs"])
