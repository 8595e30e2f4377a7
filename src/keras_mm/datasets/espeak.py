"""Speech from text with the espeak-ng program: rendering plans (text,
voice, speed, pitch, silences, noise) into waveforms, in parallel, with
espeak-ng or, for plans whose `"engine"` is `"flite"`, with flite."""

import concurrent.futures
import functools
import io
import os
import re
import shutil
import subprocess
import wave

import keras
import numpy as np

from keras_mm.data.audio_io import resample
from keras_mm.datasets.flite import synthesise as flite_synthesise

_PROGRESS_BAR_MIN_SAMPLES = 200


def synthesise_all(plans):
    """Renders the plans in parallel; returns the waveforms in order."""
    progress = None
    if len(plans) >= _PROGRESS_BAR_MIN_SAMPLES:
        progress = keras.utils.Progbar(len(plans), unit_name="utterance")
    workers = max(1, min(os.cpu_count() or 1, len(plans)))
    audio = []
    with concurrent.futures.ThreadPoolExecutor(workers) as executor:
        for waveform in executor.map(render, plans):
            audio.append(waveform)
            if progress is not None:
                progress.update(len(audio))
    return audio


def render(plan):
    """One utterance: speech, resampled, scaled, padded, with noise."""
    sample_rate = plan["sample_rate"]
    speed, silences = plan["speed"], plan["silences"]
    limit = plan.get("max_seconds")
    speaker, options = synthesise, {}
    if plan.get("engine", "espeak-ng") == "flite":
        speaker = flite_synthesise
    elif plan.get("ssml"):
        options["ssml"] = True
    for _ in range(4):
        spoken = (plan["text"], plan["voice"], speed, plan["pitch"])
        speech, rate = speaker(*spoken, plan["gap"], **options)
        seconds = len(speech) / rate
        room = plan.get("room", limit)
        if room is None or seconds <= room:
            break
        # Too long: speak faster, in proportion, and try again.
        speed = int(np.ceil(speed * seconds / room)) + 5
    speech = resample(speech, rate, sample_rate)
    speech *= plan["peak"] / max(float(np.abs(speech).max()), 1e-6)
    if limit is not None:
        # Shorten the silences so the whole clip lasts at most `limit`.
        spare = max(limit - len(speech) / sample_rate, 0.0)
        silences = silences * min(1.0, spare / float(np.sum(silences)))
    lead, trail = (int(s * sample_rate) for s in silences)
    waveform = np.pad(speech, (lead, trail))
    if plan["snr"] is not None:
        power = float(np.mean(np.square(speech, dtype="float64")))
        scale = np.sqrt(power / 10.0 ** (plan["snr"] / 10.0))
        noise = np.random.default_rng(plan["noise_seed"]).standard_normal(
            waveform.shape[0]
        )
        waveform = waveform + (scale * noise).astype("float32")
    return np.clip(waveform, -1.0, 1.0).astype("float32")


def synthesise(text, voice, speed=175, pitch=50, gap=0, ssml=False):
    """Speaks `text` with espeak-ng; returns float32 samples and the rate.

    With `ssml=True`, `text` is SSML markup (such as `<prosody>` and
    `<emphasis>`), which a plan asks for with `"ssml": True`.
    """
    command = ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch)]
    command += ["-g", str(gap), "--stdout"] + (["-m"] if ssml else [])
    command.append(text)
    result = subprocess.run(command, capture_output=True, check=False)
    if result.returncode != 0 or not result.stdout:
        message = result.stderr.decode(errors="replace").strip()
        raise RuntimeError(
            f"espeak-ng failed to speak {text!r} with voice {voice!r}: "
            f"{message or f'exit status {result.returncode}'}"
        )
    with wave.open(io.BytesIO(result.stdout)) as reader:
        rate = reader.getframerate()
        # espeak-ng streams, so the header's frame count is a placeholder.
        frames = reader.readframes(reader.getnframes())
    samples = np.frombuffer(frames, "<i2").astype("float32") / 32768.0
    return samples, rate


@functools.cache
def espeak_listing():
    """The English languages and the voice variants espeak-ng knows."""

    def listing(which):
        result = subprocess.run(
            ["espeak-ng", f"--voices={which}"], capture_output=True, text=True
        )
        return result.stdout.splitlines()[1:]

    languages = {line.split()[1] for line in listing("en") if line.split()}
    variants = set(re.findall(r"!v/(\S+)", "\n".join(listing("variant"))))
    return languages, variants


def check_espeak(accents, variants, user):
    """Raises a `RuntimeError` that says how to install espeak-ng when it
    is missing or lacks one of `accents` (languages such as `"en-us"`) or
    `variants` (such as `"f2"`); `user` names the caller in the message."""
    if shutil.which("espeak-ng") is None:
        raise RuntimeError(
            f"{user} synthesises speech with the espeak-ng program, which "
            "is not installed. Install it with `apt-get install espeak-ng` "
            "(Debian, Ubuntu) or `brew install espeak-ng` (macOS)."
        )
    languages, known_variants = espeak_listing()
    missing = [a for a in accents if a not in languages]
    missing += [f"+{v}" for v in variants if v not in known_variants]
    if missing:
        raise RuntimeError(
            f"This espeak-ng lacks the voices {missing}, which {user} "
            "uses (an unknown variant would silently fall back to the "
            "default voice). Install a complete espeak-ng, version 1.51 or "
            "later, e.g. with `apt-get install espeak-ng`."
        )
