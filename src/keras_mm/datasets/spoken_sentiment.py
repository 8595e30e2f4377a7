"""Sentences spoken with an attitude: sincere, negative or sarcastic?"""

import numpy as np

from keras_mm.datasets.cache import SPLITS
from keras_mm.datasets.cache import cache_file
from keras_mm.datasets.cache import cached
from keras_mm.datasets.cache import check_cache_dir
from keras_mm.datasets.cache import check_num_samples
from keras_mm.datasets.cache import split_sizes
from keras_mm.datasets.espeak import check_espeak
from keras_mm.datasets.espeak import synthesise_all
from keras_mm.datasets.spoken import ACCENTS
from keras_mm.datasets.spoken import VARIANTS as SPOKEN_VARIANTS
from keras_mm.datasets.spoken import choice
from keras_mm.utils.validation import check_integers

CLASSES = ("positive", "negative", "sarcastic")
POLARITIES = ("positive", "negative")
DELIVERIES = ("lively", "flat")
# How often each class is drawn: positive, negative, sarcastic.
CLASS_ODDS = (0.4, 0.3, 0.3)
MAX_SECONDS = 4.0
MIN_NUM_SAMPLES = 30
MAX_NUM_SAMPLES = 100_000
SAMPLE_RATE = 16000
# The words that carry the literal polarity, by part of speech; both
# polarities have as many syllables, so that the length of a clip does not
# tell them apart.
WORDS = {
    "positive": {
        "adjective": (
            "great wonderful amazing lovely fantastic brilliant excellent "
            "perfect".split()
        ),
        "verb": ("love", "enjoy", "adore", "like"),
    },
    "negative": {
        "adjective": (
            "terrible awful horrible boring useless dreadful dull "
            "miserable".split()
        ),
        "verb": ("hate", "dislike", "loathe", "detest"),
    },
}
# What the sentences are about: things one can count ("what a great
# movie"), and others ("the weather was great").
THINGS = tuple(
    "movie party concert trip hotel meeting game book show weekend flight "
    "dinner day".split()
) + ("new phone", "new job")
MASS_THINGS = ("service", "food", "weather", "coffee", "music")
ACTIVITIES = (
    "waiting in line",
    "monday mornings",
    "long meetings",
    "rainy days",
    "doing the dishes",
    "traffic jams",
    "this new phone",
    "this weather",
)
# Each template has one slot of the words above, `{adjective}` or `{verb}`.
TEMPLATES = (
    "the {any_thing} was {adjective}",
    "this {any_thing} is {adjective}",
    "what {a} {adjective} {thing}",
    "that was {a} {adjective} {thing}",
    "i {verb} this {any_thing}",
    "i {verb} {activity}",
)
# A neutral word before or after (or none), drawn whatever the class.
FILLERS = ("", "well {}", "oh {}", "honestly {}", "so {}", "{} today")
FILLERS += ("{} again",)
# espeak-ng voice variants, disjoint between the splits: `spoken`'s, less
# "Alex" and "aunty", whose pitch hardly moves or moves backwards.
_UNUSED_VARIANTS = ("Alex", "aunty")
VARIANTS = {
    split: tuple(v for v in SPOKEN_VARIANTS[split] if v not in _UNUSED_VARIANTS)
    for split in SPLITS
}
VOICES = {
    split: tuple(f"{a}+{v}" for v in VARIANTS[split] for a in ACCENTS)
    for split in SPLITS
}
# The prosody of each delivery: ranges that every clip draws from. Speed in
# words per minute, pitch 0-99 (espeak-ng's `-p`), gap between words in
# tens of milliseconds (`-g`), and the pitch range in percent of the
# voice's own (SSML `<prosody range>`, which espeak-ng caps at 200).
PROSODY = {
    "lively": {
        "speed": (185, 225),
        "pitch": (55, 80),
        "gap": (0, 1),
        "range": (150, 200),
    },
    "flat": {
        "speed": (125, 150),
        "pitch": (15, 40),
        "gap": (2, 5),
        "range": (0, 20),
    },
}
_SILENCE_SECONDS = (0.05, 0.3)
_PEAK = (0.3, 0.9)
_SNR_DB = (20, 35)
_DESIGN = repr(
    (CLASSES, CLASS_ODDS, WORDS, THINGS, MASS_THINGS, ACTIVITIES)
    + (TEMPLATES, FILLERS, VOICES, PROSODY, _SILENCE_SECONDS, _PEAK, _SNR_DB)
    + (MAX_SECONDS, SAMPLE_RATE, 1)
)


