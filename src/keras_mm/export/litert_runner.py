"""Runs a keras_mm `.tflite` file on raw inputs, with the LiteRT interpreter.

This file stands alone: it imports NumPy and `ai_edge_litert` only, so it
can be copied next to an app that has neither Keras nor TensorFlow. A
TFLite model takes no strings, so the export writes the tokenizer beside
the model (`NAME.json` next to `NAME.tflite`); `LiteRTModel` reads it,
turns raw inputs into the model's arrays (word ids, padded waveforms with
their masks), runs the interpreter and turns its outputs back into strings
(captions, transcripts).

    model = LiteRTModel("savedmodels/scenes.tflite")
    model({"images": pixels, "text": ["the circles are red"]})
    # -> {"probabilities": ..., "labels": ...}

Run as a script, `python litert_runner.py MODEL.tflite INPUTS.npz
OUTPUTS.npz`, it is the TFLite-only process of `keras_mm.export.verify`.
"""

import errno
import json
import os
import re
import sys
import threading

import numpy as np

# Keep in step with `keras_mm.layers.WordTokenizer`.
_PUNCTUATION = r"([!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])"
_SPECIAL_TOKENS = 4  # [PAD], [UNK], [START], [END]
_UNK, _END = 1, 3
_CLOSING_PUNCTUATION = frozenset(",.!?;:)")


def assets_path(model_path):
    """The tokenizer and input description written beside a `.tflite`."""
    return os.path.splitext(model_path)[0] + ".json"


def word_index(vocabulary):
    """The id of each word of `vocabulary`, as `tokenize` looks them up."""
    return {word: i for i, word in enumerate(vocabulary)}


def tokenize(texts, vocabulary, sequence_length, lowercase=True):
    """Strings -> int32 word ids `(batch, sequence_length)`, exactly as
    `WordTokenizer` makes them.

    `vocabulary` is the list of words, or its `word_index`: build that
    once to tokenize batch after batch."""
    index = vocabulary
    if not isinstance(index, dict):
        index = word_index(vocabulary)
    ids = np.zeros((len(texts), sequence_length), "int32")
    for row, text in enumerate(texts):
        text = text.replace("\x00", " ")  # A word break, as in TF.
        text = text.lower() if lowercase else text
        words = re.sub(_PUNCTUATION, r" \1 ", text).split()
        for column, word in enumerate(words[:sequence_length]):
            ids[row, column] = index.get(word, _UNK)
    return ids


def pad_waveforms(waveforms, num_samples):
    """Waveforms -> `(batch, num_samples)` float32 and the bool mask of
    their samples (cropped when longer)."""
    audio = np.zeros((len(waveforms), num_samples), "float32")
    mask = np.zeros((len(waveforms), num_samples), bool)
    for row, waveform in enumerate(waveforms):
        waveform = np.asarray(waveform, "float32")
        if waveform.ndim == 0:
            raise ValueError(
                "Audio must be a batch of waveforms: float32 `(batch, "
                "samples)` or a list of 1-D arrays (one waveform is "
                "`[waveform]`). Received a batch of single samples."
            )
        waveform = waveform.reshape(-1)[:num_samples]
        audio[row, : len(waveform)] = waveform
        mask[row, : len(waveform)] = True
    return audio, mask


def captions_from_ids(token_ids, vocabulary):
    """As `CaptionPreprocessor.detokenize`."""
    captions = []
    for row in np.asarray(token_ids).tolist():
        words = []
        for token_id in row:
            if token_id == _END:
                break
            if token_id < _SPECIAL_TOKENS:
                continue
            word = vocabulary[token_id]
            if words and word in _CLOSING_PUNCTUATION:
                words[-1] += word
            else:
                words.append(word)
        captions.append(" ".join(words))
    return captions


def transcripts_from_frames(frame_ids, vocabulary):
    """Greedy CTC: the best class per frame, repeats merged, blanks (0)
    dropped."""
    transcripts = []
    for row in np.asarray(frame_ids).tolist():
        characters, previous = [], None
        for i in row:
            if i != previous and i > 0:
                characters.append(vocabulary[i - 1])
            previous = i
        transcripts.append("".join(characters))
    return transcripts


def _batch_size(inputs):
    """The one batch size of `inputs` (`None` values left out); a
    `ValueError` unless each holds one entry per example, in equal numbers,
    at least one."""
    sizes = {}
    for key, value in inputs.items():
        if value is None:
            continue
        if (
            isinstance(value, (str, bytes))
            or not hasattr(value, "__len__")
            or getattr(value, "ndim", 1) == 0
        ):
            raise ValueError(
                f"Input '{key}' must hold one entry per example: a list "
                "or an array whose first axis is the batch. Received: "
                f"{type(value).__name__}"
            )
        sizes[key] = len(value)
    if len(set(sizes.values())) > 1:
        raise ValueError(
            f"The inputs must have the same batch size. Received: {sizes}"
        )
    if not sizes or not next(iter(sizes.values())):
        raise ValueError("The batch is empty: send at least one example.")
    return next(iter(sizes.values()))


