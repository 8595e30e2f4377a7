import collections
import functools
import importlib
import itertools
import os
import re
import shutil
import string
import tempfile
from unittest import mock

import numpy as np
import pytest

import keras_mm
from keras_mm.datasets.paired import FACTORS
from keras_mm.datasets.paired import LABELS
from keras_mm.datasets.paired import spoken_commands
from keras_mm.datasets.paired import spoken_scenes
from keras_mm.datasets.scenes import HELD_OUT
from keras_mm.datasets.spoken import _GRAMMAR
from keras_mm.datasets.spoken import INTENTS
from keras_mm.datasets.spoken import SLOTS
from keras_mm.datasets.spoken import VOICES
from keras_mm.datasets.spoken import speak
from tests.test_case import TestCase

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs the espeak-ng program"
)

paired_module = importlib.import_module("keras_mm.datasets.paired")
spoken_module = importlib.import_module("keras_mm.datasets.spoken")
espeak_module = importlib.import_module("keras_mm.datasets.espeak")
SPLITS = ("train", "validation", "test")
_CACHE = tempfile.mkdtemp()
_NUMBERS = {"a": 1, "two": 2, "three": 3}
_SINGULAR = {"circles": "circle", "squares": "square"}
_SINGULAR.update(triangles="triangle", crosses="cross")


@functools.cache
def scene_data():
    cache = os.path.join(_CACHE, "scenes")
    return spoken_scenes(num_samples=40, image_size=32, cache_dir=cache)


@functools.cache
def command_data():
    cache = os.path.join(_CACHE, "commands")
    return spoken_commands(num_samples=40, cache_dir=cache)


def silent_speak(texts, split, sample_rate, seed, noise_snr_db):
    """Stands in for `speak` where only the texts matter."""
    return [np.zeros(8, "float32") for _ in texts], [VOICES[split][0]] * len(
        texts
    )


@functools.cache
def many_scenes():
    cache = os.path.join(_CACHE, "many_scenes")
    with mock.patch.object(paired_module, "speak", silent_speak):
        return spoken_scenes(num_samples=1000, image_size=24, cache_dir=cache)


@functools.cache
def many_commands():
    cache = os.path.join(_CACHE, "many_commands")
    with mock.patch.object(paired_module, "speak", silent_speak):
        return spoken_commands(num_samples=2000, cache_dir=cache)


def assert_same(test, first, second):
    for name in SPLITS:
        test.assertEqual(list(first[name]), list(second[name]))
        for key, value in first[name].items():
            if key == "audio":
                for a, b in zip(value, second[name][key], strict=True):
                    np.testing.assert_array_equal(a, b)
            elif isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, second[name][key])
                test.assertEqual(value.dtype, second[name][key].dtype)
            else:
                test.assertEqual(value, second[name][key])


def parse_scene(description):
    """The (count, size, colour, shape) of each group of a description."""
    groups = []
    for phrase in description.split(" and "):
        count, size, colour, noun = phrase.split()
        shape = _SINGULAR.get(noun, noun)
        groups.append((_NUMBERS[count], size, colour, shape))
    return groups


def _command_patterns():
    patterns = []
    for template in itertools.chain(*_GRAMMAR.values()):
        regex = ""
        for literal, field, _, _ in string.Formatter().parse(template):
            regex += re.escape(literal)
            if field == "plural":
                values = ("circles", "squares", "triangles", "crosses")
                regex += f"(?P<shape>{'|'.join(values)})"
            elif field:
                values = "|".join(re.escape(v) for v in SLOTS[field])
                regex += f"(?P<{field}>{values})"
        patterns.append((template, re.compile(regex)))
    return patterns


def parse_command(sentence):
    """The template and slot values of a sentence of the grammar."""
    for template, pattern in _command_patterns():
        match = pattern.fullmatch(sentence)
        if match:
            return template, match.groupdict()
    raise AssertionError(f"{sentence!r} is not of the grammar")


def scene_features(description):
    groups = parse_scene(description)
    features = [f"groups={len(groups)}"]
    for count, size, colour, shape in groups:
        features += [f"count={count}", f"size={size}", f"colour={colour}"]
        features += [f"shape={shape}", f"pair={colour} {shape}"]
    return features


