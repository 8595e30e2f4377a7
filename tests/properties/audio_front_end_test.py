"""Properties of the audio front end: waveforms of any length and level
through `AudioPreprocessor`, `SpeechPreprocessor`, `AudioFeatures` and
`SpecAugment`."""

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_mm.layers.audio_features import AudioFeatures
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.spec_augment import SpecAugment
from keras_mm.layers.speech_preprocessor import SpeechPreprocessor
from tests.properties import settings
from tests.test_case import TestCase

SAMPLE_RATE = 8000
MAX_DURATION = 0.05
NUM_SAMPLES = 400  # SAMPLE_RATE * MAX_DURATION
FRAME_LENGTH = 64
FRAME_STEP = 32
NUM_FRAMES = (NUM_SAMPLES - FRAME_LENGTH) // FRAME_STEP + 1
LOUD = float(np.float32(1e30))  # 1e30, as float32 holds it
# Lengths around the edges: nothing, one sample, less than a frame, one
# frame, just under, at and over the maximum, and far over it.
LENGTHS = [0, 1, 10, FRAME_LENGTH - 1, FRAME_LENGTH, NUM_SAMPLES - 1]
LENGTHS += [NUM_SAMPLES, NUM_SAMPLES + 1, 3 * NUM_SAMPLES]
LEVELS = [
    "silence",
    "denormal",
    "clipped",
    "noise",
    "tone",
    "loud",
    "loud_constant",
]
VOCABULARY = list("abcxyz 'é")


def make_waveform(level, length, seed):
    """A float32 waveform of `length` samples at `level`."""
    rng = np.random.default_rng(seed)
    if level == "silence":
        x = np.zeros(length)
    elif level == "denormal":
        x = rng.choice([1e-40, -1e-40, 1e-45, -1e-45, 0.0], length)
    elif level == "clipped":  # Full scale: most samples at +-1.
        x = np.clip(rng.normal(0.0, 4.0, length), -1.0, 1.0)
    elif level == "noise":
        x = rng.uniform(-1.0, 1.0, length)
    elif level == "tone":
        hertz = rng.uniform(50, 4000)
        x = np.sin(2 * np.pi * hertz / SAMPLE_RATE * np.arange(length))
    elif level == "loud":
        x = rng.uniform(-LOUD, LOUD, length)
    else:
        x = np.full(length, rng.choice([LOUD, -LOUD]))
    return x.astype("float32")


@st.composite
def waveforms(draw):
    """One waveform: of an edge length or any length up to twice the
    maximum, at any level; or short, with any float32 samples."""
    if draw(st.integers(0, 4)) == 0:
        return draw(
            hnp.arrays(
                "float32",
                st.integers(0, 80),
                elements=st.floats(-LOUD, LOUD, width=32),
            )
        )
    length = draw(
        st.one_of(st.sampled_from(LENGTHS), st.integers(0, 2 * NUM_SAMPLES))
    )
    level = draw(st.sampled_from(LEVELS))
    return make_waveform(level, length, draw(st.integers(0, 2**16)))


batches = st.lists(waveforms(), min_size=1, max_size=4)


