"""Paired datasets for fusion with audio: spoken scenes and commands."""

import string

import numpy as np

from keras_mm.datasets.cache import cached
from keras_mm.datasets.cache import check_cache_dir
from keras_mm.datasets.cache import split_sizes
from keras_mm.datasets.scenes import COLOURS
from keras_mm.datasets.scenes import HELD_OUT
from keras_mm.datasets.scenes import MIN_IMAGE_SIZE
from keras_mm.datasets.scenes import SHAPES
from keras_mm.datasets.scenes import SIZES
from keras_mm.datasets.scenes import group_phrase
from keras_mm.datasets.scenes import scenes
from keras_mm.datasets.spoken import INTENTS
from keras_mm.datasets.spoken import KEYS
from keras_mm.datasets.spoken import MIN_NUM_SAMPLES
from keras_mm.datasets.spoken import SLOTS
from keras_mm.datasets.spoken import SPLITS
from keras_mm.datasets.spoken import cache_path
from keras_mm.datasets.spoken import check_synthesis
from keras_mm.datasets.spoken import choice
from keras_mm.datasets.spoken import fill
from keras_mm.datasets.spoken import sentence_slots
from keras_mm.datasets.spoken import speak
from keras_mm.utils.validation import check_integers

LABELS = ("mismatch", "match")
# The factors of a group that a mismatched description changes.
FACTORS = ("colour", "shape", "count", "size")
_VALUES = dict(zip(FACTORS, (COLOURS, SHAPES, (1, 2, 3), SIZES)))
_POOL_MULTIPLE = 3  # Scenes rendered per example, to choose from.
_CACHE_VERSION = 1
# Cache files are named after a digest of these too.
_DESIGN = repr((_CACHE_VERSION, LABELS, _VALUES, HELD_OUT, _POOL_MULTIPLE))


def spoken_scenes(
    num_samples=2000,
    image_size=64,
    sample_rate=16000,
    seed=0,
    noise_snr_db=20,
    cache_dir=None,
):
    """Generates scene images paired with spoken descriptions, from a seed.

    Each example is an image of `keras_mm.datasets.scenes` (without a
    rendered word) and a spoken description of one or two groups of
    objects, such as "two small red circles and a big blue square" (the
    groups in the order of their bands, top to bottom or left to right),
    synthesised with `keras_mm.datasets.spoken.speak`. The label, of
    `LABELS = ("mismatch", "match")`, is `1` when the description is the
    image's and `0` when it describes a scene that differs in exactly one
    of `FACTORS` of one group: its colour, shape, count or size.

    Neither input alone predicts the label. Labels are balanced (a
    permutation per split) and drawn independently of the scenes. For
    every scene, whatever its label, a change is proposed uniformly: a
    group, a factor and another value of that factor (any colour, shape,
    count of 1-3 or size). The scene is kept only if the changed
    description could describe a scene of the split (distinct shapes; in
    training no held-out colour-shape pair; in validation and test exactly
    one group of a held-out pair of the split), else the next scene is
    tried. A kept scene is described as it is when the label is `1` and
    with the change when it is `0`. `scenes` draws the descriptions of a
    split uniformly given the number of groups, and a change is proposed
    from either of two descriptions with the same probability, so a
    mismatched (image, description) pair is as likely as its reverse: the
    images, and what is said, have the same distribution for both labels.

    Held out: the images of a split come from that split of `scenes`, so
    each validation and test image, and what is said about it, holds one
    group of a held-out pair of `scenes.HELD_OUT`; the voices of a split
    are those of `keras_mm.datasets.spoken.VOICES[split]`, unheard in
    training.

    `num_samples` is the total across the splits: 70% train, 10%
    validation and the rest test. About three scenes are rendered per
    example to choose from; 300 examples take about 8 s on two CPU cores,
    mostly synthesis. The same arguments give identical arrays and
    strings (with the same espeak-ng version), cached as by
    `keras_mm.datasets.spoken`, in an `.npz` file in `cache_dir`, else
    `$KERAS_MM_CACHE/paired`, else `~/.cache/keras_mm/paired`.

    Args:
        num_samples: int. Number of examples over all splits, at least 30.
            Defaults to `2000`.
        image_size: int. Height and width of the images, at least 24.
            Defaults to `64`.
        sample_rate: int. Samples per second of the audio, at least 8000.
            Defaults to `16000`.
        seed: int. Non-negative seed of the generator. Defaults to `0`.
        noise_snr_db: float or `None`. Centre of the signal-to-noise ratio
            in decibels, in `[0, 60]`; `None` adds no noise. Defaults to
            `20`.
        cache_dir: str, path-like or `None`. Directory of the cache files.
            Defaults to `None` (the directories above).

    Returns:
        A dict with keys `"train"`, `"validation"` and `"test"`, each a dict
        of:
        - `"images"`: uint8 array of shape `(n, image_size, image_size, 3)`.
        - `"captions"`: list of `n` str, the images' own descriptions.
        - `"audio"`: list of `n` float32 arrays of shape `(samples,)`,
          1.5-6 s long (`keras_mm.encoders.audio(max_duration=6.0)` hears
          them whole).
        - `"transcripts"`: list of `n` str, the spoken descriptions.
        - `"labels"`: int32 array of shape `(n,)`, indices into `LABELS`.
        - `"voices"`: list of `n` str, the espeak-ng voices.
        - `"sample_rate"`: int, `sample_rate`.

    Raises:
        ValueError: if an argument is not of an allowed type or value.
        RuntimeError: if espeak-ng is not installed, lacks one of the
            voices, or fails.

    Examples:
    >>> import tempfile
    >>> from keras_mm.datasets.paired import spoken_scenes
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     data = spoken_scenes(30, image_size=24, cache_dir=cache)
    >>> train = data["train"]
    >>> train["images"].shape, train["images"].dtype, len(train["audio"])
    ((21, 24, 24, 3), dtype('uint8'), 21)
    >>> np.bincount(train["labels"]).tolist()
    [11, 10]
    >>> [c == t for c, t in zip(train["captions"], train["transcripts"])] == [
    ...     label == 1 for label in train["labels"]]
    True
    """
    check_integers(minimum=MIN_NUM_SAMPLES, num_samples=num_samples)
    check_integers(minimum=MIN_IMAGE_SIZE, image_size=image_size)
    seed, snr = check_synthesis(sample_rate, seed, noise_snr_db)
    check_cache_dir(cache_dir)
    name = f"scenes-{image_size}px"
    path = cache_path(
        cache_dir, name, num_samples, sample_rate, seed, snr, "paired", _DESIGN
    )

    def build():
        sizes = split_sizes(num_samples)
        multiple = _POOL_MULTIPLE
        while True:  # A larger pool in the unlikely case of too few kept.
            rng = np.random.default_rng(seed)
            scene_seed, *speech_seeds = rng.integers(2**31, size=4).tolist()
            labels = _balanced_labels(sizes, rng)
            num_scenes = multiple * (num_samples + 25)
            pool = scenes(num_scenes, image_size, scene_seed, words=False)
            kept = [
                _select(pool[split]["objects"], split, sizes[split], rng)
                for split in SPLITS
            ]
            if None not in kept:
                break
            multiple *= 2
        data = {}
        for split, chosen, speech_seed in zip(SPLITS, kept, speech_seeds):
            indices = [index for index, _, _ in chosen]
            captions = [_describe(groups) for _, groups, _ in chosen]
            transcripts = [
                _describe(groups if label else changed)
                for (_, groups, changed), label in zip(chosen, labels[split])
            ]
            audio, voices = speak(
                transcripts, split, sample_rate, speech_seed, snr
            )
            data[split] = {
                "images": pool[split]["images"][indices],
                "captions": captions,
                "audio": audio,
                "transcripts": transcripts,
                "labels": labels[split],
                "voices": voices,
                "sample_rate": sample_rate,
            }
        return data

    return cached(path, ("images", "captions", *KEYS), sample_rate, build)


