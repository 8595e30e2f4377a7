import sys
from unittest import mock

import numpy as np
import pytest

from keras_mm.metrics.speech_metrics import cer
from keras_mm.metrics.speech_metrics import wer
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

try:
    import jiwer
except ImportError:  # an optional dependency: keras-mm[metrics]
    jiwer = None
needs_jiwer = pytest.mark.skipif(
    jiwer is None, reason="needs jiwer (keras-mm[metrics])"
)

TRANSCRIPTS = [
    "the quick brown fox jumps over the lazy dog",
    "she sells sea shells by the sea shore",
    "turn the volume down please",
    "what is the weather like tomorrow",
]


def random_corpus(seed, num_examples=6):
    """Lower-case, single-spaced transcripts: normalisation leaves them as
    they are, so jiwer's default transforms see the same words."""
    rng = np.random.default_rng(seed)
    words = ["a", "dog", "cat", "runs", "on", "the", "grass", "red", "sofa"]

    def transcript(low):
        return " ".join(rng.choice(words, rng.integers(low, 9)))

    predictions = [transcript(0) for _ in range(num_examples)]
    references = [transcript(1) for _ in range(num_examples)]
    return predictions, references


@needs_jiwer
class WerTest(TestCase):
    def test_perfect_transcripts_score_0(self):
        score, per_example = wer(
            TRANSCRIPTS, TRANSCRIPTS, return_per_example=True
        )
        self.assertIsInstance(score, float)
        self.assertEqual(score, 0.0)
        self.assertEqual(per_example.dtype, np.float64)
        self.assertEqual(per_example.shape, (len(TRANSCRIPTS),))
        np.testing.assert_array_equal(per_example, np.zeros(4))

    def test_known_values(self):
        # One substitution, one insertion, one deletion: 1 edit in each of
        # 3 reference words.
        self.assertAlmostEqual(wer(["a x c"], ["a b c"]), 1 / 3)
        self.assertAlmostEqual(wer(["a b x c"], ["a b c"]), 1 / 3)
        self.assertAlmostEqual(wer(["a c"], ["a b c"]), 1 / 3)
        # 2 substitutions and 1 deletion over 4 words.
        self.assertAlmostEqual(wer(["a y z"], ["a b c d"]), 3 / 4)
        # All wrong: 1.0; many insertions go above 1.0.
        self.assertEqual(wer(["x y"], ["a b"]), 1.0)
        self.assertEqual(wer(["x y z w"], ["a"]), 4.0)

    def test_per_example_rates(self):
        score, per_example = wer(
            ["a x c", "a b x c", "a c", "a b c"],
            ["a b c", "a b c", "a b c", "a b c"],
            return_per_example=True,
        )
        np.testing.assert_allclose(per_example, [1 / 3, 1 / 3, 1 / 3, 0.0])
        self.assertAlmostEqual(score, 3 / 12)

    def test_corpus_level_weighting(self):
        # 1 edit in 5 words and 1 edit in 1 word: 2 / 6, not the mean of
        # the per-example rates, (1 / 5 + 1) / 2 = 0.6.
        score, per_example = wer(
            ["a b c d x", "y"], ["a b c d e", "z"], return_per_example=True
        )
        self.assertAlmostEqual(score, 2 / 6)
        np.testing.assert_allclose(per_example, [1 / 5, 1.0])
        self.assertNotAlmostEqual(score, float(np.mean(per_example)))

    def test_case_and_whitespace_are_normalised(self):
        predictions = ["  The Quick\tBROWN fox\njumps  over the lazy dog "]
        self.assertEqual(wer(predictions, TRANSCRIPTS[:1]), 0.0)
        self.assertEqual(wer(TRANSCRIPTS[:1], predictions), 0.0)
        # Non-breaking and other Unicode spaces separate words too.
        self.assertEqual(wer(["a\u00a0b\u3000c"], ["a b c"]), 0.0)

    def test_punctuation_is_kept(self):
        self.assertAlmostEqual(wer(["the cat."], ["the cat"]), 1 / 2)
        self.assertAlmostEqual(wer(["it's red"], ["it is red"]), 2 / 3)

    def test_empty_prediction_counts_deletions(self):
        score, per_example = wer(
            ["", "a b"], ["a b c", "a b"], return_per_example=True
        )
        self.assertAlmostEqual(score, 3 / 5)
        np.testing.assert_allclose(per_example, [1.0, 0.0])
        self.assertEqual(wer([" \t "], ["a b"]), 1.0)

    def test_tuples_are_accepted(self):
        predictions, references = random_corpus(0)
        self.assertEqual(
            wer(tuple(predictions), tuple(references)),
            wer(predictions, references),
        )

    def test_matches_jiwer(self):
        for seed in range(5):
            predictions, references = random_corpus(seed)
            score, per_example = wer(
                predictions, references, return_per_example=True
            )
            expected = jiwer.wer(reference=references, hypothesis=predictions)
            self.assertAlmostEqual(score, expected)
            expected_per_example = [
                jiwer.wer(reference=r, hypothesis=p)
                for p, r in zip(predictions, references)
            ]
            np.testing.assert_allclose(per_example, expected_per_example)


