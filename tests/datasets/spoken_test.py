import functools
import glob
import importlib
import itertools
import os
import shutil
import subprocess
import tempfile
from unittest import mock

import numpy as np
import pytest

from keras_mm.datasets import scenes
from keras_mm.datasets.spoken import ACCENTS
from keras_mm.datasets.spoken import ALPHABET
from keras_mm.datasets.spoken import FLITE_VOICES
from keras_mm.datasets.spoken import INTENTS
from keras_mm.datasets.spoken import MAX_SECONDS
from keras_mm.datasets.spoken import VARIANTS
from keras_mm.datasets.spoken import VOICES
from keras_mm.datasets.spoken import WORDS
from keras_mm.datasets.spoken import speak
from keras_mm.datasets.spoken import spoken
from tests.test_case import TestCase

pytestmark = [
    pytest.mark.skipif(
        shutil.which("espeak-ng") is None, reason="needs the espeak-ng program"
    ),
    pytest.mark.backend_independent,
]

# The module itself, also when `keras_mm.datasets.spoken` names the function.
spoken_module = importlib.import_module("keras_mm.datasets.spoken")
espeak_module = importlib.import_module("keras_mm.datasets.espeak")
_CACHE = tempfile.mkdtemp()


@functools.cache
def words():
    return spoken(num_samples=30, cache_dir=os.path.join(_CACHE, "words"))


@functools.cache
def sentences():
    return spoken(
        num_samples=36,
        kind="sentences",
        seed=1,
        cache_dir=os.path.join(_CACHE, "sentences"),
    )


def assert_same(test, first, second):
    test.assertEqual(list(first), list(second))
    for name in first:
        test.assertEqual(sorted(first[name]), sorted(second[name]))
        for key, value in first[name].items():
            if key == "audio":
                test.assertLen(second[name][key], len(value))
                for a, b in zip(value, second[name][key]):
                    np.testing.assert_array_equal(a, b)
            elif isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, second[name][key])
                test.assertEqual(value.dtype, second[name][key].dtype)
            else:
                test.assertEqual(value, second[name][key])