def spoken_commands(
    num_samples=2000, sample_rate=16000, seed=0, noise_snr_db=20, cache_dir=None
):
    """Generates spoken sentences paired with written ones, from a seed.

    Each example is a sentence of the grammar of
    `keras_mm.datasets.spoken` (`kind="sentences"`), such as "move the
    blue square left" or "turn the light on in the kitchen", spoken with
    `keras_mm.datasets.spoken.speak`, and a written sentence. The label,
    of `LABELS = ("mismatch", "match")`, is `1` when the written sentence
    is what was said and `0` when it differs in exactly one slot: a count,
    size, colour, shape, position, direction, switch ("on", "off"), room
    or digit.

    Neither input alone predicts the label. Labels are balanced (a
    permutation per split), and so are the intents of `spoken.INTENTS`,
    independently. Each spoken sentence draws a template of its intent and
    every slot uniformly; whatever the label, a change is drawn uniformly:
    one of the template's slots and another value of it. A label `1`
    writes the sentence as it is, a label `0` with the change. Within a
    template, sentences are uniform and a change is proposed from either
    of two sentences with the same probability, so a mismatched (spoken,
    written) pair is as likely as its reverse: what is said, and what is
    written, have the same distribution for both labels.

    The voices of a split are those of `spoken.VOICES[split]`, unheard in
    training. Splits, seeding and caching are as for `spoken_scenes`.

    Args:
        num_samples: int. Number of examples over all splits, at least 30.
            Defaults to `2000`.
        sample_rate: int. Samples per second of the audio, at least 8000.
            Defaults to `16000`.
        seed: int. Non-negative seed of the generator. Defaults to `0`.
        noise_snr_db: float or `None`. Centre of the signal-to-noise ratio
            in decibels, in `[0, 60]`; `None` adds no noise. Defaults to
            `20`.
        cache_dir: str, path-like or `None`. Directory of the cache files.
            Defaults to `None` (as for `spoken_scenes`).

    Returns:
        A dict with keys `"train"`, `"validation"` and `"test"`, each a dict
        of:
        - `"text"`: list of `n` str, the written sentences.
        - `"audio"`: list of `n` float32 arrays of shape `(samples,)`,
          1.5-4.5 s long.
        - `"transcripts"`: list of `n` str, the spoken sentences.
        - `"labels"`: int32 array of shape `(n,)`, indices into `LABELS`.
        - `"voices"`: list of `n` str, the espeak-ng voices.
        - `"sample_rate"`: int, `sample_rate`.

    Raises:
        ValueError: if an argument is not of an allowed type or value.
        RuntimeError: if espeak-ng is not installed, lacks one of the
            voices, or fails.

    Examples:
    >>> import tempfile
    >>> from keras_mm.datasets.paired import spoken_commands
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     data = spoken_commands(num_samples=30, cache_dir=cache)
    >>> test = data["test"]
    >>> len(test["text"]), len(test["audio"]), test["audio"][0].dtype
    (6, 6, dtype('float32'))
    >>> [w == s for w, s in zip(test["text"], test["transcripts"])] == [
    ...     label == 1 for label in test["labels"]]
    True
    """
    check_integers(minimum=MIN_NUM_SAMPLES, num_samples=num_samples)
    seed, snr = check_synthesis(sample_rate, seed, noise_snr_db)
    check_cache_dir(cache_dir)
    name = "commands"
    path = cache_path(
        cache_dir, name, num_samples, sample_rate, seed, snr, "paired", _DESIGN
    )

    def build():
        sizes = split_sizes(num_samples)
        rng = np.random.default_rng(seed)
        labels = _balanced_labels(sizes, rng)
        data = {}
        for split in SPLITS:
            n = sizes[split]
            intents = rng.permutation(np.arange(n) % len(INTENTS)).tolist()
            said, written = [], []
            for label, intent in zip(labels[split].tolist(), intents):
                template, slots = sentence_slots(INTENTS[intent], rng)
                changed = _change_slot(template, slots, rng)
                said.append(fill(template, slots))
                written.append(fill(template, slots if label else changed))
            speech_seed = int(rng.integers(2**31))
            audio, voices = speak(said, split, sample_rate, speech_seed, snr)
            data[split] = {
                "text": written,
                "audio": audio,
                "transcripts": said,
                "labels": labels[split],
                "voices": voices,
                "sample_rate": sample_rate,
            }
        return data

    return cached(path, ("text", *KEYS), sample_rate, build)


