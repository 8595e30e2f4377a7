"""What a captioner accepts: its encoders, images and audio, and captions.

Each check runs on raw inputs before anything is traced, so a bad input
fails with a message that says what was received.
"""

import warnings

import keras
import numpy as np

from keras_mm.base.input_checks import check_inputs
from keras_mm.data.audio_io import read_waveforms
from keras_mm.encoders.encoder import Encoder
from keras_mm.layers.caption_preprocessor import MODALITIES
from keras_mm.utils.validation import check_finite


def _check_no_labels(x, y):
    if y is not None and isinstance(x, dict) and "text" in x:
        raise ValueError(
            "A captioner makes its labels from the captions in x['text']; "
            "pass no `y`. Received: y of type "
            f"{type(y).__name__}"
        )


def encoder_modality(encoder):
    """`"images"` or `"audio"`: what `encoder` takes; or a `ValueError`."""
    if not isinstance(encoder, Encoder):
        raise ValueError(
            "`encoder` must be a keras_mm.encoders.Encoder, from "
            "`keras_mm.encoders.image(...)` or `keras_mm.encoders.audio(...)`,"
            " or a dict of them keyed by 'images' and 'audio'. Received: "
            f"{type(encoder).__name__}"
        )
    inputs = encoder.input
    if isinstance(inputs, dict):
        if set(inputs) == {"audio", "audio_padding_mask"}:
            return "audio"
    elif len(inputs.shape) == 4:
        return "images"
    raise ValueError(
        "A captioner's encoder must take images (batch, height, width, "
        "channels), as `keras_mm.encoders.image(...)` does, or audio, as "
        f"`keras_mm.encoders.audio(...)` does. Received an encoder with "
        f"inputs {inputs}"
    )


def caption_encoders(encoder):
    """`{modality: Encoder}` from one encoder or a dict of them keyed by
    what each takes, in `MODALITIES` order; or a `ValueError`."""
    if not isinstance(encoder, dict):
        return {encoder_modality(encoder): encoder}
    unknown = sorted(set(encoder) - set(MODALITIES))
    if not encoder or unknown:
        raise ValueError(
            f"A dict of encoders must have keys among {list(MODALITIES)}, "
            "one encoder per input. Received keys: "
            f"{sorted(map(str, encoder))}"
        )
    encoders = {}
    for modality in MODALITIES:
        if modality in encoder:
            found = encoder_modality(encoder[modality])
            if found != modality:
                raise ValueError(
                    f"encoder['{modality}'] must take {modality}. Received "
                    f"an encoder that takes {found}."
                )
            encoders[modality] = encoder[modality]
    return encoders


def check_images(images, channels):
    """Returns `images` as a NumPy array, or raises a `ValueError` that
    says what was received."""
    if isinstance(images, (list, tuple)):
        try:
            images = np.stack([np.asarray(image) for image in images])
        except ValueError:
            raise ValueError(
                "`images` given as a list must all have the same shape. "
                "Received shapes: "
                f"{sorted({np.shape(image) for image in images})}"
            ) from None
    elif keras.ops.is_tensor(images):
        images = keras.ops.convert_to_numpy(images)
    images = np.asarray(images)
    if images.dtype.kind not in "uif":
        raise ValueError(
            "`images` must hold pixel numbers (uint8 in [0, 255], or "
            f"floats). Received: an array of dtype {images.dtype}"
        )
    if images.ndim != 4 or images.shape[-1] not in (channels, None):
        hint = " (one image: pass `images[None]`)" if images.ndim == 3 else ""
        raise ValueError(
            "`images` must have shape (batch, height, width, "
            f"{channels}){hint}. Received: shape {images.shape}"
        )
    check_finite(images, "images")
    return images


def too_long(waveforms, audio):
    """Rows of the waveforms longer than `audio` (an `AudioPreprocessor`)
    takes."""
    return [
        i for i, clip in enumerate(waveforms) if len(clip) > audio.num_samples
    ]