def assert_uninformative(test, texts, labels, features, max_z=4.0):
    """Each feature is about as frequent with both labels: the mean counts
    per example differ by less than `max_z` standard errors."""
    rows = [collections.Counter(features(text)) for text in texts]
    names = sorted(set().union(*rows))
    counts = np.array([[row[name] for name in names] for row in rows], float)
    first, second = counts[labels == 0], counts[labels == 1]
    error = np.sqrt(first.var(0) / len(first) + second.var(0) / len(second))
    z = np.abs(first.mean(0) - second.mean(0)) / (error + 1e-9)
    test.assertLess(z.max(), max_z, msg=names[int(z.argmax())])
    return z.max()


@pytest.mark.backend_independent
class SpokenScenesTest(TestCase):
    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(_CACHE, ignore_errors=True)
        super().tearDownClass()

    def test_structure(self):
        for data, first in ((scene_data(), "images"), (command_data(), "text")):
            self.assertEqual(list(data), list(SPLITS))
            sizes = {name: len(s["labels"]) for name, s in data.items()}
            self.assertEqual(sizes, {"train": 28, "validation": 4, "test": 8})
            for split in data.values():
                n = len(split["labels"])
                self.assertEqual(list(split)[0], first)
                self.assertEqual(split["labels"].dtype, np.int32)
                self.assertEqual(split["sample_rate"], 16000)
                for key in ("audio", "transcripts", "voices", first):
                    self.assertLen(split[key], n, msg=key)
                for audio in split["audio"]:
                    self.assertEqual(audio.dtype, np.float32)
                    self.assertEqual(audio.ndim, 1)
                    self.assertBetween(audio.shape[0] / 16000, 0.5, 8.0)
                    self.assertLessEqual(np.abs(audio).max(), 1.0)
        images = scene_data()["test"]["images"]
        self.assertEqual(images.shape, (8, 32, 32, 3))
        self.assertEqual(images.dtype, np.uint8)
        self.assertEqual(LABELS, ("mismatch", "match"))

    def test_labels_are_balanced(self):
        for data in (scene_data(), command_data(), many_scenes()):
            for split in data.values():
                counts = np.bincount(split["labels"], minlength=2)
                self.assertLessEqual(abs(counts[0] - counts[1]), 1)

    def test_voices_are_disjoint_between_splits(self):
        for data in (scene_data(), command_data()):
            for name, split in data.items():
                self.assertTrue(set(split["voices"]) <= set(VOICES[name]))
            for a, b in itertools.combinations(SPLITS, 2):
                voices = set(data[a]["voices"]) & set(data[b]["voices"])
                self.assertFalse(voices)
            self.assertGreater(len(set(data["train"]["voices"])), 15)

    def test_mismatch_differs_in_exactly_one_factor(self):
        changed = collections.Counter()
        for data in (scene_data(), many_scenes()):
            for split in data.values():
                pairs = zip(split["captions"], split["transcripts"])
                for (caption, said), label in zip(pairs, split["labels"]):
                    if label == 1:
                        self.assertEqual(caption, said)
                        continue
                    true, other = parse_scene(caption), parse_scene(said)
                    self.assertLen(other, len(true))
                    differ = [
                        (g, f)
                        for g, (a, b) in enumerate(zip(true, other))
                        for f in range(4)
                        if a[f] != b[f]
                    ]
                    self.assertLen(differ, 1, msg=f"{caption} / {said}")
                    changed[FACTORS[differ[0][1]]] += 1
                    shapes = [group[3] for group in other]
                    self.assertLen(set(shapes), len(shapes))
        self.assertEqual(set(changed), set(FACTORS))

    def test_descriptions_keep_the_held_out_pairs(self):
        # What is said never gives the split, so never the label, away.
        banned = set(HELD_OUT["validation"]) | set(HELD_OUT["test"])
        for data in (scene_data(), many_scenes()):
            for name, split in data.items():
                for text in split["captions"] + split["transcripts"]:
                    pairs = [(g[2], g[3]) for g in parse_scene(text)]
                    held = [p for p in pairs if p in HELD_OUT.get(name, ())]
                    self.assertLen(held, 0 if name == "train" else 1)
                    others = [p for p in pairs if p not in held]
                    self.assertFalse(set(others) & banned, msg=text)

    def test_single_modalities_do_not_predict_the_label(self):
        # Captions stand for the images, transcripts for the audio.
        data = many_scenes()
        for part in data.values():
            for key in ("captions", "transcripts"):
                assert_uninformative(
                    self, part[key], part["labels"], scene_features
                )
        # Images: the same pixels statistics for both labels.
        images = data["train"]["images"].reshape(700, -1).astype("float32")
        labels = data["train"]["labels"]
        means = [images[labels == label].mean() for label in (0, 1)]
        self.assertAlmostEqual(means[0], means[1], delta=2.0)

    def test_deterministic(self):
        again = spoken_scenes(
            num_samples=40, image_size=32, cache_dir=self.get_temp_dir()
        )
        assert_same(self, scene_data(), again)
        other = spoken_scenes(
            num_samples=40,
            image_size=32,
            seed=1,
            cache_dir=self.get_temp_dir(),
        )
        self.assertNotEqual(
            scene_data()["train"]["transcripts"], other["train"]["transcripts"]
        )

    def test_cache_is_used(self):
        directory = self.get_temp_dir()
        first = spoken_scenes(
            num_samples=30, image_size=24, cache_dir=directory
        )
        files = os.listdir(directory)
        self.assertLen(files, 1)
        self.assertTrue(files[0].startswith("scenes-24px-n30-16000hz-seed0"))
        with (
            mock.patch.object(
                espeak_module, "synthesise", side_effect=AssertionError
            ),
            mock.patch.object(
                paired_module, "scenes", side_effect=AssertionError
            ),
        ):
            again = spoken_scenes(
                num_samples=30, image_size=24, cache_dir=directory
            )
            assert_same(self, first, again)
            with self.assertRaises(AssertionError):
                spoken_scenes(
                    num_samples=30, image_size=25, cache_dir=directory
                )
        self.assertEqual(os.listdir(directory), files)
        with mock.patch.dict(os.environ, {"KERAS_MM_CACHE": directory}):
            with mock.patch.object(paired_module, "speak", silent_speak):
                spoken_scenes(num_samples=30, image_size=24, noise_snr_db=None)
        (name,) = os.listdir(os.path.join(directory, "paired"))
        self.assertIn("scenes-24px-n30-16000hz-seed0-snrnone", name)

    def test_more_scenes_when_too_few_fit(self):
        select = paired_module._select
        calls = []

        def fewer(objects, split, n, rng):
            calls.append(split)
            return None if len(calls) == 1 else select(objects, split, n, rng)

        with (
            mock.patch.object(paired_module, "_select", fewer),
            mock.patch.object(paired_module, "speak", silent_speak),
            mock.patch.object(
                paired_module, "scenes", wraps=paired_module.scenes
            ) as scenes,
        ):
            data = spoken_scenes(
                num_samples=30, image_size=24, cache_dir=self.get_temp_dir()
            )
        sizes = [call.args[0] for call in scenes.call_args_list]
        self.assertEqual(sizes, [165, 330])
        self.assertLen(data["test"]["labels"], 6)

    def test_bad_arguments(self):
        for kwargs, received in (
            ({"num_samples": 10}, "num_samples=10"),
            ({"num_samples": 100.0}, "num_samples=100.0"),
            ({"image_size": 16}, "image_size=16"),
            ({"sample_rate": 100}, "sample_rate=100"),
            ({"seed": -1}, "seed=-1"),
            ({"noise_snr_db": 100}, "noise_snr_db=100"),
            ({"noise_snr_db": "loud"}, "noise_snr_db='loud'"),
            ({"cache_dir": 3}, "cache_dir=3"),
        ):
            with self.assertRaisesRegex(ValueError, f"Received: {received}"):
                spoken_scenes(**kwargs)
            if "image_size" not in kwargs:
                with self.assertRaisesRegex(ValueError, received):
                    spoken_commands(**kwargs)