def attitude(polarity, delivery):
    """The class of words of `polarity` spoken with `delivery`.

    Literally negative words mean "negative", however they are spoken.
    Literally positive words mean "positive" when spoken lively (high,
    quick, with a wide pitch range) and "sarcastic" when spoken flat (low,
    slow, monotone, the positive word stressed).

    Examples:
    >>> keras_mm.datasets.spoken_sentiment.label("positive", "lively")
    'positive'
    >>> keras_mm.datasets.spoken_sentiment.label("positive", "flat")
    'sarcastic'
    >>> keras_mm.datasets.spoken_sentiment.label("negative", "flat")
    'negative'
    """
    if polarity not in POLARITIES or delivery not in DELIVERIES:
        raise ValueError(
            f"`polarity` must be one of {POLARITIES} and `delivery` one of "
            f"{DELIVERIES}. Received: polarity={polarity!r}, "
            f"delivery={delivery!r}"
        )
    if polarity == "negative":
        return "negative"
    return "positive" if delivery == "lively" else "sarcastic"


def spoken_sentiment(num_samples=3000, seed=0, cache_dir=None):
    """Generates the built-in spoken sentiment dataset: short sentences
    spoken sincerely or sarcastically, locally and from a seed.

    Each example is a sentence about an everyday thing, such as "the movie
    was great", "i love this new phone", "what a wonderful day", "the
    service was terrible" or "well i hate waiting in line", spoken by
    espeak-ng (install it with `apt-get install espeak-ng`) at 16 kHz, with
    its transcript. One word carries the literal polarity: a positive or
    negative adjective or verb of `WORDS`, in one of `TEMPLATES`, maybe
    with a neutral word before or after (`FILLERS`). Transcripts are
    lowercase and at most 7 words.

    The attitude is in the voice. A "lively" delivery is quick (185-225
    words per minute), high (pitch 55-80 of 99) and with a wide pitch
    range (150-200% of the voice's own). A "flat" delivery is slow
    (125-150 words per minute), low (pitch 15-40), drawn out (20-50 ms
    between words), nearly monotone (0-20% of the voice's pitch range)
    and stresses the polarity word (SSML `<emphasis>`). Each clip draws
    its values within its delivery's ranges (`PROSODY`); flat clips last
    about 1.6 times as long as lively ones of the same sentence.

    The label is the class of `CLASSES` that `label(polarity, delivery)`
    gives: "positive" is positive words spoken lively, "sarcastic" the
    same positive words (from the same sentences) spoken flat, and
    "negative" negative words, always spoken flat. Neither input decides
    it alone: the text cannot tell positive from sarcastic, and the
    prosody, the same for negative and sarcastic, cannot tell those two
    apart. With the odds of `CLASS_ODDS` (0.4, 0.3, 0.3), the best a model
    can do from the text alone is 0.7, from the prosody alone 0.7, and
    from both 1.0. (A model of the audio alone may also recognise the
    spoken words, and so could in principle reach 1.0 from the audio.)

    Held-out voices: the splits use disjoint espeak-ng voice variants
    (`VARIANTS`), each with every accent of `ACCENTS`, so that the
    validation and test speakers are never heard in training. Each clip
    gets 0.05-0.3 s of silence before and after, a peak amplitude between
    0.3 and 0.9, and white noise at 20-35 dB signal-to-noise ratio. No clip
    lasts longer than `MAX_SECONDS = 4.0` seconds.

    `num_samples` is the total across the splits: 70% train, 10%
    validation and the rest test, each with the classes in the proportions
    of `CLASS_ODDS` (as near as the counts allow), in random order. The
    same arguments give identical arrays and strings (with the same
    espeak-ng version). Synthesis runs one espeak-ng process per CPU core,
    with a progress bar from 200 clips on; 3000 clips take about 40
    seconds on two cores. The result is cached in an `.npz` file in
    `cache_dir`, else `$KERAS_MM_CACHE/spoken_sentiment`, else
    `~/.cache/keras_mm/spoken_sentiment`, and later calls load it (without
    espeak-ng).

    Args:
        num_samples: int. Examples over all splits, 30 to 100000 (each
            holds up to 256 kB of audio). Defaults to `3000`.
        seed: int. Non-negative seed. Defaults to `0`.
        cache_dir: str, path-like or `None`. Directory of the cache file.

    Returns:
        A dict with keys `"train"`, `"validation"` and `"test"`, each a
        dict of:
        - `"audio"`: list of `n` float32 waveforms of at most 64000
          samples, with values in `[-1, 1]`.
        - `"text"`: list of `n` str, the transcripts.
        - `"labels"`: int32 `(n,)`, indices into `CLASSES`.
        - `"sentiments"`: list of `n` str, what is meant: `"positive"` or
          `"negative"` (sarcasm means negative).
        - `"polarities"`: list of `n` str, the literal polarity of the
          words: `"positive"` or `"negative"`.
        - `"sarcastic"`: bool `(n,)`.
        - `"deliveries"`: list of `n` str, `"lively"` or `"flat"`.
        - `"voices"`: list of `n` str, espeak-ng's `"accent+variant"`.
        - `"sample_rate"`: 16000.
        and `"class_names"` (`CLASSES`), `"max_duration"` (4.0) and
        `"sample_rate"` (16000).

    Raises:
        ValueError: if an argument is not of an allowed type or value.
        RuntimeError: if espeak-ng is not installed, lacks one of the
            voices, or fails.

    Examples:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     data = keras_mm.datasets.spoken_sentiment(num_samples=30,
    ...                                               cache_dir=cache)
    >>> {name: len(data[name]["labels"]) for name in ("train", "test")}
    {'train': 21, 'test': 6}
    >>> data["class_names"], data["max_duration"]
    (('positive', 'negative', 'sarcastic'), 4.0)
    >>> train = data["train"]
    >>> label = keras_mm.datasets.spoken_sentiment.label
    >>> all(data["class_names"][index] == label(polarity, delivery)
    ...     for index, polarity, delivery in zip(
    ...         train["labels"], train["polarities"], train["deliveries"]))
    True
    """
    if isinstance(seed, np.integer):
        seed = int(seed)
    check_num_samples(
        num_samples,
        MIN_NUM_SAMPLES,
        MAX_NUM_SAMPLES,
        "each example holds up to 256 kB of audio, so that many already "
        "take about 26 GB in memory (and over an hour to synthesise)",
    )
    check_integers(minimum=0, seed=seed)
    check_cache_dir(cache_dir)
    name = f"spoken_sentiment-n{num_samples}-seed{seed}"
    path = cache_file(cache_dir, "spoken_sentiment", name, _DESIGN)

    def build():
        check_espeak(
            ACCENTS,
            [v for split in SPLITS for v in VARIANTS[split]],
            "`spoken_sentiment`",
        )
        sizes = split_sizes(num_samples)
        plans = {
            split: _plan_split(
                sizes[split], VOICES[split], np.random.default_rng([seed, i])
            )
            for i, split in enumerate(SPLITS)
        }
        everything = [plan for split in SPLITS for plan in plans[split]]
        audio = iter(synthesise_all(everything))
        data = {}
        for split in SPLITS:
            rows = plans[split]
            labels = [CLASSES.index(p["class"]) for p in rows]
            data[split] = {
                "audio": [next(audio) for _ in rows],
                "text": [p["transcript"] for p in rows],
                "labels": np.array(labels, "int32"),
                "sentiments": [
                    "positive" if p["class"] == "positive" else "negative"
                    for p in rows
                ],
                "polarities": [p["polarity"] for p in rows],
                "sarcastic": np.array(
                    [p["class"] == "sarcastic" for p in rows], bool
                ),
                "deliveries": [p["delivery"] for p in rows],
                "voices": [p["voice"] for p in rows],
                "sample_rate": SAMPLE_RATE,
            }
        return data

    keys = ("audio", "text", "labels", "sentiments", "polarities")
    keys += ("sarcastic", "deliveries", "voices")
    data = cached(path, keys, SAMPLE_RATE, build)
    data.update(
        class_names=CLASSES,
        max_duration=MAX_SECONDS,
        sample_rate=SAMPLE_RATE,
    )
    return data