@needs_jiwer
class CerTest(TestCase):
    def test_perfect_transcripts_score_0(self):
        score, per_example = cer(
            TRANSCRIPTS, TRANSCRIPTS, return_per_example=True
        )
        self.assertIsInstance(score, float)
        self.assertEqual(score, 0.0)
        self.assertEqual(per_example.dtype, np.float64)
        np.testing.assert_array_equal(per_example, np.zeros(4))

    def test_known_values(self):
        self.assertAlmostEqual(cer(["abd"], ["abc"]), 1 / 3)  # substitution
        self.assertAlmostEqual(cer(["abxc"], ["abc"]), 1 / 3)  # insertion
        self.assertAlmostEqual(cer(["ac"], ["abc"]), 1 / 3)  # deletion
        self.assertEqual(cer(["abcdef"], ["ab"]), 2.0)  # 4 insertions

    def test_spaces_count_as_characters(self):
        # "a b" has 3 characters; "ab" misses the space: 1 deletion.
        self.assertAlmostEqual(cer(["ab"], ["a b"]), 1 / 3)
        # At the word level the same pair is 1 substitution + 1 deletion.
        self.assertEqual(wer(["ab"], ["a b"]), 1.0)

    def test_corpus_level_weighting(self):
        # 1 edit in 10 characters and 1 edit in 2: 2 / 12, not the mean
        # (1 / 10 + 1 / 2) / 2 = 0.3.
        score, per_example = cer(
            ["abcdefghix", "ay"], ["abcdefghij", "az"], return_per_example=True
        )
        self.assertAlmostEqual(score, 2 / 12)
        np.testing.assert_allclose(per_example, [1 / 10, 1 / 2])

    def test_case_and_whitespace_are_normalised(self):
        predictions = ["  Turn THE\tvolume   down\nplease  "]
        self.assertEqual(cer(predictions, [TRANSCRIPTS[2]]), 0.0)
        self.assertEqual(cer([TRANSCRIPTS[2]], predictions), 0.0)

    def test_punctuation_is_kept(self):
        self.assertAlmostEqual(cer(["the cat."], ["the cat"]), 1 / 7)

    def test_empty_prediction_counts_deletions(self):
        score, per_example = cer(
            ["", "ab"], ["abc", "ab"], return_per_example=True
        )
        self.assertAlmostEqual(score, 3 / 5)
        np.testing.assert_allclose(per_example, [1.0, 0.0])

    def test_matches_jiwer(self):
        for seed in range(5):
            predictions, references = random_corpus(seed)
            score, per_example = cer(
                predictions, references, return_per_example=True
            )
            expected = jiwer.cer(reference=references, hypothesis=predictions)
            self.assertAlmostEqual(score, expected)
            expected_per_example = [
                jiwer.cer(reference=r, hypothesis=p)
                for p, r in zip(predictions, references)
            ]
            np.testing.assert_allclose(per_example, expected_per_example)


class SpeechImportTest(TestCase):
    def test_missing_jiwer_raises_import_error(self):
        with mock.patch.dict(sys.modules, {"jiwer": None}):
            for metric, name in ((wer, "wer"), (cer, "cer")):
                with self.assertRaisesRegex(
                    ImportError,
                    f"`{name}` needs the `jiwer`.*pip install jiwer",
                ):
                    metric(["a dog"], ["a dog"])


class SpeechInputValidationTest(TestCase):
    # The checks run before jiwer is imported: no jiwer needed.
    def assert_raises(self, predictions, references, message):
        for metric in (wer, cer):
            with self.assertRaisesRegex(ValueError, message):
                metric(predictions, references)

    def test_predictions_not_a_list_of_str(self):
        references = ["a dog", "a cat"]
        message = r"`predictions` must be a list of str.*Received"
        self.assert_raises("a dog", references, message)
        self.assert_raises(np.array(["a dog", "a cat"]), references, message)
        self.assert_raises(["a dog", 3], references, message)
        self.assert_raises([b"a dog", b"a cat"], references, message)
        self.assert_raises(["a dog", None], references, message)

    def test_references_not_a_list(self):
        self.assert_raises(
            ["a dog"],
            "a dog",
            r"`references` must be a list of str.*Received: "
            r"references='a dog' of type str",
        )
        self.assert_raises(["a dog"], np.array(["a dog"]), r"of type ndarray")

    def test_references_of_a_different_length(self):
        self.assert_raises(
            ["a dog", "a cat"],
            ["a dog"],
            r"one entry per prediction\. Received: len\(predictions\)=2, "
            r"len\(references\)=1",
        )

    def test_references_not_str(self):
        self.assert_raises(
            ["a dog", "a cat"],
            [["a dog"], ["a cat"]],
            r"must be a str, the single reference transcript of its "
            r"example\. Received: references\[0\]=\['a dog'\]",
        )
        self.assert_raises(
            ["a dog", "a cat"], ["a dog", b"a cat"], r"references\[1\]=b'a cat'"
        )

    def test_empty_references_are_named(self):
        self.assert_raises(
            ["a dog", "a cat", "a cow"],
            ["a dog", "", " \t\n"],
            r"at least one non-whitespace character.*Received 2 empty "
            r"reference\(s\): references\[1\]='', references\[2\]=' \\t\\n'$",
        )

    def test_many_empty_references_are_summarised(self):
        self.assert_raises(
            ["a"] * 8,
            [""] * 8,
            r"Received 8 empty reference\(s\): references\[0\]='', .*"
            r"references\[4\]='' and 3 more$",
        )

    def test_empty_corpus(self):
        self.assert_raises([], [], r"empty corpus.*Received: predictions=\[\]")
