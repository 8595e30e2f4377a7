"""Synthetic chest scans with a short clinical note: what do they suggest
together? Not real data, and not fit for any clinical use."""

import numpy as np

from keras_mm.datasets.cache import SPLITS
from keras_mm.datasets.cache import cache_file
from keras_mm.datasets.cache import cached
from keras_mm.datasets.cache import check_cache_dir
from keras_mm.datasets.cache import check_image_size
from keras_mm.datasets.cache import check_num_samples
from keras_mm.datasets.cache import split_sizes
from keras_mm.datasets.scene_drawing import Image
from keras_mm.datasets.scene_drawing import ImageDraw
from keras_mm.utils.validation import check_integers

FINDINGS = (
    "malignancy suspected",
    "infection",
    "old scarring",
    "follow-up advised",
)
LESIONS = ("none", "nodule", "mass", "consolidation")
SIDES = ("left", "right")
ZONES = ("upper", "lower")
SYMPTOMS = ("none", "cough", "fever", "weight loss", "chest pain")
HISTORY = ("none", "smoker", "past tuberculosis", "past cancer")
MIN_NUM_SAMPLES = 30
MAX_NUM_SAMPLES = 200_000
MIN_IMAGE_SIZE = 32
# How often each lesion, symptom and history is drawn.
_LESION_ODDS = (0.2, 0.24, 0.28, 0.28)
_SYMPTOM_ODDS = (0.1, 0.2, 0.3, 0.25, 0.15)
_HISTORY_ODDS = (0.2, 0.2, 0.35, 0.25)
_DESIGN = repr(
    (FINDINGS, LESIONS, SYMPTOMS, HISTORY, _LESION_ODDS, _SYMPTOM_ODDS)
    + (_HISTORY_ODDS, 1)
)


def findings(lesion, symptom, history):
    """The findings of `FINDINGS` for a lesion seen on the scan and the
    patient's main `symptom` and `history` from the note.

    - No lesion: no finding.
    - A nodule: malignancy suspected after a past cancer (a metastasis),
      old scarring after past tuberculosis, else follow-up advised.
    - A mass: malignancy suspected in a smoker, after a past cancer or with
      weight loss; else infection (an abscess) with fever; else follow-up
      advised.
    - A consolidation: infection with fever (and follow-up advised too in
      a smoker, to see it clear); else old scarring after past
      tuberculosis; else follow-up advised.

    Returns:
        A tuple of findings, in the order of `FINDINGS` (empty for no
        lesion).

    Examples:
    >>> findings = keras_mm.datasets.medical.findings
    >>> findings("nodule", "cough", "past tuberculosis")
    ('old scarring',)
    >>> findings("nodule", "cough", "past cancer")
    ('malignancy suspected',)
    >>> findings("consolidation", "fever", "smoker")
    ('infection', 'follow-up advised')
    """
    if lesion == "none":
        return ()
    if lesion == "nodule":
        found = {
            "past cancer": "malignancy suspected",
            "past tuberculosis": "old scarring",
        }.get(history, "follow-up advised")
        return (found,)
    if lesion == "mass":
        if history in ("smoker", "past cancer") or symptom == "weight loss":
            return ("malignancy suspected",)
        return ("infection",) if symptom == "fever" else ("follow-up advised",)
    if symptom == "fever" and history == "smoker":
        return ("infection", "follow-up advised")
    if symptom == "fever":
        return ("infection",)
    if history == "past tuberculosis":
        return ("old scarring",)
    return ("follow-up advised",)


