import math
import sys
from unittest import mock

import numpy as np
import pytest

from keras_mm.metrics import bleu4
from keras_mm.metrics import cider_d
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

try:
    import sacrebleu
except ImportError:  # an optional dependency: keras-mm[metrics]
    sacrebleu = None
needs_sacrebleu = pytest.mark.skipif(
    sacrebleu is None, reason="needs sacrebleu (keras-mm[metrics])"
)

CAPTIONS = [
    "a dog runs across the green grass",
    "two cats are sleeping on a red sofa",
    "a man rides a bicycle down the street",
    "children play football in a park",
    "a plate of pasta with tomato sauce",
]
OTHER_REFERENCES = [
    ["a brown dog running on a lawn", "the dog is running outside"],
    ["cats asleep on the couch"],
    ["a cyclist on a city road", "a person riding a bike", "man on a bike"],
    ["kids playing soccer outdoors", "a group of children with a ball"],
    ["spaghetti on a white plate"],
]


def dense_cider_d(predictions, references, sigma=6.0):
    """An independent CIDEr-D: dense NumPy vectors over an n-gram vocabulary.

    Tokens come from `str.split()`; the inputs of the comparison tests are
    lower-case and free of punctuation.
    """

    def ngrams(caption, n):
        words = caption.split()
        return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]

    num_docs = len(predictions)
    scores = np.zeros(num_docs)
    for n in range(1, 5):
        vocabulary = sorted(
            {g for c in predictions for g in ngrams(c, n)}
            | {g for refs in references for c in refs for g in ngrams(c, n)}
        )
        column = {g: i for i, g in enumerate(vocabulary)}

        def tf(caption):
            v = np.zeros(len(vocabulary))
            for g in ngrams(caption, n):
                v[column[g]] += 1
            return v

        df = np.zeros(len(vocabulary))
        for refs in references:
            df += sum(tf(c) for c in refs) > 0
        idf = np.log(num_docs) - np.log(np.maximum(df, 1.0))
        for k, (prediction, refs) in enumerate(zip(predictions, references)):
            hyp = tf(prediction) * idf
            total = 0.0
            for ref_caption in refs:
                ref = tf(ref_caption) * idf
                dot = np.sum(np.minimum(hyp, ref) * ref)
                norms = np.linalg.norm(hyp) * np.linalg.norm(ref)
                cosine = dot / norms if norms > 0 else 0.0
                # pycocoevalcap measures length in bigrams.
                delta = max(len(prediction.split()) - 1, 0) - max(
                    len(ref_caption.split()) - 1, 0
                )
                total += cosine * math.exp(-(delta**2) / (2 * sigma**2))
            scores[k] += total / len(refs) / 4 * 10
    return scores.mean(), scores


def random_corpus(seed, num_examples=6):
    rng = np.random.default_rng(seed)
    words = ["a", "dog", "cat", "runs", "on", "the", "grass", "red", "sofa"]

    def caption(low):
        return " ".join(rng.choice(words, rng.integers(low, 9)))

    predictions = [caption(0) for _ in range(num_examples)]
    references = [
        [caption(1) for _ in range(rng.integers(1, 5))]
        for _ in range(num_examples)
    ]
    return predictions, references


