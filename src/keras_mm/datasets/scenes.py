"""Rendered 2-D scenes with captions and true / false / unknown statements."""

import numpy as np

from keras_mm.datasets.cache import SPLITS
from keras_mm.datasets.cache import split_sizes
from keras_mm.datasets.scene_drawing import COLUMNS
from keras_mm.datasets.scene_drawing import ROWS
from keras_mm.datasets.scene_drawing import draw_scene
from keras_mm.utils.validation import check_integers

LABELS = ("false", "true", "unknown")
SHAPES = ("circle", "square", "triangle", "cross")
COLOURS = ("red", "green", "blue", "yellow", "purple", "cyan")
SIZES = ("small", "big")
BACKGROUNDS = ("plain", "noisy", "striped", "checked")
WORDS = ("cat", "dog", "sun", "cup", "hat", "key", "map", "pen")
TEMPLATES = ("colour", "size", "count", "position", "word")
# Colour-shape pairs that never appear in training scenes. Every validation
# scene holds one group of a "validation" pair, every test scene one group of
# a "test" pair; each set holds one pair per shape.
HELD_OUT = {
    "validation": (
        ("green", "circle"),
        ("cyan", "square"),
        ("yellow", "triangle"),
        ("red", "cross"),
    ),
    "test": (
        ("blue", "circle"),
        ("yellow", "square"),
        ("red", "triangle"),
        ("purple", "cross"),
    ),
}

MIN_NUM_SAMPLES = 30
MIN_IMAGE_SIZE = 24

_WHERE = {
    "top": "at the top",
    "middle": "in the middle",
    "bottom": "at the bottom",
    "left": "on the left",
    "right": "on the right",
}
_NUMBERS = ("one", "two", "three")
_PLURALS = {shape: shape + "s" for shape in SHAPES}
_PLURALS["cross"] = "crosses"


def scenes(num_samples=2000, image_size=64, seed=0, words=True):
    """Generates the built-in scenes dataset, locally and from a seed.

    Each image shows one or two groups of identical objects on a background,
    and, in half of the images, a rendered word. A group is 1-3 objects of
    one shape (circle, square, triangle, cross), one colour (red, green,
    blue, yellow, purple, cyan) and one size (small, big). The image is cut
    into three bands, either rows (`"top"`, `"middle"`, `"bottom"`) or
    columns (`"left"`, `"middle"`, `"right"`); each group fills one band and
    the word another, written across in a row and downwards (letters
    stacked) in a column, so that it stays legible from 48 pixels up.
    Groups in one image have different shapes. The background is
    `"plain"`, `"noisy"`, `"striped"` or `"checked"`.

    Every image comes with a caption, such as "two small red circles and a
    big blue square on a striped background, with the word cat", five
    paraphrased references (the caption first) for BLEU or CIDEr, and a
    statement labelled by `LABELS = ("false", "true", "unknown")`:

    - `0` (`"false"`): the statement is about something that is in the
      image, and the image contradicts it.
    - `1` (`"true"`): the statement is about something that is in the
      image, and the image confirms it.
    - `2` (`"unknown"`): the statement is about something that is not in
      the image, so it cannot be checked: a shape that no group has, or
      the word when no word is rendered.

    The statement templates (`"templates"` field) are `"colour"` ("the
    circles are red"), `"size"` ("the circles are small"), `"count"` ("the
    number of circles is two"), `"position"` ("the circles are at the
    top"; only positions of the image's own layout are used) and `"word"`
    ("the word is cat"). Statements are always plural, so their form does
    not reveal a count.

    Neither input alone predicts the label. The label is drawn (balanced,
    by permutation) independently of the image; then a template is drawn
    among those that can express that label for that image, and the
    statement's shape, colour, size, count, position or word is drawn so
    that, over images, its distribution is the same for the three labels.

    Held-out combinations: training scenes never contain the colour-shape
    pairs in `HELD_OUT`, and training statements never mention them. Every
    validation scene contains one group of a `HELD_OUT["validation"]` pair
    and every test scene one group of a `HELD_OUT["test"]` pair (the other
    group, if any, uses training pairs), so scores measure generalisation
    to unseen combinations of known factors.

    `num_samples` is the total across the splits: 70% train, 10%
    validation and the rest test. Generation takes one to two seconds for 2000
    images of 64 x 64 pixels, on one CPU core. The same arguments give
    identical arrays and strings.

    Args:
        num_samples: int. Number of examples over all splits, at least 30.
            Defaults to `2000`.
        image_size: int. Height and width of the images, at least 24.
            Defaults to `64`.
        seed: int. Non-negative seed of the generator. Defaults to `0`.
        words: bool. Whether half the images show a rendered word. Words
            are drawn with Pillow's built-in bitmap font; without Pillow no
            word is rendered (with a warning), `"word"` is `""` everywhere
            and the `"word"` template is not used. Defaults to `True`.

    Returns:
        A dict with keys `"train"`, `"validation"` and `"test"`, each a dict
        of:
        - `"images"`: uint8 array of shape `(n, image_size, image_size, 3)`.
        - `"captions"`: list of `n` str.
        - `"references"`: list of `n` lists of 5 str, the caption first.
        - `"statements"`: list of `n` str.
        - `"labels"`: int32 array of shape `(n,)`, indices into `LABELS`.
        - `"templates"`: list of `n` str, the statement templates.
        - `"objects"`: list of `n` lists of dicts with keys `"shape"`,
          `"colour"`, `"size"`, `"position"` (the band) and `"center"`
          (the `(y, x)` pixel coordinates), one dict per object.
        - `"word"`: list of `n` str, the rendered word or `""`.
        - `"word_position"`: list of `n` str, the word's band or `""`.
        - `"background"`: list of `n` str.

    Raises:
        ValueError: if an argument is not an integer in range.

    Examples:
    >>> data = keras_mm.datasets.scenes(num_samples=30, image_size=32)
    >>> {name: len(split["labels"]) for name, split in data.items()}
    {'train': 21, 'validation': 3, 'test': 6}
    >>> data["train"]["images"].shape, data["train"]["images"].dtype
    ((21, 32, 32, 3), dtype('uint8'))
    >>> keras_mm.datasets.scenes.LABELS
    ('false', 'true', 'unknown')
    """
    if isinstance(seed, np.integer):
        seed = int(seed)
    check_integers(minimum=MIN_NUM_SAMPLES, num_samples=num_samples)
    check_integers(minimum=MIN_IMAGE_SIZE, image_size=image_size)
    check_integers(minimum=0, seed=seed)
    if not isinstance(words, bool):
        raise ValueError(f"`words` must be a bool. Received: words={words!r}")
    sizes = split_sizes(num_samples)
    rng = np.random.default_rng(seed)
    grid = np.arange(image_size, dtype="float32") + 0.5
    return {
        split: _generate_split(
            split, sizes[split], image_size, rng, words, grid
        )
        for split in SPLITS
    }


