"""Spoken words and sentences synthesised with espeak-ng (and flite),
split by voice or by synthesiser."""

import numpy as np

from keras_mm.datasets.cache import SPLITS
from keras_mm.datasets.cache import cache_file
from keras_mm.datasets.cache import cached
from keras_mm.datasets.cache import check_cache_dir
from keras_mm.datasets.cache import split_sizes
from keras_mm.datasets.espeak import check_espeak
from keras_mm.datasets.espeak import synthesise_all
from keras_mm.datasets.flite import VOICE_F0
from keras_mm.datasets.flite import check_flite
from keras_mm.datasets.scenes import COLOURS
from keras_mm.datasets.scenes import SHAPES
from keras_mm.utils.validation import check_integers

KINDS = ("words", "sentences")
DIGITS = tuple("zero one two three four five six seven eight nine".split())
COMMANDS = tuple("yes no up down left right on off stop go".split())
WORDS = DIGITS + COMMANDS + COLOURS + SHAPES
INTENTS = ("describe", "move", "lights", "count", "query", "dial")
ALPHABET = tuple("abcdefghijklmnopqrstuvwxyz '")
# espeak-ng languages (accents); every split uses all of them. British
# English is "en": espeak-ng 1.51 ignores the voice variant of "en-gb", so
# "en-gb+m1" and "en-gb+m6" are one voice, heard in training and test.
ACCENTS = tuple(
    "en en-us en-gb-scotland en-gb-x-rp en-gb-x-gbclan en-gb-x-gbcwmd "
    "en-029 en-us-nyc".split()
)
# espeak-ng voice variants (timbre, pitch range, synthesiser); each split
# has its own, so validation and test speakers are never heard in training.
VARIANTS = {
    "train": tuple(
        "m1 m2 m3 m4 f1 f2 f3 klatt klatt2 croak Alex Annie aunty david john "
        "linda max steph".split()
    ),
    "validation": tuple("m5 f4 klatt3 Andy belinda travis".split()),
    "test": tuple("m6 m7 f5 klatt4 grandma paul victor shelby".split()),
}
VOICES = {
    split: tuple(f"{a}+{v}" for v in VARIANTS[split] for a in ACCENTS)
    for split in SPLITS
}
# The synthesisers (the programs that speak) and the voices of each split.
ENGINES = ("espeak-ng", "flite")
# flite's built-in voices: Scottish male (awb), American male (kal at 8 and
# at 16 kHz, one speaker; rms) and American female (slt).
FLITE_VOICES = {
    "train": ("awb", "kal", "kal16"),
    "validation": ("rms",),
    "test": ("slt",),
}
ENGINE_VOICES = {"espeak-ng": VOICES, "flite": FLITE_VOICES}
MIN_NUM_SAMPLES = 30
MIN_SAMPLE_RATE = 8000
SNR_RANGE_DB = (0, 60)
SNR_SPREAD_DB = 5
# No clip of `spoken` lasts longer: it fits a speech recognizer built with
# `max_duration=4.0`, the default.
MAX_SECONDS = 4.0

_SPEED = (130, 190)  # words per minute
_PITCH = (30, 70)  # 0-99
_WORD_GAP = (0, 5)  # tens of milliseconds
_SILENCE_SECONDS = (0.05, 0.35)
_PEAK = (0.3, 0.9)
_GRAMMAR = {
    "describe": (
        "{count} {size} {colour} {plural} are {where}",
        "a {size} {colour} {shape} is {where}",
        "there's a {colour} {shape} {where}",
    ),
    "move": (
        "move the {colour} {shape} {direction}",
        "please move the {size} {shape} {direction}",
        "move the {size} {colour} {shape} {direction} a bit",
    ),
    "lights": (
        "turn the light {switch} in the {room}",
        "turn {switch} the lights in the {room}",
        "switch the {room} light {switch}",
    ),
    "count": (
        "how many {colour} {plural} are there",
        "count the {plural} {where}",
        "how many {size} {plural} are {where}",
    ),
    "query": (
        "what's {where}",
        "where's the {colour} {shape}",
        "what colour is the {shape} {where}",
    ),
    "dial": (
        "dial {d1} {d2} {d3} {d4}",
        "call {d1} {d2} {d3}",
        "the code is {d1} {d2} {d3} {d4}",
    ),
}
SLOTS = {
    "count": ("two", "three", "four", "five"),
    "size": ("small", "big"),
    "colour": COLOURS,
    "shape": SHAPES,
    "where": ("at the top", "at the bottom", "in the middle")
    + ("on the left", "on the right"),
    "direction": ("up", "down", "left", "right"),
    "switch": ("on", "off"),
    "room": tuple("kitchen bedroom bathroom hall garden office".split())
    + ("living room",),
    **{f"d{i}": DIGITS for i in range(1, 5)},
}
_CACHE_VERSION = 1
KEYS = ("audio", "transcripts", "labels", "voices")