@needs_sacrebleu
class Bleu4Test(TestCase):
    def test_identical_captions_score_100(self):
        references = [[c] + o for c, o in zip(CAPTIONS, OTHER_REFERENCES)]
        score = bleu4(CAPTIONS, references)
        self.assertIsInstance(score, float)
        self.assertAlmostEqual(score, 100.0, places=6)

    def test_case_is_ignored(self):
        predictions = [c.upper() for c in CAPTIONS]
        score = bleu4(predictions, [[c] for c in CAPTIONS])
        self.assertAlmostEqual(score, 100.0, places=6)

    def test_wrong_captions_score_0(self):
        predictions = ["zebra xylophone quartz jigsaw"] * len(CAPTIONS)
        references = [[c] for c in CAPTIONS]
        self.assertEqual(bleu4(predictions, references), 0.0)

    def test_matches_sacrebleu_with_even_references(self):
        predictions = ["a dog runs on the grass", "two cats sleep on a sofa"]
        references = [
            ["a dog runs across the grass", "the dog is running"],
            ["two cats are sleeping on a sofa", "cats on a red sofa"],
        ]
        expected = sacrebleu.corpus_bleu(
            predictions,
            [list(stream) for stream in zip(*references)],
            lowercase=True,
            tokenize="13a",
        ).score
        self.assertAlmostEqual(bleu4(predictions, references), expected)
        self.assertGreater(expected, 0.0)
        self.assertLess(expected, 100.0)

    def test_uneven_reference_counts(self):
        predictions = ["a dog runs on the grass", "two cats sleep on a sofa"]
        references = [
            ["a dog runs across the grass"],
            ["cats on a red sofa", "two cats are sleeping on a sofa", "a"],
        ]
        score = bleu4(predictions, references)
        # sacrebleu's own padding for missing references is `None`.
        padded = [
            ["a dog runs across the grass", None, None],
            ["cats on a red sofa", "two cats are sleeping on a sofa", "a"],
        ]
        expected = sacrebleu.corpus_bleu(
            predictions,
            [list(stream) for stream in zip(*padded)],
            lowercase=True,
            tokenize="13a",
        ).score
        self.assertAlmostEqual(score, expected)
        self.assertGreater(score, 0.0)
        # The second example's references in another order.
        reordered = [references[0], references[1][::-1]]
        self.assertAlmostEqual(bleu4(predictions, reordered), score)

    def test_empty_prediction_is_allowed(self):
        score = bleu4(["", CAPTIONS[1]], [[CAPTIONS[0]], [CAPTIONS[1]]])
        self.assertGreater(score, 0.0)
        self.assertLess(score, 100.0)
        self.assertEqual(bleu4([""], [["a dog"]]), 0.0)


class Bleu4ImportTest(TestCase):
    def test_missing_sacrebleu_raises_import_error(self):
        modules = {"sacrebleu": None, "sacrebleu.metrics": None}
        with mock.patch.dict(sys.modules, modules):
            with self.assertRaisesRegex(ImportError, "pip install sacrebleu"):
                bleu4(["a dog"], [["a dog"]])