# Expose the constants on the function too, so that users of
# `keras_mm.datasets.scenes` find them without importing the module.
scenes.LABELS = LABELS
scenes.SHAPES = SHAPES
scenes.COLOURS = COLOURS
scenes.SIZES = SIZES
scenes.BACKGROUNDS = BACKGROUNDS
scenes.WORDS = WORDS
scenes.TEMPLATES = TEMPLATES
scenes.HELD_OUT = HELD_OUT


def _allowed_colours(split):
    """Maps each shape to the colours its scenes use in `split`."""
    banned = set(HELD_OUT["validation"]) | set(HELD_OUT["test"])
    allowed = {
        shape: [c for c in COLOURS if (c, shape) not in banned]
        for shape in SHAPES
    }
    if split != "train":
        for colour, shape in HELD_OUT[split]:
            allowed[shape] = [c for c in COLOURS if c in allowed[shape]] + [
                colour
            ]
    return allowed


def _generate_split(split, n, image_size, rng, words, grid):
    allowed = _allowed_colours(split)
    train_colours = _allowed_colours("train")
    templates = TEMPLATES if words else TEMPLATES[:-1]
    labels = rng.permutation(np.arange(n) % 3).astype("int32")
    out = {
        "images": np.empty((n, image_size, image_size, 3), "uint8"),
        "captions": [],
        "references": [],
        "statements": [],
        "labels": labels,
        "templates": [],
        "objects": [],
        "word": [],
        "word_position": [],
        "background": [],
    }
    for i in range(n):
        scene = _sample_scene(split, rng, words, train_colours)
        out["images"][i] = draw_scene(scene, image_size, rng, grid)
        captions = _captions(scene)
        template, statement = _sample_statement(
            scene, int(labels[i]), templates, allowed, rng
        )
        out["captions"].append(captions[0])
        out["references"].append(captions)
        out["statements"].append(statement)
        out["templates"].append(template)
        out["objects"].append(scene["objects"])
        out["word"].append(scene["word"])
        out["word_position"].append(scene["word_position"])
        out["background"].append(scene["background"])
    return out


def choice(rng, options):
    return options[int(rng.integers(len(options)))]