class SpokenScenesModelTest(TestCase):
    @pytest.mark.slow
    def test_fusion_classifier_trains(self):
        data = scene_data()
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                ),
                "audio": keras_mm.encoders.audio(
                    sample_rate=16000,
                    max_duration=6.0,
                    num_mel_bins=32,
                    hidden_dim=16,
                ),
            },
            num_classes=2,
            hidden_dim=16,
        )
        train, test = data["train"], data["test"]
        history = model.fit(
            {"images": train["images"], "audio": train["audio"]},
            train["labels"],
            epochs=1,
            batch_size=8,
            verbose=0,
        )
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        probabilities = model.predict(
            {"images": test["images"], "audio": test["audio"]}, verbose=0
        )
        self.assertEqual(probabilities.shape, (8, 2))


@pytest.mark.backend_independent
class SpokenCommandsTest(TestCase):
    def test_mismatch_differs_in_exactly_one_slot(self):
        changed = collections.Counter()
        for data in (command_data(), many_commands()):
            for split in data.values():
                pairs = zip(split["text"], split["transcripts"])
                for (written, said), label in zip(pairs, split["labels"]):
                    if label == 1:
                        self.assertEqual(written, said)
                        continue
                    template, slots = parse_command(said)
                    self.assertEqual(parse_command(written)[0], template)
                    other = parse_command(written)[1]
                    differ = [k for k in slots if slots[k] != other[k]]
                    self.assertLen(differ, 1, msg=f"{said} / {written}")
                    changed[differ[0].rstrip("1234")] += 1
        self.assertEqual(
            set(changed),
            {"count", "size", "colour", "shape", "where", "direction"}
            | {"switch", "room", "d"},
        )

    def test_single_modalities_do_not_predict_the_label(self):
        def features(sentence):
            template, slots = parse_command(sentence)
            intent = next(i for i in INTENTS if template in _GRAMMAR[i])
            return [template, intent] + [f"{k}={v}" for k, v in slots.items()]

        for part in many_commands().values():
            for key in ("text", "transcripts"):
                assert_uninformative(self, part[key], part["labels"], features)

    def test_deterministic(self):
        again = spoken_commands(num_samples=40, cache_dir=self.get_temp_dir())
        assert_same(self, command_data(), again)
        other = spoken_commands(
            num_samples=40, seed=1, cache_dir=self.get_temp_dir()
        )
        self.assertNotEqual(
            command_data()["train"]["text"], other["train"]["text"]
        )

    def test_cache_is_used(self):
        directory = self.get_temp_dir()
        first = spoken_commands(num_samples=30, cache_dir=directory)
        (name,) = os.listdir(directory)
        self.assertTrue(name.startswith("commands-n30-16000hz-seed0-snr20"))
        with mock.patch.object(
            espeak_module, "synthesise", side_effect=AssertionError
        ):
            again = spoken_commands(num_samples=30, cache_dir=directory)
        assert_same(self, first, again)