def spoken(
    num_samples=2000,
    kind="words",
    sample_rate=16000,
    seed=0,
    noise_snr_db=20,
    cache_dir=None,
    engines=("espeak-ng",),
    held_out_engine=None,
):
    """Generates the built-in spoken dataset, locally and from a seed.

    By default, utterances are synthesised with the `espeak-ng` program
    (install it with `apt-get install espeak-ng`), in one of many voices:
    an accent from `ACCENTS` (British, American, Scottish, Received
    Pronunciation, Lancaster, West Midlands, Caribbean, New York) combined
    with a voice variant (male, female, Klatt-synthesiser and named
    timbres); `engines` adds flite (below). Each utterance draws its speed
    (130-190 words per minute), pitch (30-70 of 99) and gap between words
    (0-50 ms), gets 0.05-0.35 s of silence before and after, a peak
    amplitude between 0.3 and 0.9 and, unless
    `noise_snr_db` is `None`, white noise at a signal-to-noise ratio drawn
    uniformly within `SNR_SPREAD_DB = 5` dB of `noise_snr_db` (the signal
    power is measured on the speech, before the silences are added). No
    clip lasts longer than `MAX_SECONDS = 4.0` seconds, the default
    `max_duration` of `keras_mm.build_speech_recognizer`: an utterance
    that would is spoken faster and its silences are shortened.

    With `kind="words"`, each utterance is one word of `WORDS`: the digits
    `DIGITS` ("zero" to "nine"), the commands `COMMANDS` ("yes", "no",
    "up", "down", "left", "right", "on", "off", "stop", "go"), and the
    colours and shapes of `keras_mm.datasets.scenes`. With
    `kind="sentences"`, each is a short sentence of one of the intents
    `INTENTS`, such as "three big red circles are at the top" (describe),
    "move the blue square left" (move), "turn the light on in the kitchen"
    (lights), "how many green crosses are there" (count), "where's the
    red circle" (query) or "dial four two nine one" (dial). Sentences use
    only the characters of `ALPHABET` (lowercase letters, space and
    apostrophe). Labels are balanced within each split.

    Held-out voices: the splits use disjoint voice variants (`VARIANTS`),
    each with every accent, so the voices of `VOICES["validation"]` and
    `VOICES["test"]` are never heard in training, and scores measure
    generalisation to unseen speakers.

    Engines: `engines` names the synthesisers of `ENGINES` that speak,
    `"espeak-ng"` (the default, alone) and `"flite"` (install it with
    `apt-get install flite`). flite speaks in its built-in voices,
    `FLITE_VOICES`, also disjoint between the splits: `"awb"`, `"kal"` and
    `"kal16"` in training, `"rms"` in validation, `"slt"` in test. Both
    engines draw the same speed, pitch, silences, peak and noise, and
    resample to `sample_rate`, so that clips differ only in the
    synthesiser: flite's pace is stretched by `175 / speed`, its mean F0
    (where the voice allows it: all but `"rms"`) scaled by
    `2 ** ((pitch - 50) / 80)`, and its leading pause is cut; it has no
    gap between words to set. With several engines, each split uses them
    equally often (and each engine's voices equally often), in random
    order.

    Held-out engine: with `held_out_engine`, one of at least two
    `engines`, train and validation are spoken only by the other engines,
    in their voices of those splits, and test only by the held-out engine,
    in all its voices (of every split: the whole engine is unheard in
    training). Scores on test then measure generalisation to an unseen
    synthesiser. For example `engines=("espeak-ng", "flite"),
    held_out_engine="flite"` trains on espeak-ng's training voices and
    tests on flite's five voices. With one other engine, train and
    validation are the very clips that engine alone gives (the same
    arguments without `held_out_engine`, `engines` that engine): only the
    test split differs.

    `num_samples` is the total across the splits: 70% train, 10%
    validation and the rest test. The same arguments give identical arrays
    and strings (with the same espeak-ng and flite versions). Synthesis
    runs one espeak-ng (or flite) process per CPU core, with a progress
    bar from 200 utterances on; 2000 utterances take about a minute on two
    cores (flite is faster). The
    result is cached in an `.npz` file named after the arguments, in
    `cache_dir`, else `$KERAS_MM_CACHE/spoken`, else
    `~/.cache/keras_mm/spoken`, and later calls load it (without
    espeak-ng). The file is written atomically (a temporary file, then a
    rename); it is not refreshed when espeak-ng or flite changes, so
    delete it to synthesise again. Its name starts with `kind`, then,
    unless `engines` is espeak-ng alone, the engines and any held-out
    engine (such as `"words-espeak-ng+flite-heldout-flite-n2000-..."`), so
    files made before `engines` existed stay valid.

    Args:
        num_samples: int. Number of utterances over all splits, at least
            30. Defaults to `2000`.
        kind: str. `"words"` or `"sentences"`. Defaults to `"words"`.
        sample_rate: int. Samples per second of the audio, at least 8000
            (espeak-ng speaks at 22050 Hz, flite at 8000 or 16000 Hz; the
            audio is resampled).
            Defaults to `16000`.
        seed: int. Non-negative seed of the generator. Defaults to `0`.
        noise_snr_db: float or `None`. Centre of the signal-to-noise
            ratio in decibels, in `[0, 60]`; `None` adds no noise.
            Defaults to `20`.
        cache_dir: str, path-like or `None`. Directory of the cache files.
            Defaults to `None` (the directories above).
        engines: list or tuple of distinct str of `ENGINES`. The
            synthesisers; their order does not matter. Defaults to
            `("espeak-ng",)`.
        held_out_engine: str or `None`. One of `engines` (at least two)
            that speaks the whole test split and nothing else; `None` gives
            every split every engine. Defaults to `None`.

    Returns:
        A dict with keys `"train"`, `"validation"` and `"test"`, each a dict
        of:
        - `"audio"`: list of `n` float32 arrays of shape `(samples,)`, of
          varying lengths, with values in `[-1, 1]`.
        - `"transcripts"`: list of `n` str, the spoken words.
        - `"labels"`: int32 array of shape `(n,)`, indices into `WORDS`
          (`kind="words"`) or `INTENTS` (`kind="sentences"`).
        - `"voices"`: list of `n` str, the voices: espeak-ng's
          (`"accent+variant"`) or flite's (such as `"slt"`).
        - `"engines"`: list of `n` str, the engine of each utterance.
        - `"sample_rate"`: int, `sample_rate`.

    Raises:
        ValueError: if an argument is not of an allowed type or value, or
            an engine is unknown.
        RuntimeError: if the program of one of `engines` is not
            installed, lacks one of the voices, or fails.

    Examples:
    >>> import tempfile
    >>> from keras_mm.datasets.spoken import spoken
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     data = spoken(num_samples=30, cache_dir=cache)
    >>> {name: len(split["labels"]) for name, split in data.items()}
    {'train': 21, 'validation': 3, 'test': 6}
    >>> audio = data["train"]["audio"][0]
    >>> audio.ndim, audio.dtype, data["train"]["sample_rate"]
    (1, dtype('float32'), 16000)
    >>> train = data["train"]
    >>> spoken.WORDS[train["labels"][0]] == train["transcripts"][0]
    True
    """
    check_integers(minimum=MIN_NUM_SAMPLES, num_samples=num_samples)
    if kind not in KINDS:
        raise ValueError(
            f"`kind` must be one of {KINDS}. Received: kind={kind!r}"
        )
    seed, snr = check_synthesis(sample_rate, seed, noise_snr_db)
    check_cache_dir(cache_dir)
    engines = check_engines(engines, held_out_engine)
    default = engines == ("espeak-ng",)
    prefix = kind
    if not default:
        prefix += "-" + "+".join(engines)
    if held_out_engine is not None:
        prefix += f"-heldout-{held_out_engine}"
    design = repr((FLITE_VOICES, VOICE_F0)) if "flite" in engines else ""
    path = cache_path(
        cache_dir, prefix, num_samples, sample_rate, seed, snr, design=design
    )

    def build():
        check_programs(engines, "`spoken`")
        sizes = split_sizes(num_samples)
        rng = np.random.default_rng(seed)
        plans = {
            split: _plan_split(
                _pools(split, engines, held_out_engine),
                sizes[split],
                kind,
                sample_rate,
                snr,
                rng,
            )
            for split in SPLITS
        }
        everything = [plan for split in SPLITS for plan in plans[split]]
        audio = iter(synthesise_all(everything))
        return {
            split: {
                "audio": [next(audio) for _ in plans[split]],
                "transcripts": [plan["text"] for plan in plans[split]],
                "labels": np.array([p["label"] for p in plans[split]], "int32"),
                "voices": [plan["voice"] for plan in plans[split]],
                "engines": [plan["engine"] for plan in plans[split]],
                "sample_rate": sample_rate,
            }
            for split in SPLITS
        }

    # Files of espeak-ng alone, older than the engines, hold no "engines".
    keys = KEYS if default else KEYS + ("engines",)
    data = cached(path, keys, sample_rate, build)
    for split in data.values():
        split.setdefault("engines", ["espeak-ng"] * len(split["labels"]))
    return data


