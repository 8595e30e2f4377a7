import functools
import importlib
import itertools
import os
import shutil
import tempfile
from unittest import mock

import numpy as np
import pytest

import keras_mm
from keras_mm.datasets.spoken_sentiment import spoken_sentiment
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs the espeak-ng program"
)
module = importlib.import_module("keras_mm.datasets.spoken_sentiment")
espeak_module = importlib.import_module("keras_mm.datasets.espeak")
SPLITS = spoken_sentiment.SPLITS
CLASSES = spoken_sentiment.CLASSES
_CACHE = tempfile.mkdtemp()


@functools.cache
def data():
    return spoken_sentiment(
        num_samples=90, cache_dir=os.path.join(_CACHE, "seed0")
    )


def polarity_words(polarity):
    return {
        w for words in spoken_sentiment.WORDS[polarity].values() for w in words
    }


def pitch_spread(clip, rate=16000):
    """The spread of a clip's pitch in semitones (10th to 90th percentile),
    from the autocorrelation of its voiced 40 ms frames."""
    size, hop = int(0.04 * rate), int(0.01 * rate)
    starts = np.arange(0, len(clip) - size, hop)
    frames = clip[starts[:, None] + np.arange(size)]
    frames = frames - frames.mean(axis=1, keepdims=True)
    loud = np.sqrt((frames**2).mean(axis=1)) > 0.1 * np.abs(clip).max()
    power = np.abs(np.fft.rfft(frames[loud], 2 * size)) ** 2
    correlation = np.fft.irfft(power)[:, :size]
    low, high = rate // 400, rate // 50  # 50 to 400 Hz
    lags = low + np.argmax(correlation[:, low:high], axis=1)
    peaks = correlation[np.arange(len(lags)), lags]
    voiced = peaks > 0.5 * correlation[:, 0]
    semitones = 12 * np.log2(rate / lags[voiced])
    return float(np.subtract(*np.percentile(semitones, [90, 10])))