def medical(num_samples=3000, image_size=64, seed=0, cache_dir=None):
    """Generates the built-in medical dataset: a synthetic chest scan, a
    short clinical note, and the findings they suggest together, locally
    and from a seed.

    The data is synthetic, drawn from a toy rule: nothing here is real
    anatomy or medicine, nor fit for any clinical use.

    Each scan is a grey-level chest image: a body outline, two dark lungs,
    a bright spine and heart, smooth texture, and one lesion of `LESIONS`
    or none: a nodule (a small, smooth, round bright blob), a mass (a
    larger, bright, spiculated blob) or a consolidation (a large, patchy,
    dimmer region), in the upper or lower zone of the left or right lung
    (`ZONES`, `SIDES`; the patient's left is on the right of the image,
    as radiographs are read), of random size, contrast and texture. The
    note gives an age, a sex, a main symptom of `SYMPTOMS` and a history
    of `HISTORY`, in one of a few phrasings, in at most 20 words.

    The labels are the findings of `FINDINGS` that `findings(lesion,
    symptom, history)` gives: the same lesion reads differently with a
    different history, so neither input decides them alone. With the
    dataset's odds, the best macro-F1 a model can reach from the image
    alone is about 0.52 (0.29 if it thresholds the true odds of each
    finding at 0.5), from the note alone about 0.61, and from both 1.0.
    The side, zone, size, age and sex do not change the findings.

    `num_samples` is the total across the splits: 70% train, 10%
    validation and the rest test, each drawn from its own stream of the
    seed. The same arguments give identical arrays and strings. The result
    is cached in an `.npz` file in `cache_dir`, else
    `$KERAS_MM_CACHE/medical`, else `~/.cache/keras_mm/medical`.

    Args:
        num_samples: int. Examples over all splits, 30 to 200000. Defaults
            to `3000`.
        image_size: int. Height and width of the images, 32 to 512.
            Defaults to `64`.
        seed: int. Non-negative seed. Defaults to `0`.
        cache_dir: str, path-like or `None`. Directory of the cache file.

    Returns:
        A dict with keys `"train"`, `"validation"` and `"test"`, each a
        dict of:
        - `"images"`: uint8 `(n, image_size, image_size, 3)`, grey (three
          equal channels).
        - `"text"`: list of `n` str, the clinical notes, such as
          "68-year-old man, smoker, with cough and weight loss."
        - `"labels"`: int32 `(n, len(FINDINGS))`, multi-hot (all zeros
          when there is no lesion).
        - `"reports"`: list of `n` str, what a radiologist reads from the
          scan alone, such as "a large irregular mass in the upper left
          lung" (a target for a captioner).
        - `"lesions"`, `"symptoms"`, `"histories"`, `"sexes"`: lists of
          `n` str; `"sides"`, `"zones"`: lists of `n` str, `""` where
          there is no lesion; `"ages"`: int32 `(n,)`.
        and `"class_names"` (`FINDINGS`) and `"activation"` (`"sigmoid"`).

    Raises:
        ValueError: if an argument is not an integer in range, or
            `cache_dir` is not a path.

    Examples:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     data = keras_mm.datasets.medical(num_samples=30, image_size=32,
    ...                                      cache_dir=cache)
    >>> data["train"]["images"].shape, data["train"]["labels"].shape
    ((21, 32, 32, 3), (21, 4))
    >>> data["class_names"]
    ('malignancy suspected', 'infection', 'old scarring', 'follow-up advised')
    """
    if isinstance(seed, np.integer):
        seed = int(seed)
    check_num_samples(
        num_samples,
        MIN_NUM_SAMPLES,
        MAX_NUM_SAMPLES,
        "the dataset is built in memory, and that many scans already take "
        "2.5 GB at 64 pixels (10 GB at 128)",
    )
    check_image_size(image_size, MIN_IMAGE_SIZE)
    check_integers(minimum=0, seed=seed)
    check_cache_dir(cache_dir)
    name = f"medical-n{num_samples}-{image_size}px-seed{seed}"
    path = cache_file(cache_dir, "medical", name, _DESIGN)

    def build():
        sizes = split_sizes(num_samples)
        return {
            split: _split(
                sizes[split], image_size, np.random.default_rng([seed, index])
            )
            for index, split in enumerate(SPLITS)
        }

    keys = ("images", "text", "labels", "reports", "lesions", "sides")
    keys += ("zones", "symptoms", "histories", "sexes", "ages")
    data = cached(path, keys, None, build)
    data.update(class_names=FINDINGS, activation="sigmoid")
    return data


medical.FINDINGS = FINDINGS
medical.LESIONS = LESIONS
medical.SIDES = SIDES
medical.ZONES = ZONES
medical.SYMPTOMS = SYMPTOMS
medical.HISTORY = HISTORY
medical.SPLITS = SPLITS
medical.findings = findings

