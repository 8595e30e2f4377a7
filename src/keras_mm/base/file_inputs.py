"""The raw inputs of a model that may come as files, and their reading:
file paths in a dict, a `tf.data.Dataset`, a pandas DataFrame or a Hugging
Face `datasets.Dataset` become batches whose files `tf.data` reads as they
are needed (`keras_mm.data.streaming`)."""

import os

import numpy as np

from keras_mm.data.adapters import batch_examples
from keras_mm.data.adapters import huggingface_dataset
from keras_mm.data.adapters import is_huggingface
from keras_mm.data.frames import CellError
from keras_mm.data.frames import load_frame
from keras_mm.data.frames import load_image_cell
from keras_mm.data.pipeline import batch
from keras_mm.data.streaming import path_inputs
from keras_mm.data.streaming import read_files
from keras_mm.data.streaming import read_rows
from keras_mm.data.streaming import stream_frame
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.image_preprocessing import image_shapes


def is_frame(x):
    """Whether `x` is a pandas DataFrame."""
    return hasattr(x, "columns") and hasattr(x, "iloc")


class FileInputs:
    """Reads the files among a `PipelineModel`'s raw inputs: its image
    inputs (rank-4 inputs without a preprocessor) and its audio inputs
    (an `AudioPreprocessor`'s)."""

    def __init__(self, model):
        self.model = model

    def _kinds(self):
        """The raw inputs that may be given as files: a dict of image keys
        to the `(height, width)` they are read at, a dict of audio keys to
        samples per second, and a list of text keys."""
        expected = (
            self.model.input if isinstance(self.model.input, dict) else {}
        )
        preprocessors = getattr(self.model.preprocessor, "preprocessors", {})
        missing = getattr(self.model.preprocessor, "missing", None) or {}
        sizes = [shape[:2] for shape in image_shapes(self.model)]
        images, audio, text = {}, {}, []
        for key in expected:
            layer = preprocessors.get(key)
            if isinstance(layer, AudioPreprocessor):
                audio[key] = layer.sample_rate
            elif layer is not None or missing.get(key, {}).get("dtype") == (
                "string"
            ):
                text.append(key)
            elif len(getattr(expected[key], "shape", ())) == 4:
                images[key] = sizes[0] if sizes else None
        return images, audio, text

    def path_keys(self, x):
        """The image and audio keys of `x` (a dict of batches, or an
        element spec) that hold file paths."""
        images, audio, _ = self._kinds()
        return path_inputs(x, {**images, **audio})

    def read(self, dataset, keys, positions=False):
        """Reads the files at `keys` in a dataset of batches (of
        `(positions, batch)` with `positions`)."""
        images, audio, _ = self._kinds()
        images = {key: images[key] for key in keys if key in images}
        audio = {key: audio[key] for key in keys if key in audio}
        if positions:
            return read_rows(dataset, images, audio, "raise", None)
        return read_files(dataset, images=images, audio=audio)

    def read_dataset(self, dataset, batch_size):
        """A `tf.data.Dataset` of file paths (single rows, or batches)
        becomes one of batches that hold the read images and audio."""
        spec = dataset.element_spec
        paths = self.path_keys(spec[0] if isinstance(spec, tuple) else spec)
        if not paths:
            return batch_examples(dataset, self.model.input, batch_size)
        x = spec[0] if isinstance(spec, tuple) else spec
        if x[paths[0]].shape.rank == 0:  # Single rows.
            if batch_size is None:
                batch_examples(
                    dataset, self.model.input, None
                )  # Says to batch.
            dataset = batch(dataset, batch_size)
        return self.read(dataset, paths)

    def from_table(self, x, y, batch_size=None, shuffle=False):
        """Reads a pandas DataFrame (image and audio file paths, text)
        into raw inputs; `y` may name the label column. A frame whose
        image and audio columns hold a path in every row is streamed (a
        `tf.data.Dataset` of batches that reads its files as it goes);
        another (arrays, missing cells) is read whole by `load_frame`.
        Other inputs pass through `stack_images`."""
        if is_huggingface(x):
            if isinstance(y, str) and y in x.column_names:
                encoded = self.model._encode_labels(np.asarray(x[y]))
                x = x.remove_columns(y).add_column(y, list(encoded))
            dataset = huggingface_dataset(
                x,
                self.model.input if isinstance(self.model.input, dict) else {},
                y,
                batch_size,
                shuffle,
            )
            return self.read_dataset(dataset, batch_size), None
        if not is_frame(x):
            return self.stack_images(x), y
        images, audio, text = self._kinds()
        images = {k: v for k, v in images.items() if k in x.columns}
        audio = {k: v for k, v in audio.items() if k in x.columns}
        text = [key for key in text if key in x.columns]
        if isinstance(y, str) and y not in x.columns:
            raise ValueError(
                f"`y` must be a column of the DataFrame. Received: y={y!r}; "
                f"columns: {list(x.columns)}"
            )
        if isinstance(y, str):
            x = x.assign(
                **{y: list(self.model._encode_labels(x[y].to_numpy()))}
            )
        rates = set(audio.values())
        options = dict(
            images=list(images),
            audio=list(audio),
            text=text,
            labels=y if isinstance(y, str) else None,
            image_size=next(iter(images.values()), None),
            sample_rate=rates.pop() if len(rates) == 1 else 16000,
        )
        if self._can_stream(x, y, list(images) + list(audio)):
            batches = stream_frame(
                x, batch_size=batch_size or 32, shuffle=shuffle, **options
            )
            return batches, None
        frame = x
        try:
            x, labels = load_frame(frame, **options)
        except ValueError as error:
            message = str(error).replace(
                'Pass `on_error="skip"`',
                "Read the frame with `keras_mm.data.load_frame(frame, ..., "
                'on_error="skip")`',
            )
            raise ValueError(message) from None
        missing = getattr(self.model.preprocessor, "missing", None) or {}
        for key in text:
            if key not in missing:
                # Empty text is text, for a model that takes no missing text.
                x[key] = [
                    "" if value is None and isinstance(cell, str) else value
                    for value, cell in zip(x[key], frame[key])
                ]
        return x, labels if isinstance(y, str) else y

    def stack_images(self, x):
        """Lists of images of different sizes in the dict `x` are resized
        to the image encoder's size, as image files are; anything else is
        returned as it is."""
        if not isinstance(x, dict):
            return x
        images, _, _ = self._kinds()
        x = dict(x)
        for key, size in images.items():
            values = x.get(key)
            if not isinstance(values, (list, tuple)) or not all(
                np.ndim(value) >= 2 for value in values
            ):
                continue
            shapes = sorted({np.shape(value) for value in values})
            if len(shapes) < 2:
                continue
            if size is None:
                raise ValueError(
                    f"Images of input '{key}' differ in size, and its "
                    "encoder takes any size: resize them to one size "
                    f"first. Received shapes: {shapes[:5]}"
                )
            stacked = []
            for row, value in enumerate(values):
                try:
                    stacked.append(load_image_cell(value, size))
                except CellError as error:
                    raise ValueError(
                        f"Image {row} of input '{key}' cannot be used: {error}"
                    ) from None
            x[key] = np.stack(stacked)
        return x

    def _can_stream(self, frame, y, file_columns):
        """Whether `frame` can be streamed: files to read, a path in every
        file cell, labels in a column (or none), and no input that may be
        missing (`load_frame` keeps missing cells apart)."""
        if not file_columns or getattr(
            self.model.preprocessor, "missing", None
        ):
            return False
        if y is not None and not isinstance(y, str):
            return False
        return all(
            isinstance(value, (str, os.PathLike)) and str(value).strip()
            for column in file_columns
            for value in frame[column]
        )