class SpokenTest(TestCase):
    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(_CACHE, ignore_errors=True)
        super().tearDownClass()

    def test_structure(self):
        for data, classes in ((words(), WORDS), (sentences(), INTENTS)):
            self.assertEqual(list(data), ["train", "validation", "test"])
            for split in data.values():
                n = len(split["labels"])
                self.assertEqual(split["labels"].dtype, np.int32)
                self.assertEqual(split["sample_rate"], 16000)
                for key in ("audio", "transcripts", "voices"):
                    self.assertLen(split[key], n, msg=key)
                for audio in split["audio"]:
                    self.assertEqual(audio.dtype, np.float32)
                    self.assertEqual(audio.ndim, 1)
                    self.assertBetween(audio.shape[0] / 16000, 0.3, 6.0)
                    self.assertLessEqual(np.abs(audio).max(), 1.0)
                    self.assertGreater(np.abs(audio).max(), 0.2)
                self.assertBetween(split["labels"].min(), 0, len(classes))
                self.assertLess(split["labels"].max(), len(classes))
        sizes = {name: len(s["labels"]) for name, s in words().items()}
        self.assertEqual(sizes, {"train": 21, "validation": 3, "test": 6})
        lengths = {len(a) for a in words()["train"]["audio"]}
        self.assertGreater(len(lengths), 10)

    def test_words(self):
        self.assertLen(WORDS, 30)
        self.assertLen(set(WORDS), 30)
        self.assertEqual(WORDS[:3], ("zero", "one", "two"))
        for word in scenes.COLOURS + scenes.SHAPES + ("stop", "go", "nine"):
            self.assertIn(word, WORDS)
        train = words()["train"]
        for label, transcript in zip(train["labels"], train["transcripts"]):
            self.assertEqual(WORDS[label], transcript)
        # Balanced: 21 training words of 30 are all different.
        self.assertLen(set(train["transcripts"]), 21)

    def test_sentences(self):
        transcripts = []
        for split in sentences().values():
            transcripts += split["transcripts"]
            counts = np.bincount(split["labels"], minlength=len(INTENTS))
            self.assertLessEqual(counts.max() - counts.min(), 1)
        for transcript in transcripts:
            self.assertTrue(set(transcript) <= set(ALPHABET), msg=transcript)
            self.assertEqual(transcript, " ".join(transcript.split()))
        self.assertEqual(ALPHABET, tuple("abcdefghijklmnopqrstuvwxyz '"))
        self.assertGreater(len(set(transcripts)), 30)
        self.assertTrue(any("'" in t for t in transcripts))

    def test_voices_are_disjoint_between_splits(self):
        for a, b in itertools.combinations(("train", "validation", "test"), 2):
            self.assertFalse(set(VOICES[a]) & set(VOICES[b]))
            self.assertFalse(set(VARIANTS[a]) & set(VARIANTS[b]))
        for data in (words(), sentences()):
            for name, split in data.items():
                self.assertTrue(set(split["voices"]) <= set(VOICES[name]))
            self.assertGreater(len(set(data["train"]["voices"])), 15)

    def test_every_voice_sounds_different(self):
        text = "move the blue square left"
        default = espeak_module.synthesise(text, "en-us")[0]
        waveforms = {"en-us": default}
        variants = [v for split in VARIANTS.values() for v in split]
        for variant in variants:
            voice = f"en-us+{variant}"
            waveforms[voice] = espeak_module.synthesise(text, voice)[0]
        for accent in ACCENTS:
            # Every accent honours the variant: a training voice and a test
            # voice of one accent differ ("en-gb" would not).
            for variant in ("m3", "m6"):
                voice = f"{accent}+{variant}"
                waveforms[voice] = espeak_module.synthesise(text, voice)[0]
        for (a, x), (b, y) in itertools.combinations(waveforms.items(), 2):
            self.assertFalse(np.array_equal(x, y), msg=f"{a} sounds as {b}")

    def test_deterministic(self):
        first = words()
        again = spoken(num_samples=30, cache_dir=self.get_temp_dir())
        assert_same(self, first, again)
        other = spoken(num_samples=30, seed=1, cache_dir=self.get_temp_dir())
        self.assertNotEqual(first["train"]["voices"], other["train"]["voices"])
        self.assertFalse(
            np.array_equal(first["test"]["audio"][0], other["test"]["audio"][0])
        )

    def test_cache_is_used(self):
        directory = self.get_temp_dir()
        first = spoken(num_samples=30, kind="sentences", cache_dir=directory)
        files = os.listdir(directory)
        self.assertLen(files, 1)
        self.assertTrue(
            files[0].startswith("sentences-n30-16000hz-seed0-snr20")
        )
        with mock.patch.object(
            espeak_module, "synthesise", side_effect=AssertionError
        ):
            again = spoken(
                num_samples=30, kind="sentences", cache_dir=directory
            )
            assert_same(self, first, again)
            # Other arguments make another file.
            with self.assertRaises(AssertionError):
                spoken(num_samples=31, kind="sentences", cache_dir=directory)
        self.assertEqual(os.listdir(directory), files)

    def test_cache_directory_from_environment(self):
        root = self.get_temp_dir()
        with mock.patch.dict(os.environ, {"KERAS_MM_CACHE": root}):
            spoken(num_samples=30, sample_rate=8000, noise_snr_db=None)
        files = glob.glob(os.path.join(root, "spoken", "*.npz"))
        self.assertLen(files, 1)
        self.assertIn("words-n30-8000hz-seed0-snrnone", files[0])

    def test_interrupted_write_leaves_nothing(self):
        directory = self.get_temp_dir()

        def interrupted(file, **arrays):
            file.write(b"PK\x03\x04 partial")
            raise KeyboardInterrupt

        with mock.patch.object(spoken_module.np, "savez", interrupted):
            with self.assertRaises(KeyboardInterrupt):
                spoken(num_samples=30, cache_dir=directory)
        self.assertEqual(os.listdir(directory), [])
        # A broken cache file is synthesised again and replaced.
        data = spoken(num_samples=30, cache_dir=directory)
        (name,) = os.listdir(directory)
        with open(os.path.join(directory, name), "wb") as file:
            file.write(b"broken")
        assert_same(self, data, spoken(num_samples=30, cache_dir=directory))

    def test_sample_rate_and_noise(self):
        clean = spoken(
            num_samples=30,
            sample_rate=8000,
            noise_snr_db=None,
            cache_dir=self.get_temp_dir(),
        )
        noisy = words()
        for a, b in zip(clean["train"]["audio"], noisy["train"]["audio"]):
            self.assertEqual(clean["train"]["sample_rate"], 8000)
            # Same utterances, half the samples.
            self.assertAlmostEqual(len(a) / 8000, len(b) / 16000, delta=0.01)
            # Leading silence is exact without noise, noisy with it.
            self.assertEqual(np.abs(a[:200]).max(), 0.0)
            self.assertGreater(np.abs(b[:400]).max(), 0.0)

    def test_missing_espeak(self):
        with mock.patch.object(
            espeak_module.shutil, "which", return_value=None
        ):
            with self.assertRaisesRegex(
                RuntimeError, "apt-get install espeak-ng"
            ):
                spoken(num_samples=30, cache_dir=self.get_temp_dir())

    def test_missing_voice(self):
        variants = dict(VARIANTS, test=VARIANTS["test"] + ("nosuch",))
        with mock.patch.object(spoken_module, "VARIANTS", variants):
            with self.assertRaisesRegex(RuntimeError, r"\['\+nosuch'\]"):
                spoken(num_samples=30, cache_dir=self.get_temp_dir())

    def test_bad_arguments(self):
        for kwargs, received in (
            ({"num_samples": 10}, "num_samples=10"),
            ({"num_samples": 100.0}, "num_samples=100.0"),
            ({"kind": "phrases"}, "kind='phrases'"),
            ({"sample_rate": 100}, "sample_rate=100"),
            ({"sample_rate": 16000.0}, "sample_rate=16000.0"),
            ({"seed": -1}, "seed=-1"),
            ({"noise_snr_db": -3}, "noise_snr_db=-3"),
            ({"noise_snr_db": 100}, "noise_snr_db=100"),
            ({"noise_snr_db": "loud"}, "noise_snr_db='loud'"),
            ({"noise_snr_db": float("nan")}, "noise_snr_db=nan"),
            ({"cache_dir": 3}, "cache_dir=3"),
        ):
            with self.assertRaisesRegex(ValueError, f"Received: {received}"):
                spoken(**kwargs)
        with self.assertRaisesRegex(ValueError, r"\('words', 'sentences'\)"):
            spoken(kind="phrases")
        with self.assertRaisesRegex(ValueError, r"\[0, 60\]"):
            spoken(noise_snr_db=-3)