_REPORT = {
    "nodule": "a small round nodule in the {zone} {side} lung",
    "mass": "a large irregular mass in the {zone} {side} lung",
    "consolidation": "patchy consolidation in the {zone} {side} lung",
}
# Each history, as an apposition, a clause after a semicolon, a sentence.
_HISTORY_PHRASES = {
    "none": ("", "no relevant history", "No past illness."),
    "smoker": (", smoker,", "smokes 20 a day", "Heavy smoker."),
    "past tuberculosis": (
        ", treated for tuberculosis,",
        "history of tuberculosis",
        "Had tuberculosis years ago.",
    ),
    "past cancer": (
        ", treated for {cancer} cancer,",
        "history of {cancer} cancer",
        "Had {cancer} cancer.",
    ),
}
_SYMPTOM_PHRASES = {
    "none": ("no symptoms", "no symptoms"),
    "cough": ("a persistent cough", "cough"),
    "fever": ("fever and cough", "a high fever"),
    "weight loss": ("cough and weight loss", "weight loss"),
    "chest pain": ("chest pain", "chest pain on breathing"),
}


def _note(age, sex, symptom, history, rng):
    """A clinical note of at most 20 words, in one of three phrasings."""
    cancer = ("bowel", "kidney", "thyroid")[int(rng.integers(3))]
    said = _SYMPTOM_PHRASES[symptom][int(rng.integers(2))]
    past = [p.format(cancer=cancer) for p in _HISTORY_PHRASES[history]]
    form = int(rng.integers(3))
    if form == 0:
        return f"{age}-year-old {sex}{past[0]} with {said}."
    if form == 1:
        return f"{age}-year-old {sex} with {said}; {past[1]}."
    return f"{sex.capitalize()} aged {age}: {said}. {past[2]}"


def _split(n, image_size, rng):
    lesions = rng.choice(len(LESIONS), n, p=_LESION_ODDS)
    symptoms = rng.choice(len(SYMPTOMS), n, p=_SYMPTOM_ODDS)
    histories = rng.choice(len(HISTORY), n, p=_HISTORY_ODDS)
    out = {
        "images": np.empty((n, image_size, image_size, 3), "uint8"),
        "text": [],
        "labels": np.zeros((n, len(FINDINGS)), "int32"),
        "reports": [],
        "lesions": [LESIONS[i] for i in lesions],
        "sides": [],
        "zones": [],
        "symptoms": [SYMPTOMS[i] for i in symptoms],
        "histories": [HISTORY[i] for i in histories],
        "sexes": [],
        "ages": rng.integers(25, 86, n).astype("int32"),
    }
    for i in range(n):
        lesion = out["lesions"][i]
        side, zone = "", ""
        if lesion != "none":
            side = SIDES[int(rng.integers(2))]
            zone = ZONES[int(rng.integers(2))]
        sex = ("man", "woman")[int(rng.integers(2))]
        symptom, history = out["symptoms"][i], out["histories"][i]
        out["images"][i] = _scan(lesion, side, zone, image_size, rng)
        out["text"].append(
            _note(int(out["ages"][i]), sex, symptom, history, rng)
        )
        for found in findings(lesion, symptom, history):
            out["labels"][i, FINDINGS.index(found)] = 1
        report = _REPORT.get(lesion, "no focal lesion is seen")
        out["reports"].append(report.format(zone=zone, side=side))
        out["sides"].append(side)
        out["zones"].append(zone)
        out["sexes"].append(sex)
    return out


# Where the lungs are, as fractions of the image: the patient's right lung
# is on the left of the image. Half-widths and heights of the lungs.
_LUNG_X = {"right": 0.29, "left": 0.71}
_LUNG_Y, _LUNG_WIDTH, _LUNG_HEIGHT = 0.5, 0.13, 0.27
_ZONE_Y = {"upper": (0.33, 0.43), "lower": (0.57, 0.66)}


def _lesion_centre(side, zone, size, rng):
    """A random centre `(x, y)` in pixels for a lesion in `side`, `zone`."""
    x = _LUNG_X[side] + rng.uniform(-0.03, 0.03)
    return x * size, rng.uniform(*_ZONE_Y[zone]) * size