# Expose the constants on the function too, so that users of
# `keras_mm.datasets.spoken_sentiment` find them without importing the
# module.
spoken_sentiment.CLASSES = CLASSES
spoken_sentiment.POLARITIES = POLARITIES
spoken_sentiment.DELIVERIES = DELIVERIES
spoken_sentiment.CLASS_ODDS = CLASS_ODDS
spoken_sentiment.WORDS = WORDS
spoken_sentiment.TEMPLATES = TEMPLATES
spoken_sentiment.ACCENTS = ACCENTS
spoken_sentiment.VARIANTS = VARIANTS
spoken_sentiment.VOICES = VOICES
spoken_sentiment.PROSODY = PROSODY
spoken_sentiment.MAX_SECONDS = MAX_SECONDS
spoken_sentiment.MAX_NUM_SAMPLES = MAX_NUM_SAMPLES
spoken_sentiment.SPLITS = SPLITS
spoken_sentiment.label = attitude


def sentence(polarity, rng):
    """Draws a sentence of `polarity`: its words and its polarity word."""
    template = choice(rng, TEMPLATES)
    part = "verb" if "{verb}" in template else "adjective"
    word = choice(rng, WORDS[polarity][part])
    article = "an" if word[0] in "aeio" else "a"  # "a useless"
    text = template.format(
        thing=choice(rng, THINGS),
        any_thing=choice(rng, THINGS + MASS_THINGS),
        activity=choice(rng, ACTIVITIES),
        a=article,
        **{part: word},
    )
    filler = choice(rng, FILLERS)
    return (filler.format(text) if filler else text), word