class SpokenDurationTest(TestCase):
    def test_no_clip_is_longer_than_max_seconds(self):
        from keras_mm.datasets.spoken import MAX_SECONDS
        from keras_mm.datasets.spoken import spoken

        data = spoken(
            num_samples=120,
            kind="sentences",
            sample_rate=8000,
            seed=3,
            cache_dir=self.get_temp_dir(),
        )
        lengths = [len(a) for split in data.values() for a in split["audio"]]
        self.assertLessEqual(max(lengths), MAX_SECONDS * 8000)

    def test_a_long_utterance_is_spoken_faster_to_fit(self):
        module = importlib.import_module("keras_mm.datasets.spoken")
        rng = np.random.default_rng(0)
        text = "please move the small yellow triangle left a bit"
        plan = module._plan(text, module.VOICES["train"][0], 8000, None, rng)
        free = espeak_module.render(plan)
        self.assertGreater(len(free), 2.0 * 8000)  # Unconstrained: > 2 s.
        fitted = espeak_module.render(dict(plan, max_seconds=2.0))
        self.assertLessEqual(len(fitted), 2.0 * 8000)
        self.assertGreater(len(fitted), 1.0 * 8000)


flite_module = importlib.import_module("keras_mm.datasets.flite")
needs_flite = pytest.mark.skipif(
    shutil.which("flite") is None, reason="needs the flite program"
)
BOTH = ("espeak-ng", "flite")


@functools.cache
def held_out_flite():
    return spoken(
        num_samples=40,
        kind="sentences",
        engines=BOTH,
        held_out_engine="flite",
        cache_dir=os.path.join(_CACHE, "held_out_flite"),
    )


