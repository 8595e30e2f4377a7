"""Speech from text with the flite program, a second synthesiser beside
espeak-ng: same arguments, same float32 samples."""

import functools
import os
import shutil
import subprocess
import tempfile
import wave

import numpy as np

# The voices built into Debian's flite, each with the mean F0 in Hz that
# `pitch=50` keeps (the voice's own, near enough), or `None` where the
# voice ignores `int_f0_target_mean` (rms speaks at its own pitch). The
# limited-domain `awb_time` voice only says the time and is left out.
VOICE_F0 = {
    "awb": 130.0,
    "kal": 105.0,
    "kal16": 105.0,
    "rms": None,
    "slt": 170.0,
}
# espeak-ng's default speed in words per minute, which flite's own pace
# (`duration_stretch=1`) is close to.
NOMINAL_SPEED = 175
# Samples quieter than this, at the start, are flite's own leading pause.
_SILENCE_LEVEL = 1e-3


def synthesise(text, voice, speed=175, pitch=50, gap=0):
    """Speaks `text` with flite; returns float32 samples and the rate.

    The arguments are those of `keras_mm.datasets.espeak.synthesise`:
    `speed` in words per minute becomes `duration_stretch=175 / speed`,
    and `pitch` (0-99, 50 the voice's own) scales the voice's mean F0 by
    `2 ** ((pitch - 50) / 80)` where the voice supports it. flite has no
    pause between words to set, so `gap` is ignored. flite's leading
    pause (about 0.2 s) is cut, as espeak-ng starts speaking at once.
    """
    del gap  # flite has no setting for it.
    command = ["flite", "-voice", voice]
    command += ["--setf", f"duration_stretch={NOMINAL_SPEED / speed:.4f}"]
    f0 = VOICE_F0.get(voice)
    if f0 is not None:
        mean = f0 * 2.0 ** ((pitch - 50) / 80.0)
        command += ["--setf", f"int_f0_target_mean={mean:.2f}"]
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "speech.wav")
        result = subprocess.run(
            command + ["-t", text, "-o", path], capture_output=True
        )
        samples, rate = None, None
        if result.returncode == 0 and os.path.isfile(path):
            with wave.open(path) as reader:
                rate = reader.getframerate()
                frames = reader.readframes(reader.getnframes())
            samples = np.frombuffer(frames, "<i2").astype("float32") / 32768.0
    loud = np.zeros(0, "int64")
    if samples is not None:
        loud = np.flatnonzero(np.abs(samples) > _SILENCE_LEVEL)
    if not loud.size:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(
            f"flite failed to speak {text!r} with voice {voice!r}: "
            f"{message or f'exit status {result.returncode}'}"
        )
    return samples[loud[0] :], rate


@functools.cache
def flite_voices():
    """The voices flite knows (`flite -lv`)."""
    result = subprocess.run(["flite", "-lv"], capture_output=True, text=True)
    return set(result.stdout.partition(":")[2].split())


def check_flite(voices, user):
    """Raises a `RuntimeError` that says how to install flite when it is
    missing or lacks one of `voices`; `user` names the caller."""
    if shutil.which("flite") is None:
        raise RuntimeError(
            f"{user} synthesises speech with the flite program, which is "
            "not installed. Install it with `apt-get install flite` "
            "(Debian, Ubuntu) or `brew install flite` (macOS)."
        )
    missing = sorted(set(voices) - flite_voices())
    if missing:
        raise RuntimeError(
            f"This flite lacks the voices {missing}, which {user} uses (an "
            "unknown voice would silently fall back to the default one). "
            "Install Debian's flite, version 2.2 or later, e.g. with "
            "`apt-get install flite`."
        )
