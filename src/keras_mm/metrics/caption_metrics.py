"""Corpus caption metrics: BLEU-4 (through sacrebleu) and CIDEr-D."""

import collections
import math
import string

import numpy as np

_MAX_ORDER = 4
_CIDER_SIGMA = 6.0
_PUNCTUATION = str.maketrans("", "", string.punctuation)


def short_repr(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_predictions(predictions, kind="caption"):
    """Raises unless `predictions` is a non-empty list of str (one `kind`,
    such as a caption or a transcript, per example)."""
    if not isinstance(predictions, (list, tuple)) or not all(
        isinstance(text, str) for text in predictions
    ):
        raise ValueError(
            f"`predictions` must be a list of str, one {kind} per example "
            "(convert an array with `.tolist()`). Received: "
            f"predictions={short_repr(predictions)} "
            f"of type {type(predictions).__name__}"
        )
    if not predictions:
        raise ValueError(
            f"`predictions` must hold at least one {kind}; an empty corpus "
            "has no score. Received: predictions=[]"
        )


def check_captions(predictions, references):
    """Raises unless `predictions` is a non-empty list of str and
    `references` a list of the same length of non-empty lists of str."""
    check_predictions(predictions, "caption")
    if not isinstance(references, (list, tuple)):
        raise ValueError(
            "`references` must be a list with one list of str per "
            "prediction. Received: "
            f"references={short_repr(references)} "
            f"of type {type(references).__name__}"
        )
    if len(references) != len(predictions):
        raise ValueError(
            "`references` must have one entry per prediction. Received: "
            f"len(predictions)={len(predictions)}, "
            f"len(references)={len(references)}"
        )
    for index, refs in enumerate(references):
        if not isinstance(refs, (list, tuple)) or not all(
            isinstance(caption, str) for caption in refs
        ):
            raise ValueError(
                "Each entry of `references` must be a list of str (wrap a "
                "single reference as `[caption]`). Received: "
                f"references[{index}]={short_repr(refs)}"
            )
        if not refs:
            raise ValueError(
                "Each entry of `references` must hold at least one "
                f"reference caption. Received: references[{index}]=[]"
            )


def bleu4(predictions, references):
    """Corpus BLEU-4 of generated captions, computed by sacrebleu.

    Scores the whole corpus at once, as sacrebleu's `corpus_score` does:
    n-gram matches (orders 1 to 4, each clipped to its largest count in
    any one reference) and lengths are summed over all examples before the
    geometric mean and the brevity penalty (against the closest reference
    length) are taken. Text is tokenized with sacrebleu's `"13a"` tokenizer
    and lower-cased, so the score does not depend on case, matching the
    lower-case captions of this project and COCO caption evaluation.
    Captions that already end in a tokenized period (`"a dog ."`) are
    accepted without sacrebleu's warning. A corpus without any matching
    n-gram scores 0, and so does one whose predictions are all shorter
    than 4 tokens (no 4-grams to match).

    sacrebleu wants the references as equal-length streams (stream `i`
    holds the `i`-th reference of every example). Examples with fewer
    references are padded by repeating their last reference. This leaves
    the score unchanged: BLEU merges the references of an example by the
    maximum count of each n-gram and picks the closest reference length,
    and neither changes when a reference is repeated (sacrebleu's own
    padding, `None`, gives the same score).

    This is not pycocoevalcap's `Bleu_4`, which tokenizes with the Java PTB
    tokenizer and adds a tiny smoothing term; numbers differ slightly.

    Reference:
    - [Papineni et al., 2002](https://aclanthology.org/P02-1040/)
    - [Post, 2018](https://aclanthology.org/W18-6319/) (sacrebleu)

    Args:
        predictions: list of str. One generated caption per example. An
            empty string is allowed and matches nothing.
        references: list of lists of str, one list per prediction. Each
            list holds one or more reference captions; the counts may
            differ between examples.

    Returns:
        A float in `[0, 100]`, sacrebleu's `score`.

    Raises:
        ValueError: for malformed inputs or an empty corpus.
        ImportError: if sacrebleu is not installed.

    Examples:
    >>> predictions = ["a dog runs on the grass", "two cats sleep"]
    >>> references = [
    ...     ["a dog runs on the grass", "a brown dog running"],
    ...     ["two cats are sleeping on a bed"],
    ... ]
    >>> round(keras_mm.metrics.bleu4(predictions, references), 2)
    56.65
    >>> score = keras_mm.metrics.bleu4(["a dog on a bed"], [["A dog on a bed"]])
    >>> round(score, 2)
    100.0
    """
    check_captions(predictions, references)
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise ImportError(
            "`bleu4` needs the `sacrebleu` package. Install it with "
            "`pip install sacrebleu` or `pip install keras-mm[metrics]`."
        ) from None
    num_streams = max(len(refs) for refs in references)
    streams = [
        [refs[min(i, len(refs) - 1)] for refs in references]
        for i in range(num_streams)
    ]
    metric = BLEU(tokenize="13a", lowercase=True, force=True)
    return float(metric.corpus_score(list(predictions), streams).score)


def _tokenize(caption):
    """Lower-cases, deletes ASCII punctuation and splits on whitespace."""
    return caption.lower().translate(_PUNCTUATION).split()


def _ngram_counts(caption):
    tokens = _tokenize(caption)
    counts = collections.Counter()
    for order in range(1, _MAX_ORDER + 1):
        for start in range(len(tokens) - order + 1):
            counts[tuple(tokens[start : start + order])] += 1
    return counts


def cider_d(predictions, references, return_per_example=False):
    """Corpus CIDEr-D of generated captions.

    A pure-Python port of the CIDEr-D scorer of pycocoevalcap
    (`pycocoevalcap/cider/cider_scorer.py`, the `CIDEr` of the COCO
    caption evaluation). Each caption becomes one TF-IDF vector per n-gram
    order (1 to 4); the document frequency of an n-gram is the number of
    examples whose references contain it, counted over the references of
    the corpus being scored, and the IDF is `log(num_examples) -
    log(max(1, document_frequency))`. For every reference the score is,
    per order, the cosine similarity with the prediction's counts clipped
    to the reference's (`min(prediction, reference) * reference`),
    times a Gaussian length penalty `exp(-delta**2 / (2 * 6**2))`. These
    are averaged over the 4 orders and the references and multiplied by
    10. The corpus score is the mean over examples. As in pycocoevalcap,
    `delta` is the difference in bigram counts (one less than the word
    counts for non-empty captions).

    Because the IDF comes from the corpus itself, CIDEr-D is a corpus
    metric: an n-gram found in the references of every example carries no
    weight, and a corpus of a single example always scores 0. Scores are
    on pycocoevalcap's scale (papers often report them times 100).

    Tokenization differs from pycocoevalcap, which runs the Java Stanford
    PTB tokenizer and then drops punctuation tokens. Here captions are
    lower-cased, ASCII punctuation characters are deleted and the rest is
    split on whitespace. The two agree on plain lower-case captions; they
    differ on clitics (`"dog's"` becomes `"dogs"`, not `"dog 's"`) and on
    punctuation inside words.

    Reference:
    - [Vedantam et al., 2015](https://arxiv.org/abs/1411.5726)

    Args:
        predictions: list of str. One generated caption per example. An
            empty string is allowed and scores 0.
        references: list of lists of str, one list per prediction. Each
            list holds one or more reference captions; the counts may
            differ between examples.
        return_per_example: bool. Whether to also return the score of each
            example. Defaults to `False`.

    Returns:
        The corpus score as a float, or with `return_per_example=True` a
        tuple `(score, per_example)` where `per_example` is a float64
        NumPy array of shape `(len(predictions),)`.

    Raises:
        ValueError: for malformed inputs or an empty corpus.

    Examples:
    >>> predictions = ["a dog runs on the grass", "two cats sleep"]
    >>> references = [
    ...     ["a dog runs on the grass", "a brown dog running"],
    ...     ["two cats are sleeping on a bed"],
    ... ]
    >>> round(keras_mm.metrics.cider_d(predictions, references), 4)
    3.4765
    >>> score, per_example = keras_mm.metrics.cider_d(
    ...     predictions, references, return_per_example=True
    ... )
    >>> per_example.round(4)
    array([5.3413, 1.6116])
    """
    check_captions(predictions, references)
    test_counts = [_ngram_counts(caption) for caption in predictions]
    reference_counts = [
        [_ngram_counts(caption) for caption in refs] for refs in references
    ]
    document_frequency = collections.Counter()
    for refs in reference_counts:
        document_frequency.update(set().union(*refs))
    log_num_documents = math.log(len(reference_counts))

    def to_vector(counts):
        vector = [{} for _ in range(_MAX_ORDER)]
        norm = np.zeros(_MAX_ORDER)
        num_bigrams = 0
        for ngram, term_frequency in counts.items():
            order = len(ngram) - 1
            idf = log_num_documents - math.log(
                max(1.0, document_frequency[ngram])
            )
            weight = term_frequency * idf
            vector[order][ngram] = weight
            norm[order] += weight**2
            if order == 1:
                num_bigrams += term_frequency
        return vector, np.sqrt(norm), num_bigrams

    def similarity(test, reference):
        (test_vector, test_norm, test_length) = test
        (ref_vector, ref_norm, ref_length) = reference
        values = np.zeros(_MAX_ORDER)
        for order in range(_MAX_ORDER):
            for ngram, weight in test_vector[order].items():
                ref_weight = ref_vector[order].get(ngram, 0.0)
                values[order] += min(weight, ref_weight) * ref_weight
            if test_norm[order] != 0 and ref_norm[order] != 0:
                values[order] /= test_norm[order] * ref_norm[order]
        delta = float(test_length - ref_length)
        return values * math.e ** (-(delta**2) / (2 * _CIDER_SIGMA**2))

    per_example = np.zeros(len(predictions))
    for index, (test, refs) in enumerate(zip(test_counts, reference_counts)):
        test_vector = to_vector(test)
        total = np.zeros(_MAX_ORDER)
        for ref in refs:
            total += similarity(test_vector, to_vector(ref))
        per_example[index] = np.mean(total) / len(refs) * 10.0
    score = float(np.mean(per_example))
    if return_per_example:
        return score, per_example
    return score