def _smooth_noise(rng, size, cells):
    """Noise of unit spread, smooth over `size / cells` pixels."""
    coarse = rng.normal(0.0, 1.0, (cells, cells)).astype("float32")
    return np.asarray(
        Image.fromarray(coarse).resize((size, size), Image.BILINEAR)
    )


def _ellipse(draw, size, x, y, half_width, half_height, fill):
    box = (x - half_width, y - half_height, x + half_width, y + half_height)
    draw.ellipse([v * size for v in box], fill=fill)


def _scan(lesion, side, zone, size, rng):
    """One grey chest scan: uint8 `(size, size, 3)`."""
    image = Image.new("L", (size, size), int(rng.integers(5, 20)))
    draw = ImageDraw.Draw(image)
    body = rng.uniform(0.44, 0.48), rng.uniform(0.4, 0.44)
    _ellipse(draw, size, 0.5, 0.54, *body, int(rng.integers(105, 135)))
    lung = int(rng.integers(30, 55))
    for x in _LUNG_X.values():
        _ellipse(draw, size, x, _LUNG_Y, _LUNG_WIDTH, _LUNG_HEIGHT, lung)
    spine = (0.46 * size, 0.15 * size, 0.54 * size, 0.95 * size)
    draw.rectangle(spine, fill=int(rng.integers(160, 190)))
    _ellipse(draw, size, 0.53, 0.67, 0.09, 0.08, int(rng.integers(140, 170)))
    pixels = np.asarray(image, dtype="float32")
    pixels += 8.0 * _smooth_noise(rng, size, 6)
    if lesion != "none":
        pixels += _lesion(
            lesion, *_lesion_centre(side, zone, size, rng), size, rng
        )
    gain = rng.uniform(0.85, 1.15)
    pixels = (pixels - 90.0) * gain + 90.0 + rng.uniform(-10, 10)
    pixels += rng.normal(0.0, 3.0, pixels.shape)
    grey = np.clip(pixels, 0, 255).astype("uint8")
    return np.repeat(grey[:, :, None], 3, axis=2)


def _lesion(lesion, x, y, size, rng):
    """The brightness a lesion centred at pixel `(x, y)` adds: float32."""
    grid = np.arange(size, dtype="float32") + 0.5
    dx, dy = grid[None, :] - x, grid[:, None] - y
    if lesion == "nodule":
        # A smooth round disc with a soft edge.
        radius = rng.uniform(0.04, 0.06) * size
        distance = np.sqrt(dx * dx + dy * dy)
        edge = np.clip((radius - distance) / 0.8 + 0.5, 0.0, 1.0)
        return rng.uniform(120, 160) * edge
    if lesion == "mass":
        # A polygon whose corners alternate between spikes and notches.
        radius = rng.uniform(0.09, 0.12) * size
        corners = int(rng.integers(10, 16))
        angles = rng.uniform(0, 2 * np.pi / corners, corners)
        angles += np.arange(corners) * 2 * np.pi / corners
        reach = np.where(
            np.arange(corners) % 2 == 0,
            rng.uniform(0.95, 1.3, corners),
            rng.uniform(0.5, 0.75, corners),
        )
        points = [
            (x + radius * r * np.cos(a), y + radius * r * np.sin(a))
            for a, r in zip(angles, reach)
        ]
        layer = Image.new("L", (size, size), 0)
        ImageDraw.Draw(layer).polygon(points, fill=255)
        mask = np.asarray(layer, dtype="float32") / 255.0
        return rng.uniform(110, 150) * mask
    # A consolidation: a large soft region of patchy, dimmer opacity.
    width = rng.uniform(0.09, 0.12) * size
    height = rng.uniform(0.12, 0.16) * size
    inside = 1.0 - (dx / width) ** 2 - (dy / height) ** 2
    region = np.clip(inside * 3.0, 0.0, 1.0)
    patches = np.clip(0.6 + 0.5 * _smooth_noise(rng, size, 12), 0.2, 1.0)
    return rng.uniform(55, 80) * region * patches