def _markup(text, word, delivery, pitch_range):
    """The SSML that speaks `text` with `delivery`: a pitch range and, when
    flat, the stress on the polarity `word`."""
    if delivery == "flat":
        stressed = f'<emphasis level="strong">{word}</emphasis>'
        text = " ".join(stressed if w == word else w for w in text.split())
    return f'<speak><prosody range="{pitch_range}%">{text}</prosody></speak>'


def _plan_split(n, voices, rng):
    """The sentences, voices and prosody of `n` clips, the classes in the
    proportions of `CLASS_ODDS`, in random order."""
    quantiles = (np.arange(n) + 0.5) / n
    classes = np.searchsorted(np.cumsum(CLASS_ODDS), quantiles)
    classes = rng.permutation(np.minimum(classes, len(CLASSES) - 1))
    order = rng.permutation(np.arange(n) % len(voices))
    plans = []
    for index, voice_index in zip(classes.tolist(), order.tolist()):
        kind = CLASSES[index]
        polarity = "negative" if kind == "negative" else "positive"
        delivery = "lively" if kind == "positive" else "flat"
        text, word = sentence(polarity, rng)
        prosody = PROSODY[delivery]

        def draw(name, prosody=prosody):
            low, high = prosody[name]
            return int(rng.integers(low, high + 1))

        pitch_range = draw("range")
        plans.append(
            {
                "text": _markup(text, word, delivery, pitch_range),
                "ssml": True,
                "transcript": text,
                "polarity": polarity,
                "delivery": delivery,
                "class": kind,
                "engine": "espeak-ng",
                "voice": voices[voice_index],
                "speed": draw("speed"),
                "pitch": draw("pitch"),
                "gap": draw("gap"),
                "silences": rng.uniform(*_SILENCE_SECONDS, size=2),
                "peak": rng.uniform(*_PEAK),
                "snr": rng.uniform(*_SNR_DB),
                "noise_seed": int(rng.integers(2**31)),
                "sample_rate": SAMPLE_RATE,
                "max_seconds": MAX_SECONDS,
                "room": MAX_SECONDS - 2 * _SILENCE_SECONDS[0],
            }
        )
    return plans