def as_numpy(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.backend_independent
class AudioPreprocessorPropertiesTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.preprocessor = AudioPreprocessor(SAMPLE_RATE, MAX_DURATION)

    def assert_fitted(self, out, waves):
        audio, mask = out["audio"], out["audio_padding_mask"]
        self.assertEqual(audio.shape, (len(waves), NUM_SAMPLES))
        self.assertEqual(audio.dtype, np.float32)
        self.assertEqual(mask.shape, (len(waves), NUM_SAMPLES))
        self.assertEqual(mask.dtype, bool)
        for row, wave in enumerate(waves):
            kept = min(len(wave), NUM_SAMPLES)
            np.testing.assert_array_equal(
                mask[row], np.arange(NUM_SAMPLES) < kept
            )
            np.testing.assert_array_equal(audio[row, :kept], wave[:kept])
            self.assertFalse(audio[row, kept:].any())

    @settings(25)
    @given(batches)
    def test_crops_and_pads_any_lengths(self, waves):
        out = self.preprocessor(waves)
        self.assert_fitted(out, waves)
        self.assertTrue(np.isfinite(out["audio"]).all())
        again = self.preprocessor(waves)
        np.testing.assert_array_equal(again["audio"], out["audio"])
        if len({len(wave) for wave in waves}) == 1:
            # A rectangular batch, as one array: the same outputs.
            stacked = self.preprocessor(np.stack(waves))
            np.testing.assert_array_equal(stacked["audio"], out["audio"])

    @settings(20)
    @given(
        st.integers(1, 3),
        st.sampled_from(LENGTHS),
        st.integers(1, 8),
        st.sampled_from(["float32", "float64", "int16", "int32"]),
        st.integers(0, 2**16),
    )
    def test_channels_and_pcm(self, batch, length, channels, dtype, seed):
        rng = np.random.default_rng(seed)
        if dtype.startswith("int"):
            info = np.iinfo(dtype)
            x = rng.integers(
                info.min, info.max, (batch, length, channels), endpoint=True
            ).astype(dtype)
            waves = x.astype("float64") / -float(info.min)
        else:
            x = rng.uniform(-1, 1, (batch, length, channels)).astype(dtype)
            waves = x.astype("float64")
        out = self.preprocessor(x)
        self.assertEqual(out["audio"].dtype, np.float32)
        expected = waves.mean(axis=-1)[:, :NUM_SAMPLES]
        np.testing.assert_allclose(
            out["audio"][:, : expected.shape[1]], expected, atol=1e-6
        )
        self.assertTrue((np.abs(out["audio"]) <= 1.0).all())
        self.assertEqual(
            out["audio_padding_mask"].sum(), batch * min(length, NUM_SAMPLES)
        )

    @settings(20)
    @given(batches, st.integers(0, 2**16))
    def test_dict_inputs_keep_their_keys(self, waves, seed):
        length = max(len(wave) for wave in waves)
        audio = np.zeros((len(waves), length), "float32")
        mask = np.random.default_rng(seed).random((len(waves), length)) < 0.7
        ids = np.arange(len(waves))
        out = self.preprocessor(
            {"audio": audio, "audio_padding_mask": mask, "ids": ids}
        )
        self.assertEqual(sorted(out), ["audio", "audio_padding_mask", "ids"])
        np.testing.assert_array_equal(out["ids"], ids)
        expected = np.zeros((len(waves), NUM_SAMPLES), bool)
        kept = min(length, NUM_SAMPLES)
        expected[:, :kept] = mask[:, :kept]
        np.testing.assert_array_equal(out["audio_padding_mask"], expected)
        labels = np.arange(len(waves)) * 2
        x, y = self.preprocessor(waves, labels)
        np.testing.assert_array_equal(y, labels)

    @settings(25)
    @given(
        st.integers(1, 48_000),
        st.floats(1e-4, 2.0),
        st.lists(st.integers(0, 1000), min_size=1, max_size=3),
    )
    def test_any_sample_rate_and_duration(self, sample_rate, duration, lens):
        preprocessor = AudioPreprocessor(sample_rate, duration)
        num_samples = max(round(sample_rate * duration), 1)
        self.assertEqual(preprocessor.num_samples, num_samples)
        out = preprocessor([np.ones(n, "float32") for n in lens])
        self.assertEqual(out["audio"].shape, (len(lens), num_samples))
        np.testing.assert_array_equal(
            out["audio_padding_mask"].sum(axis=1),
            np.minimum(lens, num_samples),
        )

    @settings(20)
    @given(
        st.one_of(
            st.integers(-3, 0), st.floats(0.5, 9.5), st.just(True), st.none()
        ),
        st.one_of(st.floats(-1, 0), st.just("1.0"), st.none()),
    )
    def test_bad_arguments_are_refused(self, sample_rate, duration):
        with self.assertRaisesRegex(ValueError, "sample_rate="):
            AudioPreprocessor(sample_rate, 1.0)
        with self.assertRaisesRegex(ValueError, "max_duration="):
            AudioPreprocessor(8000, duration)

    @settings(20)
    @given(st.integers(1, 3), st.integers(0, 50))
    def test_bad_audio_is_refused(self, batch, length):
        shape = (batch, length)
        cases = [
            (np.full(shape, "a"), "not strings"),
            (np.zeros(shape, bool), "dtype=bool"),
            (np.zeros(shape, "int8"), "dtype=int8"),
            (np.zeros(shape, "uint8"), "dtype=uint8"),
            (np.zeros(shape, "int64"), "dtype=int64"),
            (np.zeros(length, "float32"), "wrap it"),
            (np.zeros(shape + (2, 2), "float32"), "Received: shape="),
            (np.zeros(shape + (9,), "float32"), "at most 8 channels"),
            ({"waveforms": np.zeros(shape, "float32")}, "key 'audio'"),
        ]
        for x, message in cases:
            with self.assertRaisesRegex(ValueError, message):
                self.preprocessor(x)


def reference_labels(texts, max_length, lowercase):
    """Character ids as `SpeechPreprocessor` documents them, in Python."""
    ids = np.zeros((len(texts), max_length), "int32")
    for row, text in enumerate(texts):
        text = text.lower() if lowercase else text
        kept = [1 + VOCABULARY.index(c) for c in text if c in VOCABULARY]
        ids[row, : len(kept[:max_length])] = kept[:max_length]
    return ids


transcripts = st.text(
    alphabet=st.one_of(
        st.sampled_from(VOCABULARY + list("ABCXYZÉ\x00\t\u3000🙂\u0301")),
        st.characters(),
    ),
    max_size=16,
)
# Case mapping that Python and ICU agree on.
simple_transcripts = st.text(alphabet="abcxyzABCÉé ' \x00\t🙂", max_size=16)


@pytest.mark.backend_independent
class SpeechPreprocessorPropertiesTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        kwargs = dict(
            sample_rate=SAMPLE_RATE,
            max_duration=MAX_DURATION,
            max_label_length=10,
        )
        cls.preprocessor = SpeechPreprocessor(VOCABULARY, **kwargs)
        cls.cased = SpeechPreprocessor(VOCABULARY, lowercase=False, **kwargs)
        cls.audio = AudioPreprocessor(SAMPLE_RATE, MAX_DURATION)

    @settings(25)
    @given(st.data())
    def test_labels_and_audio(self, data):
        waves = data.draw(batches)
        size = len(waves)
        lowercase = data.draw(st.booleans())
        texts = data.draw(
            st.lists(
                simple_transcripts if lowercase else transcripts,
                min_size=size,
                max_size=size,
            )
        )
        preprocessor = self.preprocessor if lowercase else self.cased
        x, labels = preprocessor(waves, texts)
        expected_x = self.audio(waves)
        np.testing.assert_array_equal(x["audio"], expected_x["audio"])
        np.testing.assert_array_equal(
            x["audio_padding_mask"], expected_x["audio_padding_mask"]
        )
        self.assertEqual(labels.dtype, np.int32)
        np.testing.assert_array_equal(
            labels, reference_labels(texts, 10, lowercase)
        )
        # Back to the characters that were kept.
        self.assertEqual(
            preprocessor.detokenize(labels),
            [
                "".join(VOCABULARY[i - 1] for i in row if i)
                for row in labels.tolist()
            ],
        )
        again = preprocessor(waves, texts)[1]
        np.testing.assert_array_equal(again, labels)

    @settings(15)
    @given(st.lists(st.integers(-5, 5), min_size=1, max_size=3))
    def test_transcripts_must_be_strings(self, values):
        waves = [np.zeros(3, "float32")] * len(values)
        with self.assertRaisesRegex(ValueError, "must be strings"):
            self.preprocessor(waves, np.asarray(values))


class AudioFeaturesPropertiesTest(TestCase):
    """Waveforms through the preprocessor, the features and SpecAugment:
    finite, shaped as documented and the same on every call. The layers
    are built once and every batch is 3 clips of `NUM_SAMPLES`, so JAX
    compiles each op for one shape."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.preprocessor = AudioPreprocessor(SAMPLE_RATE, MAX_DURATION)
        cls.layers = [
            AudioFeatures(
                sample_rate=SAMPLE_RATE,
                features=features,
                num_mel_bins=8,
                num_mfcc=4,
                frame_length=FRAME_LENGTH,
                frame_step=FRAME_STEP,
                normalize=normalize,
            )
            for features in ("stft", "log_mel", "mfcc")
            for normalize in (False, True)
        ]
        cls.augment = SpecAugment(max_time_mask=4, max_freq_mask=3, seed=1)

    @settings(20)
    @given(st.lists(waveforms(), min_size=3, max_size=3), st.integers(0, 5))
    def test_finite_and_shaped(self, waves, index):
        layer = self.layers[index]
        inputs = self.preprocessor(waves)
        audio, mask = inputs["audio"], inputs["audio_padding_mask"]
        features, frame_mask = layer(audio, padding_mask=mask)
        features, frame_mask = as_numpy(features), as_numpy(frame_mask)
        self.assertEqual(
            features.shape, (len(waves), NUM_FRAMES, layer.num_bins)
        )
        self.assertEqual(features.dtype, np.float32)
        self.assertTrue(np.isfinite(features).all())
        self.assertEqual(frame_mask.dtype, bool)
        # A frame is valid when its first sample is.
        np.testing.assert_array_equal(
            frame_mask, mask[:, : NUM_FRAMES * FRAME_STEP : FRAME_STEP]
        )
        if layer.normalize:
            self.assertFalse(features[~frame_mask].any())
        again = as_numpy(layer(audio, padding_mask=mask)[0])
        np.testing.assert_array_equal(again, features)
        unmasked = as_numpy(layer(audio))
        self.assertEqual(unmasked.shape, features.shape)
        self.assertTrue(np.isfinite(unmasked).all())
        augmented = as_numpy(self.augment(features, training=True))
        self.assertEqual(augmented.shape, features.shape)
        self.assertTrue(np.isfinite(augmented).all())

    @settings(15)
    @given(st.integers(1, 3), st.integers(0, FRAME_LENGTH - 1))
    def test_shorter_than_a_frame_is_refused(self, batch, length):
        for layer in self.layers[:2]:
            layer(np.zeros((3, NUM_SAMPLES), "float32"))  # Built first.
            with self.assertRaisesRegex(ValueError, "at least `frame_length"):
                layer(np.zeros((batch, length), "float32"))


class SpecAugmentPropertiesTest(TestCase):
    # Few shapes (JAX compiles each op once per shape): no frames, one
    # frame and bin, and more frames and bins than a band is wide.
    @settings(20)
    @given(
        st.sampled_from([(2, 0, 3), (1, 1, 1), (2, 24, 8)]),
        st.sampled_from([1.0, LOUD, 1e-40]),
        st.integers(0, 2**16),
        st.integers(0, 2**16),
    )
    def test_masks_bands_with_the_mean(self, shape, scale, data_seed, seed):
        batch, frames, bins = shape
        rng = np.random.default_rng(data_seed)
        x = (rng.uniform(1.0, 2.0, (batch, frames, bins)) * scale).astype(
            "float32"
        )
        layer = SpecAugment(
            num_time_masks=2,
            max_time_mask=4,
            num_freq_masks=1,
            max_freq_mask=2,
            seed=seed,
        )
        np.testing.assert_array_equal(as_numpy(layer(x)), x)
        np.testing.assert_array_equal(as_numpy(layer(x, training=False)), x)
        out = as_numpy(layer(x, training=True))
        self.assertEqual(out.shape, x.shape)
        self.assertEqual(out.dtype, np.float32)
        self.assertTrue(np.isfinite(out).all())
        # The same seed draws the same masks.
        twin = SpecAugment(
            num_time_masks=2,
            max_time_mask=4,
            num_freq_masks=1,
            max_freq_mask=2,
            seed=seed,
        )
        np.testing.assert_array_equal(as_numpy(twin(x, training=True)), out)
        if frames == 0:
            return
        # Every entry is its own or its example's mean; the changed ones
        # are whole frames and whole bins, in bands of capped width.
        mean = x.mean(axis=(1, 2), keepdims=True, dtype="float32")
        changed = out != x
        # (Backends may flush a denormal mean to zero.)
        np.testing.assert_allclose(
            out[changed],
            np.broadcast_to(mean, x.shape)[changed],
            rtol=1e-5,
            atol=np.finfo("float32").tiny,
        )
        time = changed.all(axis=2)
        freq = changed.all(axis=1)
        np.testing.assert_array_equal(
            changed, time[:, :, None] | freq[:, None, :]
        )
        for row in range(batch):
            if not freq[row].all():
                self.assertLessEqual(time[row].sum(), 2 * min(4, frames))
            if not time[row].all():
                self.assertLessEqual(freq[row].sum(), min(2, bins))
