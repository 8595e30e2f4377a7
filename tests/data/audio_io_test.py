import os
import sys
from unittest import mock

import numpy as np
import pytest
import scipy.io.wavfile

from keras_mm.data.audio_io import read_audio
from keras_mm.data.audio_io import resample
from tests.test_case import TestCase

try:
    import soundfile
except ImportError:  # an optional dependency: keras-mm[audio]
    soundfile = None
needs_soundfile = pytest.mark.skipif(
    soundfile is None, reason="needs soundfile (keras-mm[audio])"
)


def tone(hertz=440, seconds=0.5, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * hertz * t)).astype("float32")


class AudioIOTest(TestCase):
    def test_read_16_bit_wav_from_scipy(self):
        path = os.path.join(self.get_temp_dir(), "tone.wav")
        scipy.io.wavfile.write(path, 16000, (tone() * 32767).astype("int16"))
        waveform = read_audio(path, sample_rate=16000)
        self.assertEqual(waveform.dtype, np.float32)
        self.assertEqual(waveform.shape, (8000,))
        self.assertAllClose(waveform, tone(), atol=1e-4)

    @needs_soundfile
    def test_read_float_wav_and_flac_with_soundfile(self):
        directory = self.get_temp_dir()
        for name, subtype in (("float.wav", "FLOAT"), ("tone.flac", None)):
            path = os.path.join(directory, name)
            soundfile.write(path, tone(), 16000, subtype=subtype)
            waveform = read_audio(path, sample_rate=16000)
            self.assertEqual(waveform.shape, (8000,), msg=name)
            self.assertAllClose(waveform, tone(), atol=1e-4, msg=name)

    @needs_soundfile
    def test_stereo_is_mixed_down_and_resampled(self):
        path = os.path.join(self.get_temp_dir(), "stereo.flac")
        left = tone(rate=44100)
        soundfile.write(path, np.stack([left, np.zeros_like(left)], 1), 44100)
        waveform = read_audio(path, sample_rate=8000)
        self.assertEqual(waveform.shape, (4000,))
        self.assertAllClose(np.abs(waveform[1000:3000]).max(), 0.25, atol=0.01)

    def test_resample_lengths(self):
        self.assertEqual(
            resample(np.zeros(44100), 44100, 16000).shape, (16000,)
        )
        self.assertEqual(resample(np.zeros(1000), 8000, 16000).shape, (2000,))
        self.assertEqual(
            resample(np.zeros((1000, 2)), 16000, 8000).shape, (500, 2)
        )
        self.assertEqual(resample(np.zeros(0), 44100, 16000).shape, (0,))
        # A low tone keeps its amplitude.
        high = resample(tone(rate=8000), 8000, 16000)
        self.assertAllClose(np.abs(high[2000:6000]).max(), 0.5, atol=0.01)
        with self.assertRaisesRegex(ValueError, "orig_rate=0"):
            resample(np.zeros(10), 0, 16000)

    def test_missing_and_corrupt_files(self):
        directory = self.get_temp_dir()
        missing = os.path.join(directory, "missing.wav")
        with self.assertRaisesRegex(ValueError, "missing.wav': no such file"):
            read_audio(missing)
        for name in ("corrupt.wav", "corrupt.flac"):
            path = os.path.join(directory, name)
            with open(path, "wb") as f:
                f.write(b"not audio" * 10)
            with self.assertRaisesRegex(ValueError, f"{name}': .+"):
                read_audio(path)

    @needs_soundfile
    def test_soundfile_missing_is_a_clear_import_error(self):
        path = os.path.join(self.get_temp_dir(), "tone.flac")
        soundfile.write(path, tone(), 16000)
        with mock.patch.dict(sys.modules, {"soundfile": None}):
            with self.assertRaisesRegex(
                ImportError, r"pip install soundfile.*keras-mm\[audio\]"
            ):
                read_audio(path)