# Expose the constants on the functions too, as `scenes` and `spoken` do.
spoken_scenes.LABELS = LABELS
spoken_scenes.FACTORS = FACTORS
spoken_commands.LABELS = LABELS


def _balanced_labels(sizes, rng):
    return {
        split: rng.permutation(np.arange(sizes[split]) % 2).astype("int32")
        for split in SPLITS
    }


def _groups(objects):
    """The groups of a scene, in band order, from its objects."""
    groups = {}
    for item in objects:
        group = groups.setdefault(item["shape"], dict(item, count=0))
        group["count"] += 1
    return list(groups.values())


def _describe(groups):
    return " and ".join(group_phrase(group) for group in groups)


def _select(objects, split, n, rng):
    """The first `n` scenes whose proposed change fits `split`.

    Returns `(index, groups, changed groups)` triples, or `None` when fewer
    than `n` scenes fit.
    """
    kept = []
    for index, scene in enumerate(objects):
        groups = _groups(scene)
        g = int(rng.integers(len(groups)))
        factor = choice(rng, FACTORS)
        others = [v for v in _VALUES[factor] if v != groups[g][factor]]
        changed = [dict(group) for group in groups]
        changed[g][factor] = choice(rng, others)
        if _fits(changed, split):
            kept.append((index, groups, changed))
            if len(kept) == n:
                return kept
    return None


def _fits(groups, split):
    """Whether `scenes` can draw a scene of `split` with these groups."""
    shapes = [group["shape"] for group in groups]
    pairs = [(group["colour"], group["shape"]) for group in groups]
    banned = set(HELD_OUT["validation"]) | set(HELD_OUT["test"])
    held = sum(pair in HELD_OUT.get(split, ()) for pair in pairs)
    trained = sum(pair not in banned for pair in pairs)
    return (
        len(set(shapes)) == len(shapes)
        and held == (0 if split == "train" else 1)
        and held + trained == len(pairs)
    )


def _change_slot(template, slots, rng):
    """Gives one slot of `template`, drawn uniformly, another value."""
    fields = [field for _, field, _, _ in string.Formatter().parse(template)]
    names = [
        "shape" if field == "plural" else field for field in fields if field
    ]
    name = choice(rng, list(dict.fromkeys(names)))
    others = [value for value in SLOTS[name] if value != slots[name]]
    return dict(slots, **{name: choice(rng, others)})