@needs_flite
class SpokenEnginesTest(TestCase):
    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(_CACHE, ignore_errors=True)
        super().tearDownClass()

    def test_flite_structure(self):
        data = spoken(
            num_samples=30, engines=("flite",), cache_dir=self.get_temp_dir()
        )
        sizes = {name: len(s["labels"]) for name, s in data.items()}
        self.assertEqual(sizes, {"train": 21, "validation": 3, "test": 6})
        for name, split in data.items():
            self.assertEqual(split["labels"].dtype, np.int32)
            self.assertEqual(split["sample_rate"], 16000)
            self.assertEqual(split["engines"], ["flite"] * sizes[name])
            self.assertTrue(set(split["voices"]) <= set(FLITE_VOICES[name]))
            self.assertLen(split["audio"], sizes[name])
            for audio, word in zip(split["audio"], split["transcripts"]):
                self.assertEqual(audio.dtype, np.float32)
                self.assertEqual(audio.ndim, 1)
                self.assertBetween(audio.shape[0] / 16000, 0.3, MAX_SECONDS)
                self.assertLessEqual(np.abs(audio).max(), 1.0)
                self.assertGreater(np.abs(audio).max(), 0.2)
                self.assertIn(word, WORDS)
        # Every training voice speaks: 21 clips over three voices.
        self.assertLen(set(data["train"]["voices"]), 3)
        lengths = {len(a) for a in data["train"]["audio"]}
        self.assertGreater(len(lengths), 10)

    def test_held_out_engine_is_held_out(self):
        data = held_out_flite()
        for name in ("train", "validation"):
            split = data[name]
            self.assertEqual(set(split["engines"]), {"espeak-ng"})
            self.assertTrue(set(split["voices"]) <= set(VOICES[name]))
        test = data["test"]
        self.assertEqual(set(test["engines"]), {"flite"})
        # All of flite's voices, of every split, speak the test split.
        everyone = {v for voices in FLITE_VOICES.values() for v in voices}
        self.assertEqual(set(test["voices"]), everyone)
        self.assertLen(test["labels"], 8)
        heard = set(data["train"]["voices"] + data["validation"]["voices"])
        self.assertFalse(heard & everyone)
        lengths = [len(a) for split in data.values() for a in split["audio"]]
        self.assertLessEqual(max(lengths), MAX_SECONDS * 16000)

    def test_held_out_engine_keeps_the_other_splits(self):
        # With one other engine, train and validation are the very clips
        # of that engine alone, from the same seed.
        alone = spoken(
            num_samples=40, kind="sentences", cache_dir=self.get_temp_dir()
        )
        data = held_out_flite()
        for name in ("train", "validation"):
            self.assertEqual(data[name]["voices"], alone[name]["voices"])
            for a, b in zip(data[name]["audio"], alone[name]["audio"]):
                np.testing.assert_array_equal(a, b)

    def test_held_out_espeak(self):
        data = spoken(
            num_samples=30,
            engines=BOTH,
            held_out_engine="espeak-ng",
            cache_dir=self.get_temp_dir(),
        )
        self.assertEqual(set(data["train"]["engines"]), {"flite"})
        self.assertTrue(
            set(data["train"]["voices"]) <= set(FLITE_VOICES["train"])
        )
        self.assertEqual(set(data["test"]["engines"]), {"espeak-ng"})
        everyone = {v for voices in VOICES.values() for v in voices}
        self.assertTrue(set(data["test"]["voices"]) <= everyone)

    def test_both_engines_in_every_split(self):
        data = spoken(
            num_samples=40, engines=BOTH, cache_dir=self.get_temp_dir()
        )
        for name, split in data.items():
            counts = [split["engines"].count(e) for e in BOTH]
            self.assertLessEqual(abs(counts[0] - counts[1]), 1, msg=name)
            for engine, voice in zip(split["engines"], split["voices"]):
                pool = VOICES if engine == "espeak-ng" else FLITE_VOICES
                self.assertIn(voice, pool[name])

    def test_deterministic(self):
        first = held_out_flite()
        directory = self.get_temp_dir()
        # The order of `engines` does not matter.
        again = spoken(
            num_samples=40,
            kind="sentences",
            engines=("flite", "espeak-ng"),
            held_out_engine="flite",
            cache_dir=directory,
        )
        assert_same(self, first, again)
        (name,) = os.listdir(directory)
        self.assertTrue(
            name.startswith("sentences-espeak-ng+flite-heldout-flite-n40-")
        )
        other = spoken(
            num_samples=40,
            kind="sentences",
            seed=1,
            engines=BOTH,
            held_out_engine="flite",
            cache_dir=directory,
        )
        self.assertNotEqual(first["test"]["voices"], other["test"]["voices"])
        self.assertFalse(
            np.array_equal(first["test"]["audio"][0], other["test"]["audio"][0])
        )
        # Without held-out engine, another file and other splits.
        both = spoken(
            num_samples=40, kind="sentences", engines=BOTH, cache_dir=directory
        )
        self.assertIn("flite", both["train"]["engines"])
        self.assertLen(os.listdir(directory), 3)

    def test_default_cache_stays_valid(self):
        directory = self.get_temp_dir()
        first = spoken(num_samples=30, cache_dir=directory)
        (name,) = os.listdir(directory)
        self.assertTrue(name.startswith("words-n30-16000hz-seed0-snr20-"))
        self.assertEqual(first["test"]["engines"], ["espeak-ng"] * 6)
        # A file written before `engines` existed holds no "engines".
        path = os.path.join(directory, name)
        with np.load(path) as arrays:
            old = {k: arrays[k] for k in arrays.files if "engines" not in k}
        np.savez(path, **old)
        with mock.patch.object(
            espeak_module, "synthesise", side_effect=AssertionError
        ):
            assert_same(
                self, first, spoken(num_samples=30, cache_dir=directory)
            )

    def test_flite_speed_and_pitch(self):
        text = "move the blue square left"
        slow = flite_module.synthesise(text, "slt", speed=130)[0]
        fast = flite_module.synthesise(text, "slt", speed=190)[0]
        self.assertGreater(len(slow), 1.3 * len(fast))
        low = flite_module.synthesise(text, "slt", pitch=30)[0]
        high = flite_module.synthesise(text, "slt", pitch=70)[0]
        self.assertEqual(low.shape, high.shape)  # Same timing,
        self.assertFalse(np.array_equal(low, high))  # another pitch.
        # flite's leading pause is cut: it starts speaking at once.
        speech, rate = flite_module.synthesise(text, "kal")
        self.assertEqual(rate, 8000)
        self.assertGreater(np.abs(speech[:1]).max(), 1e-3)

    def test_speak_with_flite(self):
        audio, voices = speak(
            ["a red circle", "hello"], split="test", engine="flite"
        )
        self.assertEqual(voices, ["slt", "slt"])
        self.assertEqual(audio[0].dtype, np.float32)
        with self.assertRaisesRegex(ValueError, "engine='festival'"):
            speak(["hello"], engine="festival")

    def test_missing_flite(self):
        with mock.patch.object(flite_module.shutil, "which", return_value=None):
            with self.assertRaisesRegex(RuntimeError, "apt-get install flite"):
                spoken(
                    num_samples=30,
                    engines=("flite",),
                    cache_dir=self.get_temp_dir(),
                )

    def test_flite_failure(self):
        failed = subprocess.CompletedProcess([], 1, b"", b"out of memory")
        with mock.patch.object(
            flite_module.subprocess, "run", return_value=failed
        ):
            with self.assertRaisesRegex(
                RuntimeError, "flite failed to speak 'hello'.*out of memory"
            ):
                flite_module.synthesise("hello", "slt")

    def test_missing_flite_voice(self):
        with mock.patch.object(
            flite_module, "flite_voices", return_value={"kal", "awb"}
        ):
            with self.assertRaisesRegex(
                RuntimeError, r"lacks the voices \['kal16', 'rms', 'slt'\]"
            ):
                spoken(
                    num_samples=30,
                    engines=BOTH,
                    held_out_engine="flite",
                    cache_dir=self.get_temp_dir(),
                )

    def test_bad_engines(self):
        for kwargs, message in (
            ({"engines": ("festival",)}, r"Unknown engines \['festival'\]"),
            ({"engines": ()}, r"Received: engines=\(\)"),
            ({"engines": "flite"}, "Received: engines='flite'"),
            ({"engines": ("flite", "flite")}, "distinct"),
            ({"engines": BOTH, "held_out_engine": "kal"}, "kal"),
            ({"engines": ("flite",), "held_out_engine": "flite"}, "two"),
            ({"held_out_engine": "espeak-ng"}, "held_out_engine='espeak-ng'"),
        ):
            with self.assertRaisesRegex(ValueError, message, msg=kwargs):
                spoken(num_samples=30, cache_dir=self.get_temp_dir(), **kwargs)
