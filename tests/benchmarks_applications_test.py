"""The applications benchmark on a tiny setting (its figures live in
BENCHMARKS.md)."""

import numpy as np
import pytest

from benchmarks import applications
from tests.test_case import TestCase


@pytest.mark.one_backend
class ApplicationsBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        # Driving, with its narrations written from both inputs and each.
        results = applications.main(
            ["--num-samples", "30", "--epochs", "1", "--seeds", "0,1"]
            + ["--batch-size", "8", "--cache-dir", self.get_temp_dir()]
            + ["--reports"]
        )
        classifiers = ("fused", "images only", "audio only")
        writers = ("captions", "captions, images only", "captions, audio only")
        self.assertEqual(
            [(r["model"], r["seed"]) for r in results],
            [(m, seed) for seed in (0, 1) for m in classifiers]
            + [(m, seed) for seed in (0, 1) for m in writers],
        )
        for result in results[:6]:
            self.assertBetween(result["accuracy"], 0.0, 1.0)
            self.assertEqual(result["epochs"], 1)
        for result in results[6:]:
            self.assertBetween(result["bleu4"], 0.0, 100.0)
            self.assertBetween(result["exact"], 0.0, 1.0)
            self.assertIsInstance(result["example"], str)

    @pytest.mark.slow
    def test_medical_with_reports(self):
        results = applications.main(
            ["--dataset", "medical", "--reports", "--num-samples", "30"]
            + ["--epochs", "1", "--batch-size", "8"]
            + ["--cache-dir", self.get_temp_dir()]
        )
        self.assertEqual(
            [r["model"] for r in results],
            ["fused", "images only", "text only", "reports"],
        )
        for result in results[:3]:  # Macro-F1 of the multi-label findings.
            self.assertBetween(result["accuracy"], 0.0, 1.0)
        report = results[3]
        self.assertBetween(report["bleu4"], 0.0, 100.0)
        self.assertGreaterEqual(report["cider_d"], 0.0)
        self.assertIsInstance(report["example"], str)
        with self.assertRaises(SystemExit):  # Nothing written to learn.
            applications.main(
                ["--dataset", "spoken_sentiment", "--reports"]
                + ["--num-samples", "30", "--epochs", "1"]
            )

    def test_score_is_accuracy_or_macro_f1(self):
        probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
        self.assertAllClose(
            applications.score(probabilities, np.array([0, 1, 1]), "softmax"),
            2 / 3,
        )
        multi_hot = np.array([[1, 0], [1, 1], [0, 0]])
        # Class 0: 1 true positive of 2 predicted and 2 true (F1 0.5);
        # class 1: 1 of 1 and 1 (F1 1.0).
        self.assertAllClose(
            applications.score(probabilities, multi_hot, "sigmoid"), 0.75
        )