# Expose the constants on the function too, so that users of
# `keras_mm.datasets.spoken` find them without importing the module.
spoken.KINDS = KINDS
spoken.DIGITS = DIGITS
spoken.COMMANDS = COMMANDS
spoken.WORDS = WORDS
spoken.INTENTS = INTENTS
spoken.ALPHABET = ALPHABET
spoken.ACCENTS = ACCENTS
spoken.VARIANTS = VARIANTS
spoken.VOICES = VOICES
spoken.ENGINES = ENGINES
spoken.FLITE_VOICES = FLITE_VOICES
spoken.ENGINE_VOICES = ENGINE_VOICES
spoken.SNR_SPREAD_DB = SNR_SPREAD_DB
spoken.MAX_SECONDS = MAX_SECONDS


def speak(
    texts,
    split="train",
    sample_rate=16000,
    seed=0,
    noise_snr_db=20,
    engine="espeak-ng",
):
    """Speaks any texts in the voices of one split of `spoken`.

    Each text is spoken as by `spoken`: in a voice of `VOICES[split]`
    (`FLITE_VOICES[split]` with `engine="flite"`), spread evenly over the
    texts, in random order, at a random speed, pitch and gap between
    words, with random silences before and after, a random peak amplitude
    and, unless `noise_snr_db` is `None`, white noise.
    Datasets built on `speak` with each split's voices keep the speakers of
    validation and test unheard in training. The same arguments give the
    same waveforms and voices (with the same program version). Nothing is
    cached.

    Args:
        texts: list or tuple of str. The texts, each starting with a
            character other than `"-"` (espeak-ng would read an option).
        split: str. `"train"`, `"validation"` or `"test"`: the voices to
            draw from. Defaults to `"train"`.
        sample_rate: int. Samples per second, at least 8000. Defaults to
            `16000`.
        seed: int. Non-negative seed of the generator. Defaults to `0`.
        noise_snr_db: float or `None`. Centre of the signal-to-noise ratio
            in decibels, in `[0, 60]`; `None` adds no noise. Defaults to
            `20`.
        engine: str. The synthesiser, `"espeak-ng"` (voices of
            `VOICES[split]`) or `"flite"` (voices of
            `FLITE_VOICES[split]`). Defaults to `"espeak-ng"`.

    Returns:
        A tuple `(audio, voices)`: a list of float32 arrays of shape
        `(samples,)` with values in `[-1, 1]`, one per text, and a list of
        the voices that spoke them (espeak-ng's are `"accent+variant"`).

    Raises:
        ValueError: if an argument is not of an allowed type or value.
        RuntimeError: if the engine's program is not installed, lacks one
            of the voices, or fails.

    Examples:
    >>> from keras_mm.datasets.spoken import VOICES
    >>> from keras_mm.datasets.spoken import speak
    >>> audio, voices = speak(["a red circle", "hello"], split="test")
    >>> len(audio), audio[0].dtype, voices[0] in VOICES["test"]
    (2, dtype('float32'), True)
    """
    if not isinstance(texts, (list, tuple)) or not all(
        isinstance(t, str) and t.strip() and not t.startswith("-")
        for t in texts
    ):
        raise ValueError(
            "`texts` must be a list of non-blank str that do not start "
            f"with '-'. Received: texts={texts!r}"
        )
    if split not in SPLITS:
        raise ValueError(
            f"`split` must be one of {SPLITS}. Received: split={split!r}"
        )
    seed, snr = check_synthesis(sample_rate, seed, noise_snr_db)
    if engine not in ENGINES:
        raise ValueError(
            f"`engine` must be one of {ENGINES}. Received: engine={engine!r}"
        )
    check_programs((engine,), "`speak`")
    rng = np.random.default_rng(seed)
    pools = {engine: ENGINE_VOICES[engine][split]}
    drawn = _draw_voices(pools, len(texts), rng)
    plans = [
        _plan(text, voice, sample_rate, snr, rng, engine)
        for text, (engine, voice) in zip(texts, drawn)
    ]
    return synthesise_all(plans), [voice for _, voice in drawn]


