import os
import pathlib
from unittest import mock

import numpy as np
import pandas as pd
import scipy.io.wavfile
import tensorflow as tf

from keras_mm.data import frames
from keras_mm.data.frames import load_frame
from keras_mm.data.frames import read_image
from tests.test_case import TestCase


def random_image(height=8, width=10, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (height, width, channels), dtype="uint8")


def write_png(path, image):
    tf.io.write_file(path, tf.io.encode_png(image))
    return path


def write_wav(path, seconds=0.25, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    waveform = 0.5 * np.sin(2 * np.pi * 440 * t)
    scipy.io.wavfile.write(path, rate, (waveform * 32767).astype("int16"))
    return path


class ReadImageTest(TestCase):
    def test_png_round_trip_and_resize(self):
        image = random_image()
        path = write_png(os.path.join(self.get_temp_dir(), "a.png"), image)
        decoded = read_image(path)
        self.assertEqual(decoded.dtype, np.uint8)
        np.testing.assert_array_equal(decoded, image)
        resized = read_image(pathlib.Path(path), image_size=(4, 5))
        self.assertEqual(resized.dtype, np.uint8)
        self.assertEqual(resized.shape, (4, 5, 3))
        flat = read_image(
            write_png(path, np.full((8, 10, 3), 77, "uint8")), (3, 3)
        )
        np.testing.assert_array_equal(flat, np.full((3, 3, 3), 77, "uint8"))

    def test_jpeg_bmp_and_gif(self):
        from PIL import Image

        image = np.full((6, 7, 3), 120, "uint8")
        directory = self.get_temp_dir()
        for name in ("a.jpg", "a.bmp", "a.gif"):
            path = os.path.join(directory, name)
            Image.fromarray(image).save(path)
            decoded = read_image(path)
            self.assertEqual(decoded.shape, (6, 7, 3), msg=name)
            self.assertAllClose(decoded, image, atol=3, msg=name)

    def test_grayscale_and_rgba_conversion(self):
        directory = self.get_temp_dir()
        gray = random_image(channels=1)
        path = write_png(os.path.join(directory, "gray.png"), gray)
        rgb = read_image(path)
        self.assertEqual(rgb.shape, (8, 10, 3))
        np.testing.assert_array_equal(rgb, np.repeat(gray, 3, axis=-1))
        np.testing.assert_array_equal(read_image(path, channels=1), gray)
        rgba = read_image(path, channels=4)
        np.testing.assert_array_equal(rgba[..., 3], 255)

        image = random_image(channels=4)
        path = write_png(os.path.join(directory, "rgba.png"), image)
        np.testing.assert_array_equal(read_image(path), image[..., :3])
        np.testing.assert_array_equal(read_image(path, channels=4), image)
        self.assertEqual(read_image(path, channels=1).shape, (8, 10, 1))

    def test_missing_and_corrupt_files(self):
        directory = self.get_temp_dir()
        missing = os.path.join(directory, "missing.png")
        with self.assertRaisesRegex(ValueError, "missing.png.*no such file"):
            read_image(missing)
        corrupt = os.path.join(directory, "corrupt.png")
        with open(corrupt, "wb") as f:
            f.write(b"not an image")
        with self.assertRaisesRegex(
            ValueError, "corrupt.png.*Unknown image file format"
        ) as error:
            read_image(corrupt)
        self.assertNotIn("Op:", str(error.exception))
        self.assertNotIn("function_node", str(error.exception))

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "image_size"):
            read_image("a.png", image_size=(0, 4))
        with self.assertRaisesRegex(ValueError, "channels"):
            read_image("a.png", channels=2)


