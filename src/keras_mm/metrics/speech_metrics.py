"""Corpus speech recognition metrics: WER and CER (through jiwer)."""

import numpy as np

from keras_mm.metrics.caption_metrics import check_predictions
from keras_mm.metrics.caption_metrics import short_repr

# A whitespace run of any kind (tabs, newlines, Unicode spaces), the same
# characters `str.split()` splits on.
_WHITESPACE = r"\s+"


def check_transcripts(predictions, references):
    """Raises unless `predictions` is a non-empty list of str and
    `references` a list of the same length of str, each with at least one
    non-whitespace character."""
    check_predictions(predictions, "transcript")
    if not isinstance(references, (list, tuple)):
        raise ValueError(
            "`references` must be a list of str, one reference transcript "
            "per prediction. Received: "
            f"references={short_repr(references)} "
            f"of type {type(references).__name__}"
        )
    if len(references) != len(predictions):
        raise ValueError(
            "`references` must have one entry per prediction. Received: "
            f"len(predictions)={len(predictions)}, "
            f"len(references)={len(references)}"
        )
    for index, reference in enumerate(references):
        if not isinstance(reference, str):
            raise ValueError(
                "Each entry of `references` must be a str, the single "
                "reference transcript of its example. Received: "
                f"references[{index}]={short_repr(reference)}"
            )
    empty = [index for index, text in enumerate(references) if not text.split()]
    if empty:
        shown = ", ".join(
            f"references[{index}]={short_repr(references[index])}"
            for index in empty[:5]
        )
        more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
        raise ValueError(
            "Each reference transcript must hold at least one "
            "non-whitespace character: an error rate is relative to the "
            "length of the reference; remove these examples before scoring. "
            f"Received {len(empty)} empty reference(s): "
            f"{shown}{more}"
        )


def _error_rates(name, predictions, references, return_per_example, words):
    """Checks the inputs and runs jiwer at the word or character level."""
    check_transcripts(predictions, references)
    try:
        import jiwer
    except ImportError:
        raise ImportError(
            f"`{name}` needs the `jiwer` package. Install it with "
            "`pip install jiwer` or `pip install keras-mm[metrics]`."
        ) from None
    transform = jiwer.Compose(
        [
            jiwer.ToLowerCase(),
            jiwer.SubstituteRegexes({_WHITESPACE: " "}),
            jiwer.Strip(),
            jiwer.ReduceToListOfListOfWords()
            if words
            else jiwer.ReduceToListOfListOfChars(),
        ]
    )
    process = jiwer.process_words if words else jiwer.process_characters
    output = process(
        list(references),
        list(predictions),
        reference_transform=transform,
        hypothesis_transform=transform,
    )
    score = float(output.wer if words else output.cer)
    if not return_per_example:
        return score
    # Substitutions span as many tokens on both sides, deletions only on
    # the reference side, insertions only on the prediction side.
    errors = np.array(
        [
            sum(
                max(
                    chunk.ref_end_idx - chunk.ref_start_idx,
                    chunk.hyp_end_idx - chunk.hyp_start_idx,
                )
                for chunk in chunks
                if chunk.type != "equal"
            )
            for chunks in output.alignments
        ],
        dtype="float64",
    )
    lengths = np.array([len(tokens) for tokens in output.references], "float64")
    return score, errors / lengths