def choice(rng, options):
    return options[int(rng.integers(len(options)))]


def _sentence(intent, rng):
    return fill(*sentence_slots(intent, rng))


def sentence_slots(intent, rng):
    """Draws a template of `intent` and a value of every slot."""
    template = choice(rng, _GRAMMAR[intent])
    slots = {name: choice(rng, values) for name, values in SLOTS.items()}
    return template, slots


def fill(template, slots):
    shape = slots["shape"]
    plural = shape + ("es" if shape.endswith("s") else "s")
    return template.format(plural=plural, **slots)


def _pools(split, engines, held_out_engine):
    """The voices of `split`, by engine: each engine's voices of `split`;
    with `held_out_engine`, the test split has all of that engine's voices
    and the other splits only the other engines'."""
    if held_out_engine is None:
        return {engine: ENGINE_VOICES[engine][split] for engine in engines}
    if split == "test":
        voices = ENGINE_VOICES[held_out_engine]
        return {held_out_engine: sum((voices[s] for s in SPLITS), ())}
    return {
        engine: ENGINE_VOICES[engine][split]
        for engine in engines
        if engine != held_out_engine
    }


def _draw_voices(pools, n, rng):
    """`n` (engine, voice) pairs from `pools` (voices by engine): each
    engine used equally often, each of its voices equally often within it,
    in random order."""
    if len(pools) == 1:
        ((engine, voices),) = pools.items()
        order = rng.permutation(np.arange(n) % len(voices))
        return [(engine, voices[i]) for i in order.tolist()]
    names = list(pools)
    which = rng.permutation(np.arange(n) % len(names))
    drawn = [None] * n
    for index, engine in enumerate(names):
        places = np.flatnonzero(which == index)
        voices = pools[engine]
        order = rng.permutation(np.arange(len(places)) % len(voices))
        for place, i in zip(places.tolist(), order.tolist()):
            drawn[place] = (engine, voices[i])
    return drawn