@pytest.mark.backend_independent
class SpeakTest(TestCase):
    def test_voices_of_the_split(self):
        texts = ["move the red circle up", "hello"] * 5
        audio, voices = speak(texts, split="validation", seed=3)
        self.assertLen(audio, 10)
        self.assertTrue(set(voices) <= set(VOICES["validation"]))
        self.assertLen(set(voices), 10)
        for waveform in audio:
            self.assertEqual(waveform.dtype, np.float32)
            self.assertEqual(waveform.ndim, 1)
        again, same_voices = speak(texts, split="validation", seed=3)
        self.assertEqual(voices, same_voices)
        for a, b in zip(audio, again):
            np.testing.assert_array_equal(a, b)
        self.assertEqual(speak([]), ([], []))

    def test_bad_arguments(self):
        for kwargs, received in (
            ({"texts": "hello"}, "texts='hello'"),
            ({"texts": ["-v"]}, r"texts=\['-v'\]"),
            ({"texts": [" "]}, r"texts=\[' '\]"),
            ({"texts": [3]}, r"texts=\[3\]"),
            ({"split": "dev"}, "split='dev'"),
            ({"sample_rate": 100}, "sample_rate=100"),
            ({"seed": -1}, "seed=-1"),
            ({"noise_snr_db": -1}, "noise_snr_db=-1"),
        ):
            kwargs = {"texts": ["hello"], **kwargs}
            with self.assertRaisesRegex(ValueError, f"Received: {received}"):
                speak(**kwargs)