def prepare_inputs(assets, inputs, word_indices=None):
    """Raw inputs -> the arrays of a keras_mm `.tflite` file described by
    `assets` (its `.json`): word ids, padded waveforms and masks, and the
    `KEY_present` flags of inputs that may be missing. `word_indices` maps
    each text input to the `word_index` of its vocabulary; without it,
    they are built from `assets`."""
    specs = assets["inputs"]
    if not isinstance(inputs, dict):
        inputs = {next(iter(specs)): inputs}
    unknown = sorted(set(inputs) - set(specs))
    if unknown:
        raise ValueError(
            f"Unknown inputs {unknown}; the model takes {sorted(specs)}."
        )
    missing = set(assets.get("missing", []))
    absent = sorted(set(specs) - set(inputs) - missing)
    if absent:
        raise ValueError(
            f"Inputs {absent} are required; the model takes "
            f"{sorted(specs)} (of which {sorted(missing)} may be left "
            "out)."
        )
    batch = _batch_size(inputs)
    arrays = {}
    for key, spec in specs.items():
        value = inputs.get(key)
        present = np.full(batch, value is not None)
        if spec["type"] == "images":
            shape = tuple(spec["shape"])
            if value is None:
                value = np.zeros((batch, *shape), "uint8")
            value = np.asarray(value)
            if value.shape[1:] != shape or value.dtype != np.uint8:
                raise ValueError(
                    f"Input '{key}' must be uint8 pixels of shape "
                    f"(batch, {', '.join(map(str, shape))}). Received: "
                    f"{value.dtype} of shape {value.shape}."
                )
            arrays[key] = value
        elif spec["type"] == "text":
            texts = [""] * batch if value is None else list(value)
            texts = [t if isinstance(t, str) else "" for t in texts]
            present &= np.array([bool(t.strip()) for t in texts])
            vocabulary = spec["vocabulary"]
            if word_indices is not None:
                vocabulary = word_indices[key]
            arrays[f"{key}_token_ids"] = tokenize(
                texts,
                vocabulary,
                spec["sequence_length"],
                spec["lowercase"],
            )
        else:
            waveforms = [np.zeros(1)] * batch if value is None else value
            audio, mask = pad_waveforms(waveforms, spec["num_samples"])
            arrays[key] = audio
            arrays[f"{key}_padding_mask"] = mask
        if key in missing:
            arrays[f"{key}_present"] = present
    return arrays


class LiteRTModel:
    """A keras_mm `.tflite` file, called on raw inputs.

    Args:
        path: str. The `.tflite` file; its `.json` assets lie beside it.
        num_threads: int or `None`. Interpreter threads.

    Call arguments:
        inputs: a dict of raw inputs keyed like the Keras model's (images
            as uint8 pixels at the exported size, text as a list of str,
            audio as float waveforms); a captioner or speech recognizer
            also takes its images or waveforms directly.

    Returns:
        A dict of NumPy outputs: `probabilities` and `labels` (or
        `predictions`, `logits`) for a classifier, `captions` or
        `transcripts` (lists of str) for the others.

    Threads: one instance may be called from several threads at once. The
    LiteRT interpreter is not thread-safe (a call resizes, fills and runs
    tensors that the interpreter holds, so two calls at once return each
    other's outputs, raise or crash the process), so each instance holds a
    lock over its interpreter: preparing inputs and decoding outputs run
    in parallel, the interpreter runs one call at a time. For calls that
    run side by side, give each thread its own `LiteRTModel`.

    Raises:
        FileNotFoundError: when `path` or its `.json` assets do not exist.
    """

    def __init__(self, path, num_threads=None):
        from ai_edge_litert.interpreter import Interpreter

        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                errno.ENOENT, os.strerror(errno.ENOENT), path
            )
        assets = assets_path(path)
        if not os.path.isfile(assets):
            raise FileNotFoundError(
                errno.ENOENT,
                f"{path} needs its tokenizer and input description "
                f"{os.path.basename(assets)} beside it (the export writes "
                "both; copy them together)",
                assets,
            )
        with open(assets) as f:
            self.assets = json.load(f)
        # Looked up on every call: built once.
        self.word_indices = {
            key: word_index(spec["vocabulary"])
            for key, spec in self.assets["inputs"].items()
            if spec["type"] == "text"
        }
        self.interpreter = Interpreter(model_path=path, num_threads=num_threads)
        self.runner = self.interpreter.get_signature_runner("serving_default")
        # The interpreter's tensors are shared by every call.
        self._lock = threading.Lock()

    @property
    def kind(self):
        return self.assets["kind"]

    def prepare(self, inputs):
        """Raw inputs -> the arrays the interpreter takes."""
        return prepare_inputs(self.assets, inputs, self.word_indices)

    def _invoke(self, arrays):
        # Resize, allocate, set, invoke and read (a copy) in one hold.
        with self._lock:
            return self.runner(**arrays)

    def _run(self, arrays):
        if self.assets.get("batch_size") != 1:
            return self._invoke(arrays)
        # A file with recurrent layers takes one example per call.
        rows = len(next(iter(arrays.values())))
        outputs = [
            self._invoke({k: v[i : i + 1] for k, v in arrays.items()})
            for i in range(rows)
        ]
        return {
            key: np.concatenate([o[key] for o in outputs]) for key in outputs[0]
        }

    def __call__(self, inputs):
        outputs = self._run(self.prepare(inputs))
        if self.kind == "captioner":
            return {
                "captions": captions_from_ids(
                    outputs["token_ids"], self.assets["vocabulary"]
                )
            }
        if self.kind == "speech_recognizer":
            return {
                "transcripts": transcripts_from_frames(
                    outputs["frame_ids"], self.assets["vocabulary"]
                )
            }
        return dict(outputs)


def main(path, inputs_file, outputs_file):
    with np.load(inputs_file) as data:
        inputs = {
            key: data[key].tolist()
            if data[key].dtype.kind == "U"
            else data[key]
            for key in data.files
        }
    outputs = LiteRTModel(path)(inputs)
    np.savez(outputs_file, **{k: np.asarray(v) for k, v in outputs.items()})


if __name__ == "__main__":
    try:
        main(*sys.argv[1:])
    except ValueError as error:
        print(f"ValueError: {error}", file=sys.stderr)
        sys.exit(1)