def _plan_split(pools, n, kind, sample_rate, snr, rng):
    """Draws the text, voice and rendering parameters of `n` utterances."""
    classes = WORDS if kind == "words" else INTENTS
    labels = rng.permutation(np.arange(n) % len(classes))
    voices = _draw_voices(pools, n, rng)
    plans = []
    for label, (engine, voice) in zip(labels.tolist(), voices):
        text = (
            WORDS[label] if kind == "words" else _sentence(INTENTS[label], rng)
        )
        plan = _plan(text, voice, sample_rate, snr, rng, engine)
        # The speech itself must leave room for the shortest silences.
        room = MAX_SECONDS - 2 * _SILENCE_SECONDS[0]
        plans.append(
            dict(plan, label=label, max_seconds=MAX_SECONDS, room=room)
        )
    return plans


def _plan(text, voice, sample_rate, snr, rng, engine="espeak-ng"):
    """Draws the rendering parameters of one utterance."""
    offset = rng.uniform(-SNR_SPREAD_DB, SNR_SPREAD_DB)
    return {
        "text": text,
        "engine": engine,
        "voice": voice,
        "speed": int(rng.integers(_SPEED[0], _SPEED[1] + 1)),
        "pitch": int(rng.integers(_PITCH[0], _PITCH[1] + 1)),
        "gap": int(rng.integers(_WORD_GAP[0], _WORD_GAP[1] + 1)),
        "silences": rng.uniform(*_SILENCE_SECONDS, size=2),
        "peak": rng.uniform(*_PEAK),
        "snr": None if snr is None else snr + offset,
        "noise_seed": int(rng.integers(2**31)),
        "sample_rate": sample_rate,
    }