class LoadFrameTest(TestCase):
    def make_frame(self, num_rows=3):
        directory = self.get_temp_dir()
        rows = []
        for i in range(num_rows):
            image = np.full((8, 10, 3), 10 * i, "uint8")
            rows.append(
                {
                    "image": write_png(
                        os.path.join(directory, f"{i}.png"), image
                    ),
                    "sound": write_wav(os.path.join(directory, f"{i}.wav")),
                    "caption": f"caption {i}",
                    "label": i % 2,
                }
            )
        return pd.DataFrame(rows, index=[f"r{i}" for i in range(num_rows)])

    def test_image_audio_text_and_labels(self):
        frame = self.make_frame()
        x, y = load_frame(
            frame,
            images="image",
            audio=["sound"],
            text="caption",
            labels="label",
            sample_rate=8000,
        )
        self.assertEqual(list(x), ["image", "sound", "caption"])
        self.assertEqual(x["image"].dtype, np.uint8)
        self.assertEqual(x["image"].shape, (3, 8, 10, 3))
        np.testing.assert_array_equal(x["image"][:, 0, 0, 0], [0, 10, 20])
        self.assertLen(x["sound"], 3)
        for waveform in x["sound"]:
            self.assertEqual(waveform.dtype, np.float32)
            self.assertEqual(waveform.shape, (2000,))
        self.assertEqual(x["caption"], ["caption 0", "caption 1", "caption 2"])
        np.testing.assert_array_equal(y, [0, 1, 0])

    def test_arrays_image_size_and_no_labels(self):
        frame = pd.DataFrame(
            {
                "image": [random_image(8, 8), random_image(6, 4, 1)],
                "sound": [np.zeros(5, "float64"), np.ones(3, "int16")],
            }
        )
        x, y = load_frame(
            frame, images=["image"], audio="sound", image_size=(4, 4)
        )
        self.assertIsNone(y)
        self.assertEqual(x["image"].shape, (2, 4, 4, 3))
        self.assertEqual([w.shape for w in x["sound"]], [(5,), (3,)])
        self.assertEqual(x["sound"][1].dtype, np.float32)

    def test_missing_entries_are_none(self):
        frame = self.make_frame(4)
        frame["image"] = frame["image"].astype(object)
        frame.loc["r1", "image"] = None
        frame.loc["r2", "sound"] = float("nan")
        frame.loc["r3", "sound"] = "  "
        frame.loc["r0", "caption"] = ""
        frame.loc["r2", "caption"] = pd.NA
        x, y = load_frame(
            frame, images="image", audio="sound", text="caption", labels="label"
        )
        self.assertIsInstance(x["image"], list)
        self.assertIsNone(x["image"][1])
        self.assertEqual(x["image"][0].shape, (8, 10, 3))
        self.assertEqual([w is None for w in x["sound"]], [0, 0, 1, 1])
        self.assertEqual(x["caption"], [None, "caption 1", None, "caption 3"])
        np.testing.assert_array_equal(y, [0, 1, 0, 1])

    def test_unreadable_files_raise_naming_rows(self):
        frame = self.make_frame(8)
        directory = self.get_temp_dir()
        corrupt = os.path.join(directory, "corrupt.png")
        with open(corrupt, "wb") as f:
            f.write(b"not an image")
        frame.loc["r1", "image"] = corrupt
        for i in range(2, 8):
            frame.loc[f"r{i}", "sound"] = os.path.join(directory, f"{i}.flac")
        with self.assertRaises(ValueError) as error:
            load_frame(frame, images="image", audio="sound")
        message = str(error.exception)
        self.assertIn("7 of 8 rows could not be read", message)
        self.assertIn("row 'r1' (position 1)", message)
        self.assertIn("column 'image'", message)
        self.assertIn(corrupt, message)
        self.assertIn("Unknown image file format", message)
        self.assertIn("row 'r2' (position 2): column 'sound'", message)
        self.assertIn("2.flac': no such file", message)
        self.assertIn("... and 2 more", message)
        self.assertNotIn("r7", message)
        self.assertIn('on_error="skip"', message)

    def test_skip_drops_rows_from_x_and_y_and_warns(self):
        frame = self.make_frame(4)
        frame.loc["r1", "image"] = "/no/such/image.png"
        sounds = frame["sound"].to_list()
        sounds[3] = np.zeros((2, 2))
        frame["sound"] = pd.Series(sounds, index=frame.index, dtype=object)
        with self.assertWarnsRegex(UserWarning, "Skipped 2 of 4 rows") as w:
            x, y = load_frame(
                frame,
                images="image",
                audio="sound",
                text="caption",
                labels="label",
                on_error="skip",
            )
        message = str(w.warning)
        self.assertIn("row 'r1' (position 1)", message)
        self.assertIn("/no/such/image.png", message)
        self.assertIn("row 'r3' (position 3)", message)
        self.assertEqual(x["image"].shape, (2, 8, 10, 3))
        np.testing.assert_array_equal(x["image"][:, 0, 0, 0], [0, 20])
        self.assertLen(x["sound"], 2)
        self.assertEqual(x["caption"], ["caption 0", "caption 2"])
        np.testing.assert_array_equal(y, [0, 0])

    def test_unknown_and_repeated_columns(self):
        frame = pd.DataFrame({"image": ["a.png"], "label": [0]})
        with self.assertRaisesRegex(
            ValueError, r"Unknown column\(s\) \['photo'\].*\['image', 'label'\]"
        ):
            load_frame(frame, images="photo")
        with self.assertRaisesRegex(ValueError, "Unknown column.*'y'"):
            load_frame(frame, images="image", labels="y")
        with self.assertRaisesRegex(ValueError, "both as `images`"):
            load_frame(frame, images="image", text="image")

    def test_different_image_sizes_need_image_size(self):
        directory = self.get_temp_dir()
        paths = [
            write_png(os.path.join(directory, "a.png"), random_image(8, 8)),
            write_png(os.path.join(directory, "b.png"), random_image(6, 4)),
        ]
        frame = pd.DataFrame({"image": paths})
        with self.assertRaisesRegex(
            ValueError, r"\(6, 4\), \(8, 8\).*image_size=\(height, width\)"
        ):
            load_frame(frame, images="image")
        x, _ = load_frame(frame, images="image", image_size=(5, 5))
        self.assertEqual(x["image"].shape, (2, 5, 5, 3))

    def test_bad_on_error(self):
        frame = pd.DataFrame({"text": ["a"]})
        with self.assertRaisesRegex(ValueError, "on_error.*'ignore'"):
            load_frame(frame, text="text", on_error="ignore")

    def test_progress_bar_for_many_files(self):
        frame = self.make_frame(2)
        with (
            mock.patch.object(frames, "_PROGRESS_BAR_MIN_FILES", 3),
            mock.patch("keras.utils.Progbar") as progbar,
        ):
            load_frame(frame, images="image", audio="sound")
        progbar.assert_called_once_with(4, unit_name="file")
        self.assertEqual(progbar.return_value.update.call_count, 4)
        with mock.patch("keras.utils.Progbar") as progbar:
            load_frame(frame, images="image", audio="sound")
        progbar.assert_not_called()