class CiderDTest(TestCase):
    def test_known_values(self):
        # Two examples, so every n-gram of the references has idf log(2),
        # as do unseen n-grams. Example 0 matches its reference exactly
        # (cosine 1 for unigrams and bigrams, no trigrams or 4-grams):
        # 10 * (1 + 1 + 0 + 0) / 4 = 5. Example 1 shares one of two
        # unigrams: 10 * 0.5 / 4 = 1.25.
        score, per_example = cider_d(
            ["a b", "c d"], [["a b"], ["c e"]], return_per_example=True
        )
        np.testing.assert_allclose(per_example, [5.0, 1.25])
        self.assertAlmostEqual(score, 3.125)
        self.assertIsInstance(score, float)
        self.assertEqual(per_example.dtype, np.float64)

    def test_clipping_and_length_penalty(self):
        # "a a b" against "a b": the repeated "a" is clipped to the
        # reference count, giving a unigram cosine of 2 / sqrt(10) instead
        # of 3 / sqrt(10); bigrams give 1 / sqrt(2); the prediction has one
        # bigram more, a penalty of exp(-1 / 72).
        per_example = cider_d(
            ["a a b", "x y"], [["a b"], ["x y"]], return_per_example=True
        )[1]
        expected = (
            10 * (2 / math.sqrt(10) + 1 / math.sqrt(2)) / 4 * math.exp(-1 / 72)
        )
        np.testing.assert_allclose(per_example, [expected, 5.0])

    def test_matches_independent_implementation(self):
        for seed in range(5):
            predictions, references = random_corpus(seed)
            score, per_example = cider_d(
                predictions, references, return_per_example=True
            )
            expected_score, expected = dense_cider_d(predictions, references)
            np.testing.assert_allclose(per_example, expected, atol=1e-12)
            self.assertAlmostEqual(score, expected_score)

    def test_identical_captions_score_high(self):
        references = [[c] + o for c, o in zip(CAPTIONS, OTHER_REFERENCES)]
        score, per_example = cider_d(
            CAPTIONS, references, return_per_example=True
        )
        self.assertGreater(score, 3.0)
        self.assertTrue(np.all(per_example > 2.0))
        # With the prediction as the only reference, every order has
        # cosine 1: the maximum, 10.
        single = cider_d(CAPTIONS, [[c] for c in CAPTIONS])
        self.assertAlmostEqual(single, 10.0)

    def test_wrong_captions_score_0(self):
        predictions = ["zebra xylophone quartz jigsaw"] * len(CAPTIONS)
        references = [[c] + o for c, o in zip(CAPTIONS, OTHER_REFERENCES)]
        self.assertEqual(cider_d(predictions, references), 0.0)

    def test_invariant_to_reference_order(self):
        rng = np.random.default_rng(0)
        predictions = [o[0] for o in OTHER_REFERENCES]
        references = [[c] + o for c, o in zip(CAPTIONS, OTHER_REFERENCES)]
        _, per_example = cider_d(
            predictions, references, return_per_example=True
        )
        shuffled = [list(rng.permutation(refs)) for refs in references]
        self.assertNotEqual(shuffled, references)
        _, shuffled_scores = cider_d(
            predictions, shuffled, return_per_example=True
        )
        np.testing.assert_allclose(shuffled_scores, per_example, rtol=1e-12)
        # Reordering the examples reorders the per-example scores.
        _, reversed_scores = cider_d(
            predictions[::-1], references[::-1], return_per_example=True
        )
        np.testing.assert_allclose(reversed_scores[::-1], per_example)

    def test_uneven_reference_counts(self):
        predictions = ["a dog runs on the grass", "two cats sleep on a sofa"]
        references = [
            ["a dog runs across the grass"],
            ["cats on a red sofa", "two cats are sleeping on a sofa", "a"],
        ]
        score, per_example = cider_d(
            predictions, references, return_per_example=True
        )
        expected_score, expected = dense_cider_d(predictions, references)
        np.testing.assert_allclose(per_example, expected)
        self.assertAlmostEqual(score, expected_score)
        self.assertGreater(per_example[1], 0.0)

    def test_tokenization_ignores_case_and_punctuation(self):
        references = [[c] for c in CAPTIONS]
        plain = cider_d(CAPTIONS, references)
        noisy = [c.capitalize() + "." for c in CAPTIONS]
        noisy[1] = noisy[1].replace("sleeping", "sleeping,")
        self.assertEqual(cider_d(noisy, references), plain)

    def test_empty_prediction_scores_0(self):
        predictions = ["", CAPTIONS[1], CAPTIONS[2]]
        references = [[c] for c in CAPTIONS[:3]]
        _, per_example = cider_d(
            predictions, references, return_per_example=True
        )
        self.assertEqual(per_example[0], 0.0)
        np.testing.assert_allclose(per_example[1:], [10.0, 10.0])

    def test_single_example_corpus_scores_0(self):
        # The idf of every n-gram is log(1) - log(1) = 0.
        self.assertEqual(cider_d([CAPTIONS[0]], [[CAPTIONS[0]]]), 0.0)


class CaptionInputValidationTest(TestCase):
    def assert_raises(self, predictions, references, message):
        metrics = (cider_d,) if sacrebleu is None else (bleu4, cider_d)
        for metric in metrics:
            with self.assertRaisesRegex(ValueError, message):
                metric(predictions, references)

    def test_predictions_not_a_list_of_str(self):
        references = [["a dog"], ["a cat"]]
        message = r"`predictions` must be a list of str.*Received"
        self.assert_raises("a dog", references, message)
        self.assert_raises(np.array(["a dog", "a cat"]), references, message)
        self.assert_raises(["a dog", 3], references, message)
        self.assert_raises([b"a dog", b"a cat"], references, message)

    def test_references_of_a_different_length(self):
        self.assert_raises(
            ["a dog", "a cat"],
            [["a dog"]],
            r"one entry per prediction\. Received: len\(predictions\)=2, "
            r"len\(references\)=1",
        )

    def test_references_not_lists_of_str(self):
        self.assert_raises(
            ["a dog", "a cat"],
            ["a dog", "a cat"],
            r"must be a list of str \(wrap a single reference as "
            r"`\[caption\]`\)\. Received: references\[0\]='a dog'",
        )
        self.assert_raises(
            ["a dog"], {"0": ["a dog"]}, r"`references` must be a list"
        )
        self.assert_raises(["a dog"], [["a dog", None]], r"references\[0\]=")

    def test_empty_reference_list(self):
        self.assert_raises(
            ["a dog", "a cat"],
            [["a dog"], []],
            r"at least one reference caption\. Received: references\[1\]=\[\]",
        )

    def test_empty_corpus(self):
        self.assert_raises([], [], r"empty corpus.*Received: predictions=\[\]")