def check_synthesis(sample_rate, seed, noise_snr_db):
    """Checks the synthesis arguments; returns the seed and the SNR."""
    if isinstance(seed, np.integer):
        seed = int(seed)
    check_integers(minimum=MIN_SAMPLE_RATE, sample_rate=sample_rate)
    check_integers(minimum=0, seed=seed)
    low, high = SNR_RANGE_DB
    if noise_snr_db is not None and (
        not isinstance(noise_snr_db, (int, float, np.number))
        or isinstance(noise_snr_db, bool)
        or not low <= noise_snr_db <= high
    ):
        raise ValueError(
            f"`noise_snr_db` must be None or a number of decibels in "
            f"[{low}, {high}]. Received: noise_snr_db={noise_snr_db!r}"
        )
    return seed, None if noise_snr_db is None else float(noise_snr_db)


def check_engines(engines, held_out_engine):
    """Checks `engines` and `held_out_engine`; returns the engines as a
    tuple in the order of `ENGINES`."""
    if (
        not isinstance(engines, (list, tuple))
        or not engines
        or not all(isinstance(e, str) for e in engines)
        or len(set(engines)) != len(engines)
    ):
        raise ValueError(
            "`engines` must be a non-empty list or tuple of distinct names "
            f"of {ENGINES}. Received: engines={engines!r}"
        )
    unknown = [e for e in engines if e not in ENGINES]
    if unknown:
        raise ValueError(
            f"Unknown engines {unknown}: `engines` may hold {ENGINES}. "
            f"Received: engines={engines!r}"
        )
    if held_out_engine is not None and (
        held_out_engine not in engines or len(engines) < 2
    ):
        raise ValueError(
            "`held_out_engine` must be None or one of at least two "
            f"`engines` ({tuple(engines)}). "
            f"Received: held_out_engine={held_out_engine!r}"
        )
    return tuple(e for e in ENGINES if e in engines)


def check_programs(engines, user):
    """Checks that the programs of `engines` are installed, with the
    voices `spoken` uses."""
    if "espeak-ng" in engines:
        check_espeak(
            ACCENTS, [v for split in SPLITS for v in VARIANTS[split]], user
        )
    if "flite" in engines:
        check_flite([v for s in SPLITS for v in FLITE_VOICES[s]], user)


def cache_path(
    cache_dir,
    prefix,
    num_samples,
    sample_rate,
    seed,
    snr,
    folder="spoken",
    design="",
):
    # The voices and grammar, and the caller's own `design`, are part of
    # the digest.
    text = repr((_CACHE_VERSION, WORDS, VOICES, _GRAMMAR, SLOTS, _SPEED))
    text += repr((_PITCH, _WORD_GAP, _SILENCE_SECONDS, _PEAK, SNR_SPREAD_DB))
    text += repr(MAX_SECONDS)
    noise = "none" if snr is None else f"{snr:g}"
    name = f"{prefix}-n{num_samples}-{sample_rate}hz-seed{seed}-snr{noise}"
    return cache_file(cache_dir, folder, name, text + design)
