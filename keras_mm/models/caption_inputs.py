"""What a captioner accepts: its encoder, images or audio, and captions.

Each check runs on raw inputs before anything is traced, so a bad input
fails with a message that says what was received.
"""

import warnings

import keras
import numpy as np

from keras_mm.base.input_checks import check_inputs
from keras_mm.data.audio_io import read_waveforms
from keras_mm.encoders.encoder import Encoder
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
            "`keras_mm.encoders.image(...)` or `keras_mm.encoders.audio(...)`."
            f" Received: {type(encoder).__name__}"
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


def read_inputs(inputs, modality, encoder_input, audio, sample_rate=None):
    """Checked images (an array) or audio (a list of waveforms, files read
    and resampled), or a `ValueError` that says what was received."""
    if modality == "images":
        return check_images(inputs, encoder_input.shape[-1])
    return read_waveforms(inputs, audio.sample_rate, sample_rate)


def encoder_arrays(inputs, audio):
    """Checked images, or waveforms cropped or padded with their mask
    (`{"audio", "audio_padding_mask"}`) by `audio`, as NumPy arrays."""
    if audio is None:
        return inputs
    rows = too_long(inputs, audio)
    if rows:
        warnings.warn(
            f"{len(rows)} clips are longer than the encoder's "
            f"max_duration (rows {rows[:5]}); only their first "
            "max_duration seconds are captioned.",
            stacklevel=5,
        )
    return audio(inputs)


def check_training_inputs(x, y, modality, model_inputs, read, audio):
    """Checks raw `{modality, "text"}` for `fit` and `evaluate`; returns
    `x` with its inputs read by `read` (audio into waveforms), and `y`."""
    _check_no_labels(x, y)
    if x is None or isinstance(x, keras.utils.PyDataset):
        return x, y
    if hasattr(x, "element_spec"):  # A tf.data.Dataset.
        return x, y
    if not isinstance(x, dict):
        raise ValueError(
            f"A captioner's inputs must be a dict with keys '{modality}' "
            f"and 'text' (one caption per input), or a batched "
            "`tf.data.Dataset` of such dicts. Received: "
            f"{type(x).__name__}"
        )
    if "text" not in x and {"token_ids", "padding_mask"} <= set(x):
        check_inputs(x, model_inputs)
        return x, y
    if set(x) != {modality, "text"}:
        raise ValueError(
            f"A captioner's inputs must be a dict with keys '{modality}' "
            f"and 'text'. Received keys: {sorted(x)}"
        )
    inputs = read(x[modality])
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
    if len(text) != len(inputs):
        raise ValueError(
            f"There must be one caption per input. Received: "
            f"{len(inputs)} {modality} and {len(text)} captions."
        )
    if audio is not None:
        rows = too_long(inputs, audio)
        if rows:
            raise ValueError(
                f"{len(rows)} clips are longer than the encoder's "
                f"max_duration={audio.max_duration} s (rows "
                f"{rows[:5]}): their transcripts would no longer "
                "match the cropped audio. Build the audio encoder with "
                "a larger `max_duration`, or drop those clips."
            )
    return {modality: inputs, "text": x["text"]}, y