def wer(predictions, references, return_per_example=False):
    """Corpus word error rate (WER) of transcripts, computed by jiwer.

    The word-level Levenshtein distance between each prediction and its
    reference gives the minimum number of substitutions `S`, deletions `D`
    and insertions `I` that turn the reference into the prediction. The
    corpus WER is `(S + D + I) / N`, with the edits and the number of
    reference words `N` summed over all examples before dividing, as
    `jiwer.wer` does for lists. Long references therefore weigh more: this
    is not the mean of the per-example rates. The rate is a fraction, not a
    percentage: 0.0 for a perfect transcription, 1.0 when every reference
    word is wrong, and above 1.0 when predictions insert many extra words.

    Both predictions and references are normalised the same way before
    scoring, with jiwer transforms: lower-cased (`str.lower`), every run of
    whitespace (spaces, tabs, newlines, Unicode spaces) replaced by a
    single space, and stripped at both ends; words are then split on
    spaces. Nothing else is changed: punctuation is kept (`"mat."` and
    `"mat"` are different words), and neither numbers nor contractions are
    rewritten. Normalise such text beforehand if it should not count.

    Note the order of the arguments: predictions first, as in the other
    metrics of `keras_mm.metrics`, whereas jiwer takes the reference first.

    Args:
        predictions: list of str. One predicted transcript per example. An
            empty (or whitespace-only) string is allowed: every word of its
            reference counts as a deletion.
        references: list of str, one reference transcript per prediction.
            Each must hold at least one word after normalisation: an empty
            or whitespace-only reference has no error rate and raises a
            `ValueError` that names the offending entries.
        return_per_example: bool. Whether to also return the WER of each
            example (its edits over its own reference words). Defaults to
            `False`.

    Returns:
        The corpus WER as a float, or with `return_per_example=True` a
        tuple `(score, per_example)` where `per_example` is a float64
        NumPy array of shape `(len(predictions),)`.

    Raises:
        ValueError: for malformed inputs, an empty corpus or an empty
            reference.
        ImportError: if jiwer is not installed.

    Examples:
    >>> predictions = ["the cat sat on the mat", "hello world"]
    >>> references = ["The cat sat on a mat", "hello there   world"]
    >>> score = keras_mm.metrics.speech_metrics.wer(predictions, references)
    >>> round(score, 4)  # (1 substitution + 1 deletion) / 9 words
    0.2222
    >>> score, per_example = keras_mm.metrics.speech_metrics.wer(
    ...     predictions, references, return_per_example=True
    ... )
    >>> per_example.round(4)
    array([0.1667, 0.3333])
    """
    return _error_rates(
        "wer", predictions, references, return_per_example, True
    )


def cer(predictions, references, return_per_example=False):
    """Corpus character error rate (CER) of transcripts, computed by jiwer.

    As `wer`, but the edits are counted over characters: the corpus CER is
    `(S + D + I) / N` with the character substitutions, deletions and
    insertions and the number of reference characters `N` summed over all
    examples before dividing, as `jiwer.cer` does for lists (not the mean
    of the per-example rates). The rate is a fraction: 0.0 for a perfect
    transcription, and above 1.0 when predictions insert many extra
    characters.

    The normalisation is that of `wer`: lower-cased, every run of
    whitespace replaced by a single space, stripped at both ends;
    punctuation is kept. The single spaces left between words count as
    characters, so a missing or extra word boundary is one error.

    Args:
        predictions: list of str. One predicted transcript per example. An
            empty (or whitespace-only) string is allowed: every character
            of its reference counts as a deletion.
        references: list of str, one reference transcript per prediction.
            Each must hold at least one non-whitespace character: an empty
            or whitespace-only reference has no error rate and raises a
            `ValueError` that names the offending entries.
        return_per_example: bool. Whether to also return the CER of each
            example (its edits over its own reference characters). Defaults
            to `False`.

    Returns:
        The corpus CER as a float, or with `return_per_example=True` a
        tuple `(score, per_example)` where `per_example` is a float64
        NumPy array of shape `(len(predictions),)`.

    Raises:
        ValueError: for malformed inputs, an empty corpus or an empty
            reference.
        ImportError: if jiwer is not installed.

    Examples:
    >>> score = keras_mm.metrics.speech_metrics.cer(
    ...     ["helo world"], ["Hello  World"]
    ... )
    >>> round(score, 4)  # 1 deletion / 11 characters of "hello world"
    0.0909
    >>> keras_mm.metrics.speech_metrics.cer(["hello world"], [" HELLO world"])
    0.0
    """
    return _error_rates(
        "cer", predictions, references, return_per_example, False
    )
