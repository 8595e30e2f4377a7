import collections
import functools
import time

import numpy as np
import pytest

import keras_mm
from keras_mm.datasets import scenes
from keras_mm.datasets.scenes import COLOURS
from keras_mm.datasets.scenes import HELD_OUT
from keras_mm.datasets.scenes import LABELS
from keras_mm.datasets.scenes import SHAPES
from keras_mm.datasets.scenes import TEMPLATES
from keras_mm.datasets.scenes import WORDS
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

_RGB = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 215, 40),
    "purple": (160, 60, 210),
    "cyan": (40, 210, 215),
}
_PLURALS = {"circle": "circles", "square": "squares"}
_PLURALS.update(triangle="triangles", cross="crosses")
_SINGULAR = {plural: shape for shape, plural in _PLURALS.items()}
_NUMBERS = {"one": 1, "two": 2, "three": 3}
_WHERE = {
    "at the top": "top",
    "in the middle": "middle",
    "at the bottom": "bottom",
    "on the left": "left",
    "on the right": "right",
}


@functools.cache
def small():
    return scenes(num_samples=120, image_size=32, seed=0)


@functools.cache
def large():
    start = time.perf_counter()
    data = scenes(num_samples=2000, image_size=64, seed=0)
    return data, time.perf_counter() - start


def expected_label(statement, objects, word):
    """Labels `statement` from the scene factors, by the documented rules."""
    if statement.startswith("the word is "):
        if not word:
            return 2
        return int(statement.split()[-1] == word)
    tokens = statement.split()
    if statement.startswith("the number of "):
        shape = _SINGULAR[tokens[3]]
        found = [o for o in objects if o["shape"] == shape]
        if not found:
            return 2
        return int(len(found) == _NUMBERS[tokens[-1]])
    shape = _SINGULAR[tokens[1]]
    found = [o for o in objects if o["shape"] == shape]
    if not found:
        return 2
    value = " ".join(tokens[3:])
    if value in _WHERE:
        return int(found[0]["position"] == _WHERE[value])
    key = "colour" if value in COLOURS else "size"
    return int(found[0][key] == value)