def read_inputs(inputs, encoders, audio, sample_rate=None):
    """Checked inputs of each of `encoders` (`{modality: Encoder}`), as
    `{modality: images array or list of waveforms}` (audio files read and
    resampled), or a `ValueError` that says what was received. With one
    encoder, `inputs` may be its input alone."""
    modalities = list(encoders)
    if len(modalities) == 1 and not isinstance(inputs, dict):
        inputs = {modalities[0]: inputs}
    if not isinstance(inputs, dict) or set(inputs) != set(modalities):
        received = (
            f"keys {sorted(inputs)}"
            if isinstance(inputs, dict)
            else type(inputs).__name__
        )
        raise ValueError(
            f"This captioner takes a dict with keys {modalities}, one "
            f"entry per example in each. Received: {received}"
        )
    read = {}
    for modality in modalities:
        if modality == "images":
            channels = encoders["images"].input.shape[-1]
            read[modality] = check_images(inputs[modality], channels)
        else:
            read[modality] = read_waveforms(
                inputs[modality], audio.sample_rate, sample_rate
            )
    sizes = {modality: len(value) for modality, value in read.items()}
    if len(set(sizes.values())) > 1:
        raise ValueError(
            "The inputs must have one entry per example each, in equal "
            f"numbers. Received: {sizes}"
        )
    return read


def num_rows(read):
    """Examples in inputs from `read_inputs`."""
    return len(next(iter(read.values())))


def encoder_arrays(read, audio):
    """Inputs from `read_inputs` -> the model's encoder inputs as NumPy
    arrays: `"images"`, and waveforms cropped or padded with their mask
    (`"audio"`, `"audio_padding_mask"`) by `audio`."""
    arrays = {}
    for modality, value in read.items():
        if modality != "audio":
            arrays[modality] = value
            continue
        rows = too_long(value, audio)
        if rows:
            warnings.warn(
                f"{len(rows)} clips are longer than the encoder's "
                f"max_duration (rows {rows[:5]}); only their first "
                "max_duration seconds are captioned.",
                stacklevel=5,
            )
        arrays.update(audio(value))
    return arrays


def check_training_inputs(x, y, modalities, model_inputs, read, audio):
    """Checks raw `{*modalities, "text"}` for `fit` and `evaluate`; returns
    `x` with its inputs read by `read` (audio into waveforms), and `y`."""
    _check_no_labels(x, y)
    if x is None or isinstance(x, keras.utils.PyDataset):
        return x, y
    if hasattr(x, "element_spec"):  # A tf.data.Dataset.
        return x, y
    keys = [*modalities, "text"]
    if not isinstance(x, dict):
        raise ValueError(
            f"A captioner's inputs must be a dict with keys {keys} (one "
            "caption per example), or a batched `tf.data.Dataset` of such "
            f"dicts. Received: {type(x).__name__}"
        )
    if "text" not in x and {"token_ids", "padding_mask"} <= set(x):
        check_inputs(x, model_inputs)
        return x, y
    if set(x) != set(keys):
        raise ValueError(
            f"A captioner's inputs must be a dict with keys {keys}. "
            f"Received keys: {sorted(x)}"
        )
    inputs = read({modality: x[modality] for modality in modalities})
    text = x["text"]
    if isinstance(text, (str, bytes)):
        text = [text]
    text = list(np.asarray(text, dtype=object).reshape(-1))
    if not text:
        raise ValueError(
            "A captioner needs at least one caption to train or "
            "evaluate on. Received: an empty list of captions."
        )
    bad = [i for i, t in enumerate(text) if not isinstance(t, str)]
    if bad:
        raise ValueError(
            "Captions must be strings. Received non-strings at rows "
            f"{bad[:5]}: {[text[i] for i in bad[:5]]}"
        )
    if len(text) != num_rows(inputs):
        what = (
            modalities[0]
            if len(modalities) == 1
            else (f"({', '.join(modalities)}) examples")
        )
        raise ValueError(
            "There must be one caption per input. Received: "
            f"{num_rows(inputs)} {what} and {len(text)} captions."
        )
    if "audio" in inputs:
        rows = too_long(inputs["audio"], audio)
        if rows:
            raise ValueError(
                f"{len(rows)} clips are longer than the encoder's "
                f"max_duration={audio.max_duration} s (rows "
                f"{rows[:5]}): their transcripts would no longer "
                "match the cropped audio. Build the audio encoder with "
                "a larger `max_duration`, or drop those clips."
            )
    return {**inputs, "text": x["text"]}, y