@needs_espeak
class SpokenSentimentTest(TestCase):
    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(_CACHE, ignore_errors=True)
        super().tearDownClass()

    def test_splits_shapes_and_types(self):
        result = data()
        self.assertEqual(result["class_names"], CLASSES)
        self.assertEqual(CLASSES, ("positive", "negative", "sarcastic"))
        self.assertEqual(result["max_duration"], 4.0)
        self.assertIsInstance(result["max_duration"], float)
        self.assertEqual(result["sample_rate"], 16000)
        sizes = {split: len(result[split]["labels"]) for split in SPLITS}
        self.assertEqual(sizes, {"train": 63, "validation": 9, "test": 18})
        for split in SPLITS:
            rows, n = result[split], sizes[split]
            self.assertEqual(rows["sample_rate"], 16000)
            self.assertEqual(rows["labels"].dtype, np.int32)
            self.assertEqual(rows["labels"].shape, (n,))
            self.assertEqual(rows["sarcastic"].dtype, bool)
            self.assertEqual(rows["sarcastic"].shape, (n,))
            for key in ("audio", "text", "sentiments", "polarities"):
                self.assertLen(rows[key], n, msg=key)
            for key in ("deliveries", "voices"):
                self.assertLen(rows[key], n, msg=key)
            for clip in rows["audio"]:
                self.assertEqual(clip.dtype, np.float32)
                self.assertEqual(clip.ndim, 1)
                self.assertBetween(len(clip) / 16000, 1.0, 4.0)
                self.assertBetween(float(np.abs(clip).max()), 0.25, 1.0)
            for text in rows["text"]:
                self.assertEqual(text, " ".join(text.lower().split()))
                self.assertTrue(
                    set(text) <= set("abcdefghijklmnopqrstuvwxyz '")
                )
                self.assertBetween(len(text.split()), 3, 7)

    def test_labels_follow_the_rule(self):
        label = spoken_sentiment.label
        self.assertEqual(label("positive", "lively"), "positive")
        self.assertEqual(label("positive", "flat"), "sarcastic")
        self.assertEqual(label("negative", "flat"), "negative")
        self.assertEqual(label("negative", "lively"), "negative")
        with self.assertRaisesRegex(ValueError, "delivery='sincere'"):
            label("positive", "sincere")
        counts = np.zeros(3, int)
        for split in SPLITS:
            rows = data()[split]
            for i, index in enumerate(rows["labels"].tolist()):
                kind = CLASSES[index]
                polarity = rows["polarities"][i]
                delivery = rows["deliveries"][i]
                self.assertEqual(kind, label(polarity, delivery))
                self.assertEqual(rows["sarcastic"][i], kind == "sarcastic")
                meant = "positive" if kind == "positive" else "negative"
                self.assertEqual(rows["sentiments"][i], meant)
                # The words say the polarity: one word of it, none of the
                # other.
                words = set(rows["text"][i].split())
                other = "negative" if polarity == "positive" else "positive"
                self.assertLen(words & polarity_words(polarity), 1)
                self.assertFalse(words & polarity_words(other))
            counts += np.bincount(rows["labels"], minlength=3)
            # Every split holds every class.
            self.assertEqual(sorted(set(rows["labels"].tolist())), [0, 1, 2])
        # The odds: 40% positive, 30% negative, 30% sarcastic.
        self.assertEqual(counts.tolist(), [36, 27, 27])

    def test_text_cannot_tell_sincere_from_sarcastic(self):
        # Positive and sarcastic examples draw their sentences alike, from
        # the positive words; negative ones from the negative words.
        calls = []

        def sentence(polarity, rng):
            calls.append(polarity)
            return real(polarity, rng)

        real = module.sentence
        with mock.patch.object(module, "sentence", sentence):
            plans = module._plan_split(
                60, module.VOICES["train"], np.random.default_rng(0)
            )
        self.assertLen(calls, 60)
        for plan, polarity in zip(plans, calls):
            literal = "negative" if plan["class"] == "negative" else "positive"
            self.assertEqual(polarity, literal)
            self.assertEqual(plan["polarity"], literal)
        # In the data, both classes use the same positive words.
        words = {"positive": set(), "sarcastic": set()}
        for split in SPLITS:
            rows = data()[split]
            for index, text in zip(rows["labels"], rows["text"]):
                if CLASSES[index] in words:
                    words[CLASSES[index]] |= set(text.split())
        shared = words["positive"] & words["sarcastic"]
        self.assertGreater(len(shared & polarity_words("positive")), 6)
        self.assertGreater(len(shared), 30)

    def test_the_prosody_tells_sincere_from_sarcastic(self):
        train = data()["train"]
        by_class = {kind: [] for kind in CLASSES}
        for index, clip in zip(train["labels"], train["audio"]):
            by_class[CLASSES[index]].append(clip)
        seconds = {
            k: np.mean([len(c) for c in v]) / 16000 for k, v in by_class.items()
        }
        spread = {
            k: np.median([pitch_spread(c) for c in v])
            for k, v in by_class.items()
        }
        # Flat clips are slow and drawn out: over 1.4 times as long as the
        # lively ones of the same sentences (about 1.6 times).
        self.assertGreater(seconds["sarcastic"], 1.4 * seconds["positive"])
        # and nearly monotone: a pitch spread under half the lively one
        # (about 1 semitone against 5).
        self.assertLess(spread["sarcastic"], 0.5 * spread["positive"])
        # Negative clips are spoken just as flat.
        self.assertGreater(seconds["negative"], 1.4 * seconds["positive"])
        self.assertLess(spread["negative"], 0.5 * spread["positive"])
        self.assertBetween(
            seconds["negative"] / seconds["sarcastic"], 0.85, 1.15
        )

    def test_negative_and_sarcastic_share_the_delivery(self):
        plans = module._plan_split(
            300, module.VOICES["train"], np.random.default_rng(0)
        )
        prosody = spoken_sentiment.PROSODY
        for plan in plans:
            delivery = "lively" if plan["class"] == "positive" else "flat"
            self.assertEqual(plan["delivery"], delivery)
            for name in ("speed", "pitch", "gap"):
                self.assertBetween(plan[name], *prosody[delivery][name])
            # The flat delivery stresses the polarity word, whatever it is.
            stressed = "<emphasis" in plan["text"]
            self.assertEqual(stressed, delivery == "flat")
            self.assertIn(plan["transcript"].split()[0], plan["text"])
        self.assertLess(
            max(prosody["flat"]["speed"]), min(prosody["lively"]["speed"])
        )
        self.assertLess(
            max(prosody["flat"]["range"]), min(prosody["lively"]["range"])
        )

    def test_voices_are_held_out(self):
        voices = spoken_sentiment.VOICES
        for a, b in itertools.combinations(SPLITS, 2):
            self.assertFalse(set(voices[a]) & set(voices[b]))
        for split in SPLITS:
            self.assertTrue(set(data()[split]["voices"]) <= set(voices[split]))
        self.assertGreater(len(set(data()["train"]["voices"])), 40)

    def test_same_arguments_same_data_and_the_cache_is_used(self):
        directory = self.get_temp_dir()
        first = spoken_sentiment(num_samples=30, seed=3, cache_dir=directory)
        (name,) = os.listdir(directory)
        self.assertTrue(name.startswith("spoken_sentiment-n30-seed3-"))
        self.assertTrue(name.endswith(".npz"))
        with mock.patch.object(
            espeak_module, "synthesise", side_effect=AssertionError
        ):
            again = spoken_sentiment(
                num_samples=30, seed=3, cache_dir=directory
            )
        fresh = spoken_sentiment(
            num_samples=30, seed=3, cache_dir=self.get_temp_dir()
        )
        other = spoken_sentiment(
            num_samples=30, seed=4, cache_dir=self.get_temp_dir()
        )
        for split in SPLITS:
            for result in (again, fresh):
                for key in ("text", "voices", "deliveries", "sentiments"):
                    self.assertEqual(first[split][key], result[split][key])
                np.testing.assert_array_equal(
                    first[split]["labels"], result[split]["labels"]
                )
                for a, b in zip(first[split]["audio"], result[split]["audio"]):
                    np.testing.assert_array_equal(a, b)
        self.assertNotEqual(first["train"]["text"], other["train"]["text"])
        self.assertEqual(os.listdir(directory), [name])

    def test_a_classifier_fits(self):
        result = data()
        train = result["train"]
        model = keras_mm.build_classifier(
            {
                "audio": keras_mm.encoders.audio(
                    sample_rate=16000, max_duration=result["max_duration"]
                ),
                "text": keras_mm.encoders.text(
                    "transformer_small",
                    vocabulary=keras_mm.encoders.text_vocabulary(train["text"]),
                    sequence_length=24,
                ),
            },
            num_classes=3,
            fusion="cross_attention",
        )
        history = model.fit(
            {"audio": train["audio"], "text": train["text"]},
            train["labels"],
            epochs=1,
            verbose=0,
        )
        self.assertTrue(np.isfinite(history.history["loss"][-1]))


class SpokenSentimentErrorsTest(TestCase):
    def test_bad_arguments_say_what_was_received(self):
        for kwargs, message in (
            ({"num_samples": 10}, "Received: num_samples=10"),
            ({"num_samples": 100.0}, "Received: num_samples=100.0"),
            ({"num_samples": 10**6}, "at most 100000.*256 kB"),
            ({"num_samples": 10**6}, "Received: num_samples=1000000"),
            ({"seed": -1}, "Received: seed=-1"),
            ({"seed": "zero"}, "Received: seed='zero'"),
            ({"cache_dir": 3}, "Received: cache_dir=3"),
        ):
            with self.assertRaisesRegex(ValueError, message, msg=kwargs):
                spoken_sentiment(**kwargs)

    def test_missing_espeak(self):
        with mock.patch.object(
            espeak_module.shutil, "which", return_value=None
        ):
            with self.assertRaisesRegex(
                RuntimeError, "spoken_sentiment.*apt-get install espeak-ng"
            ):
                spoken_sentiment(num_samples=30, cache_dir=self.get_temp_dir())
