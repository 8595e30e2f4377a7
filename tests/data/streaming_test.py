import logging
import os

import keras
import numpy as np
import pandas as pd
import pytest
import soundfile
import tensorflow as tf

import keras_mm
from keras_mm.data.streaming import read_errors
from keras_mm.data.streaming import read_files
from keras_mm.data.streaming import stream_frame
from tests.test_case import TestCase

TEXTS = ["red circle", "blue square", "a red square", "blue"] * 2


def write_images(directory, n=8):
    """`n` PNGs whose every pixel is the row number, of different sizes."""
    paths = []
    for i in range(n):
        path = os.path.join(directory, f"{i}.png")
        image = np.full((10 + i, 12, 3), i, "uint8")
        tf.io.write_file(path, tf.io.encode_png(image))
        paths.append(path)
    return paths


def tiny_classifier(audio=False):
    vocabulary = keras_mm.encoders.text_vocabulary(TEXTS)
    encoders = {
        "text": keras_mm.encoders.text(
            "bag_of_words_small", vocabulary=vocabulary, sequence_length=4
        )
    }
    if audio:
        encoders["audio"] = keras_mm.encoders.audio(
            sample_rate=4000,
            max_duration=0.5,
            num_mel_bins=16,
            hidden_dim=8,
            num_layers=1,
        )
    else:
        encoders["images"] = keras_mm.encoders.image(
            "cnn_small", image_shape=(16, 16, 3)
        )
    return keras_mm.build_classifier(encoders, num_classes=2, hidden_dim=8)


class StreamFrameTest(TestCase):
    def setUp(self):
        super().setUp()
        self.paths = write_images(self.get_temp_dir())
        self.frame = pd.DataFrame(
            {"image": self.paths, "text": TEXTS, "label": range(8)},
            index=[f"r{i}" for i in range(8)],
        )

    def test_batches_keep_rows_together_when_shuffled(self):
        batches = stream_frame(
            self.frame,
            images="image",
            text="text",
            labels="label",
            image_size=(4, 4),
            batch_size=3,
            shuffle=True,
        )
        self.assertEqual(int(batches.cardinality()), 3)
        seen = []
        for x, y in batches:
            self.assertEqual(x["image"].dtype, tf.uint8)
            # Each image's pixels are its row number: still with its label.
            np.testing.assert_array_equal(
                x["image"].numpy()[:, 0, 0, 0], y.numpy()
            )
            np.testing.assert_array_equal(
                x["text"].numpy().astype(str), np.array(TEXTS)[y.numpy()]
            )
            seen.extend(y.numpy().tolist())
        self.assertEqual(sorted(seen), list(range(8)))
        self.assertNotEqual(seen, list(range(8)))

    def test_a_bad_file_names_its_row_when_met_or_is_skipped(self):
        with open(self.paths[5], "w") as f:
            f.write("not an image")
        batches = stream_frame(
            self.frame, images="image", labels="label", image_size=(4, 4)
        )
        with pytest.raises(ValueError) as error:
            with read_errors():
                list(batches.shuffle(8))
        self.assertIn("row 'r5' (position 5): column 'image'", str(error.value))
        self.assertIn("5.png': Unknown image file format", str(error.value))
        self.assertIn('on_error="skip"', str(error.value))
        # A wrapped error from another cause passes through unchanged.
        with pytest.raises(tf.errors.InvalidArgumentError):
            with read_errors():
                tf.debugging.assert_equal(1, 2)

        skipping = stream_frame(
            self.frame,
            images="image",
            labels="label",
            image_size=(4, 4),
            batch_size=4,
            on_error="skip",
        )
        with self.assertLogs("keras_mm", logging.WARNING) as logs:
            labels = [y.numpy().tolist() for _, y in skipping]
        self.assertEqual(labels, [[0, 1, 2, 3], [4, 6, 7]])
        self.assertIn("row 'r5' (position 5)", logs.output[0])

    def test_cache_reads_files_once(self):
        cache = os.path.join(self.get_temp_dir(), "cache")
        batches = stream_frame(
            self.frame, images="image", image_size=(4, 4), cache=cache
        )
        first = [x["image"].numpy() for x in batches]
        for path in self.paths:
            os.remove(path)
        again = [x["image"].numpy() for x in batches]
        np.testing.assert_array_equal(
            np.concatenate(first), np.concatenate(again)
        )

    def test_cells_that_are_not_paths(self):
        frame = self.frame.copy()
        frame.loc["r2", "image"] = None
        with pytest.raises(ValueError, match=r"rows \[2\].*load_frame"):
            stream_frame(frame, images="image")
        with pytest.raises(ValueError, match=r"Unknown column\(s\) \['img'\]"):
            stream_frame(frame, images="img")
        with pytest.raises(ValueError, match='"raise" or "skip"'):
            stream_frame(self.frame, images="image", on_error="ignore")

    def test_read_files_of_audio_in_a_users_batches(self):
        directory = self.get_temp_dir()
        paths = []
        for i in range(3):
            paths.append(os.path.join(directory, f"{i}.wav"))
            soundfile.write(paths[-1], np.full(800 + 400 * i, 0.5), 8000)
        batches = tf.data.Dataset.from_tensor_slices({"audio": paths}).batch(2)
        read = read_files(batches, audio={"audio": 4000})
        lengths = [x["audio"].row_lengths().numpy().tolist() for x in read]
        self.assertEqual(lengths, [[400, 600], [800]])