def _sample_scene(split, rng, words, train_colours):
    bands = ROWS if rng.random() < 0.5 else COLUMNS
    num_groups = int(rng.integers(1, 3))
    has_word = words and rng.random() < 0.5
    order = rng.permutation(3)
    shapes = [SHAPES[j] for j in rng.permutation(len(SHAPES))[:num_groups]]
    groups = []
    for g, shape in enumerate(shapes):
        colour = choice(rng, train_colours[shape])
        groups.append(
            {
                "shape": shape,
                "colour": colour,
                "size": choice(rng, SIZES),
                "count": int(rng.integers(1, 4)),
                "band": int(order[g]),
            }
        )
    if split != "train":
        # One group, of a random shape, takes a held-out pair.
        colour, shape = choice(rng, HELD_OUT[split])
        forced = int(rng.integers(num_groups))
        others = {g["shape"] for k, g in enumerate(groups) if k != forced}
        if shape in others:
            # Swap shapes so that shapes stay distinct within the scene.
            k = next(k for k, g in enumerate(groups) if g["shape"] == shape)
            groups[k]["shape"] = groups[forced]["shape"]
            groups[k]["colour"] = choice(rng, train_colours[groups[k]["shape"]])
        groups[forced]["shape"] = shape
        groups[forced]["colour"] = colour
    groups.sort(key=lambda g: g["band"])
    for g in groups:
        g["position"] = bands[g["band"]]
    return {
        "bands": bands,
        "groups": groups,
        "word": choice(rng, WORDS) if has_word else "",
        "word_band": int(order[num_groups]) if has_word else -1,
        "word_position": bands[int(order[num_groups])] if has_word else "",
        "background": choice(rng, BACKGROUNDS),
        "objects": [],
    }


def _sample_statement(scene, label, templates, allowed, rng):
    has_word = bool(scene["word"])
    if label == 2:
        options = [t for t in templates if t != "word" or not has_word]
    else:
        options = [t for t in templates if t != "word" or has_word]
    template = choice(rng, options)
    if template == "word":
        if label == 1:
            word = scene["word"]
        elif label == 0:
            word = choice(rng, [w for w in WORDS if w != scene["word"]])
        else:
            word = choice(rng, WORDS)
        return template, f"the word is {word}"
    present = {g["shape"]: g for g in scene["groups"]}
    if label == 2:
        shape = choice(rng, [s for s in SHAPES if s not in present])
        group = None
    else:
        group = choice(rng, scene["groups"])
        shape = group["shape"]
    values = {
        "colour": allowed[shape],
        "size": SIZES,
        "count": (1, 2, 3),
        "position": scene["bands"],
    }[template]
    actual = None if group is None else group[template]
    if template == "position":
        actual = None if group is None else group["position"]
    if label == 1:
        value = actual
    elif label == 0:
        value = choice(rng, [v for v in values if v != actual])
    else:
        value = choice(rng, list(values))
    if template == "count":
        text = f"the number of {_PLURALS[shape]} is {_NUMBERS[value - 1]}"
    elif template == "position":
        text = f"the {_PLURALS[shape]} are {_WHERE[value]}"
    else:
        text = f"the {_PLURALS[shape]} are {value}"
    return template, text


def group_phrase(group):
    noun = _PLURALS[group["shape"]] if group["count"] > 1 else group["shape"]
    count = "a" if group["count"] == 1 else _NUMBERS[group["count"] - 1]
    return f"{count} {group['size']} {group['colour']} {noun}"


def _captions(scene):
    groups = scene["groups"]
    phrases = [group_phrase(g) for g in groups]
    listed = " and ".join(phrases)
    background = f"a {scene['background']} background"
    word = scene["word"]
    verb = "is" if groups[0]["count"] == 1 else "are"
    placed = " and ".join(
        f"{p} {_WHERE[g['position']]}" for p, g in zip(phrases, groups)
    )
    described = " and ".join(
        f"{_NUMBERS[g['count'] - 1]} {g['colour']} "
        + (
            f"{_PLURALS[g['shape']]} that are "
            if g["count"] > 1
            else f"{g['shape']} that is "
        )
        + g["size"]
        for g in groups
    )
    if word:
        where = _WHERE[scene["word_position"]]
        return [
            f"{listed} on {background}, with the word {word}",
            f"{background} with {listed} and the word {word}",
            f"there {verb} {listed} on {background} and the word {word}",
            f"{placed}, and the word {word} {where}, on {background}",
            f"an image of {described} and the word {word} on {background}",
        ]
    return [
        f"{listed} on {background}",
        f"{background} with {listed}",
        f"there {verb} {listed} on {background}",
        f"{placed}, on {background}",
        f"an image of {described} on {background}",
    ]