class ScenesTest(TestCase):
    def test_structure(self):
        data = small()
        self.assertEqual(list(data), ["train", "validation", "test"])
        sizes = {name: len(split["labels"]) for name, split in data.items()}
        self.assertEqual(sizes, {"train": 84, "validation": 12, "test": 24})
        for split in data.values():
            n = len(split["labels"])
            self.assertEqual(split["images"].shape, (n, 32, 32, 3))
            self.assertEqual(split["images"].dtype, np.uint8)
            self.assertEqual(split["labels"].dtype, np.int32)
            self.assertEqual(set(split["labels"].tolist()), {0, 1, 2})
            for key in (
                "captions",
                "references",
                "statements",
                "templates",
                "objects",
                "word",
                "word_position",
                "background",
            ):
                self.assertLen(split[key], n, msg=key)
            for caption, refs in zip(split["captions"], split["references"]):
                self.assertIsInstance(caption, str)
                self.assertLen(refs, 5)
                self.assertEqual(refs[0], caption)
                self.assertLen(set(refs), 5)
            for objects in split["objects"]:
                self.assertBetween(len(objects), 1, 6)
                for obj in objects:
                    self.assertEqual(
                        sorted(obj),
                        ["center", "colour", "position", "shape", "size"],
                    )
            self.assertTrue(set(split["templates"]) <= set(TEMPLATES))
            self.assertTrue(set(split["word"]) <= set(WORDS) | {""})
        self.assertEqual(LABELS, ("false", "true", "unknown"))

    def test_deterministic(self):
        first = small()
        again = scenes(num_samples=120, image_size=32, seed=0)
        other = scenes(num_samples=120, image_size=32, seed=1)
        for name in first:
            for key, value in first[name].items():
                if isinstance(value, np.ndarray):
                    np.testing.assert_array_equal(value, again[name][key])
                else:
                    self.assertEqual(value, again[name][key])
        self.assertFalse(
            np.array_equal(first["train"]["images"], other["train"]["images"])
        )
        self.assertNotEqual(
            first["train"]["statements"], other["train"]["statements"]
        )

    def test_labels_follow_the_documented_rules(self):
        data, _ = large()
        for split in data.values():
            for statement, objects, word, label in zip(
                split["statements"],
                split["objects"],
                split["word"],
                split["labels"],
            ):
                self.assertEqual(
                    expected_label(statement, objects, word),
                    label,
                    msg=statement,
                )

    def test_label_balance(self):
        data, _ = large()
        for split in data.values():
            counts = np.bincount(split["labels"], minlength=3)
            self.assertLessEqual(counts.max() - counts.min(), 1)
        train = data["train"]
        templates = np.array(train["templates"])
        for template in TEMPLATES:
            labels = train["labels"][templates == template]
            fractions = np.bincount(labels, minlength=3) / len(labels)
            self.assertBetween(fractions.min(), 0.25, 0.34, msg=template)
            self.assertBetween(fractions.max(), 0.33, 0.42, msg=template)

    def test_statement_alone_predicts_chance(self):
        data, _ = large()
        by_statement = collections.defaultdict(collections.Counter)
        for statement, label in zip(
            data["train"]["statements"], data["train"]["labels"]
        ):
            by_statement[statement][int(label)] += 1
        # A majority vote per statement string, fitted on train.
        predictions = [
            by_statement[s].most_common(1)[0][0] if s in by_statement else 0
            for s in data["test"]["statements"]
        ]
        accuracy = np.mean(np.array(predictions) == data["test"]["labels"])
        self.assertLess(accuracy, 0.42)
        frequent = [c for c in by_statement.values() if c.total() >= 8]
        self.assertGreater(len(frequent), 20)
        mixed = [c for c in frequent if len(c) >= 2]
        self.assertGreater(len(mixed) / len(frequent), 0.9)

    def test_image_alone_predicts_chance(self):
        data, _ = large()
        train = data["train"]
        factors = {
            "word": [bool(w) for w in train["word"]],
            "num_objects": [len(o) for o in train["objects"]],
            "background": train["background"],
        }
        for name, values in factors.items():
            values = np.array(values)
            for value in set(values.tolist()):
                labels = train["labels"][values == value]
                fractions = np.bincount(labels, minlength=3) / len(labels)
                self.assertBetween(fractions.min(), 0.25, 0.34, msg=name)

    def test_held_out_combinations(self):
        data, _ = large()

        def pairs(objects):
            return {(o["colour"], o["shape"]) for o in objects}

        validation = set(HELD_OUT["validation"])
        test = set(HELD_OUT["test"])
        held_out_statements = {
            f"the {_PLURALS[shape]} are {colour}"
            for colour, shape in validation | test
        }
        for objects in data["train"]["objects"]:
            self.assertFalse(pairs(objects) & (validation | test))
        self.assertFalse(set(data["train"]["statements"]) & held_out_statements)
        for objects in data["validation"]["objects"]:
            self.assertTrue(pairs(objects) & validation)
            self.assertFalse(pairs(objects) & test)
        for objects in data["test"]["objects"]:
            self.assertTrue(pairs(objects) & test)
            self.assertFalse(pairs(objects) & validation)
        # Every shape and colour is still seen in training.
        seen = set().union(*map(pairs, data["train"]["objects"]))
        self.assertEqual({s for _, s in seen}, set(SHAPES))
        self.assertEqual({c for c, _ in seen}, set(COLOURS))

    def test_captions_and_pixels_match_the_scene(self):
        data, _ = large()
        split = data["test"]
        for i, caption in enumerate(split["captions"]):
            for obj in split["objects"][i]:
                self.assertIn(obj["colour"], caption)
                self.assertIn(obj["shape"][:-1], caption)
                self.assertIn(obj["size"], caption)
                y, x = obj["center"]
                pixel = split["images"][i, y, x].astype("int32")
                self.assertLessEqual(
                    np.abs(pixel - _RGB[obj["colour"]]).max(), 12
                )
            self.assertIn(split["background"][i], caption)
            if split["word"][i]:
                self.assertIn(f"the word {split['word'][i]}", caption)
            else:
                self.assertNotIn("word", caption)

    def test_generation_time_and_vocabulary(self):
        data, seconds = large()
        self.assertLess(seconds, 30)
        self.assertEqual(data["train"]["images"].shape, (1400, 64, 64, 3))
        vocabulary = keras_mm.encoders.text_vocabulary(
            data["train"]["statements"], vocabulary_size=300
        )
        for word in ("circles", "crosses", "red", "big", "number", "cat"):
            self.assertIn(word, vocabulary)

    def test_words_keep_their_letters_at_48_pixels(self):
        # In a row the word runs across, in a column downwards; either way
        # the font is drawn at least at its own size (glyphs 5-9 pixels
        # tall), not shrunk into illegible strokes.
        split = scenes(num_samples=300, image_size=48, seed=1)["train"]
        seen = collections.Counter()
        for image, word, where in zip(
            split["images"], split["word"], split["word_position"]
        ):
            if not word or where == "middle":
                continue
            ink = np.all(image >= 240, axis=-1)
            rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
            height = rows[-1] - rows[0] + 1
            width = cols[-1] - cols[0] + 1
            if where in ("left", "right"):
                self.assertGreater(height, 2 * width, msg=word)
                self.assertGreaterEqual(height, 3 * 5, msg=word)
            else:
                self.assertGreater(width, 2 * height, msg=word)
                self.assertGreaterEqual(width, 17, msg=word)
            seen[where in ("left", "right")] += 1
        self.assertGreater(min(seen[True], seen[False]), 10)

    def test_no_words(self):
        data = scenes(num_samples=60, image_size=24, seed=3, words=False)
        for split in data.values():
            self.assertEqual(set(split["word"]), {""})
            self.assertNotIn("word", set(split["templates"]))

    def test_bad_arguments(self):
        for kwargs, received in (
            ({"num_samples": 10}, "num_samples=10"),
            ({"num_samples": 100.0}, "num_samples=100.0"),
            ({"image_size": 8}, "image_size=8"),
            ({"seed": "a"}, "seed='a'"),
            ({"seed": -1}, "seed=-1"),
            ({"seed": 1.5}, "seed=1.5"),
            ({"words": "yes"}, "words='yes'"),
        ):
            with self.assertRaisesRegex(ValueError, f"Received: {received}"):
                scenes(**kwargs)