class TasksStreamFilesTest(TestCase):
    """A task's `fit`, `evaluate` and `predict` read image and audio files
    in their pipeline, whatever holds the paths."""

    def test_paths_in_a_frame_a_dict_and_datasets(self):
        paths = write_images(self.get_temp_dir())
        images = np.stack(
            [keras_mm.data.read_image(p, image_size=(16, 16)) for p in paths]
        )
        labels = np.array([0, 1] * 4)
        model = tiny_classifier()
        frame = pd.DataFrame({"images": paths, "text": TEXTS, "y": labels})
        history = model.fit(
            frame, "y", batch_size=4, epochs=2, validation_split=0.25, verbose=0
        )
        self.assertIn("val_loss", history.history)
        expected = model.predict({"images": images, "text": TEXTS}, verbose=0)
        rows = tf.data.Dataset.from_tensor_slices(
            ({"images": paths, "text": TEXTS}, labels)
        )
        for given in (
            frame,
            {"images": paths, "text": TEXTS},
            rows.map(lambda x, y: x).batch(3),
        ):
            self.assertAllClose(model.predict(given, verbose=0), expected)
        scores = [
            model.evaluate(rows, batch_size=4, verbose=0),
            model.evaluate(rows.batch(4), verbose=0),
            model.evaluate(
                {"images": images, "text": TEXTS}, labels, verbose=0
            ),
        ]
        self.assertAllClose(scores[0], scores[2])
        self.assertAllClose(scores[1], scores[2])
        with pytest.raises(ValueError, match="single examples.*Batch it"):
            model.fit(rows, verbose=0)

    def test_a_bad_file_fails_fit_with_its_row(self):
        paths = write_images(self.get_temp_dir())
        paths[6] = paths[6] + ".missing"
        model = tiny_classifier()
        with pytest.raises(ValueError, match=r"(?s)row 6 .*no such file"):
            model.fit(
                {"images": paths, "text": TEXTS},
                np.zeros(8),
                batch_size=4,
                verbose=0,
            )

    def test_audio_files_in_a_frame(self):
        directory = self.get_temp_dir()
        paths, waveforms = [], []
        for i in range(4):
            wave = np.sin(np.linspace(0, 40 * (i + 1), 2000 + 500 * i))
            paths.append(os.path.join(directory, f"{i}.wav"))
            soundfile.write(paths[-1], wave.astype("float32"), 8000)
            waveforms.append(keras_mm.data.read_audio(paths[-1], 4000))
        model = tiny_classifier(audio=True)
        frame = pd.DataFrame({"audio": paths, "text": TEXTS[:4]})
        self.assertAllClose(
            model.predict(frame, batch_size=2, verbose=0),
            model.predict({"audio": waveforms, "text": TEXTS[:4]}, verbose=0),
            atol=1e-5,
        )
        keras.backend.clear_session()


class ReadmeStreamFrameTest(TestCase):
    def test_readme_example(self):
        from tests.readme_test import python_blocks

        (block,) = [b for b in python_blocks() if "stream_frame(" in b]
        cache = os.path.join(self.get_temp_dir(), "scenes.cache")
        self.assertIn('cache="/tmp/scenes.cache"', block)
        block = block.replace('"/tmp/scenes.cache"', repr(cache))
        paths = write_images(self.get_temp_dir())
        with open(paths[2], "w") as f:
            f.write("not an image")
        frame = pd.DataFrame(
            {"images": paths, "text": TEXTS, "label": [0, 1] * 4}
        )
        vocabulary = keras_mm.encoders.text_vocabulary(TEXTS)
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(64, 64, 3)
                ),
                "text": keras_mm.encoders.text(
                    "bag_of_words_small",
                    vocabulary=vocabulary,
                    sequence_length=4,
                ),
            },
            num_classes=2,
            hidden_dim=8,
        )
        namespace = {"keras_mm": keras_mm, "frame": frame, "model": model}
        with self.assertLogs("keras_mm", logging.WARNING) as logs:
            exec(block.replace("epochs=3", "epochs=2, verbose=0"), namespace)  # noqa: S102
        self.assertIn("row 2 (position 2)", logs.output[0])
        self.assertTrue(os.path.exists(cache + ".index"))
