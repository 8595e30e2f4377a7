"""Draws the scenes of `keras_mm.datasets.scenes`: backgrounds, shapes and
words in Pillow's built-in font, with NumPy masks."""

import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

# A scene's groups sit in three horizontal or three vertical bands.
ROWS = ("top", "middle", "bottom")
COLUMNS = ("left", "middle", "right")
_RGB = {
    "red": (220, 40, 40),
    "green": (40, 180, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 215, 40),
    "purple": (160, 60, 210),
    "cyan": (40, 210, 215),
}


def _background(kind, size, rng, grid):
    shade = float(rng.integers(25, 70))
    if kind == "plain":
        gray = np.full((size, size), shade, "float32")
    elif kind == "noisy":
        gray = shade + 12.0 * rng.standard_normal((size, size))
    else:
        period = max(4.0, size * float(rng.uniform(0.08, 0.16)))
        rows = (grid[:, None] // (period / 2)).astype("int32")
        cols = (grid[None, :] // (period / 2)).astype("int32")
        if kind == "striped":
            direction = int(rng.integers(3))
            pattern = (rows, cols, rows + cols)[direction] % 2
            pattern = np.broadcast_to(pattern, (size, size))
        else:
            pattern = (rows + cols) % 2
        gray = shade + 28.0 * pattern
    gray = np.clip(gray, 0, 255).astype("uint8")
    return np.repeat(gray[:, :, None], 3, axis=2)


def _shape_mask(shape, cy, cx, r, grid):
    dy = grid[:, None] - cy
    dx = grid[None, :] - cx
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        side = 0.85 * r
        return (np.abs(dx) <= side) & (np.abs(dy) <= side)
    if shape == "triangle":
        return (dy >= -r) & (dy <= 0.75 * r) & (np.abs(dx) <= 0.58 * (dy + r))
    arm = 0.35 * r
    ax, ay = np.abs(dx), np.abs(dy)
    return ((ax <= r) & (ay <= arm)) | ((ay <= r) & (ax <= arm))


_WORD_MASKS = {}
# Pixels between stacked letters.
_LETTER_GAP = 2


def _text_mask(text):
    """The bitmap of `text` in Pillow's built-in font, cropped to its ink."""
    font = (
        ImageFont.load_default_imagefont()
        if hasattr(ImageFont, "load_default_imagefont")
        else ImageFont.load_default()
    )
    left, top, right, bottom = font.getbbox(text)
    image = Image.new("L", (right - left, bottom - top), 0)
    ImageDraw.Draw(image).text((-left, -top), text, fill=255, font=font)
    mask = np.asarray(image) > 127
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _word_mask(word, vertical=False):
    """The word's bitmap, its letters side by side or stacked downwards."""
    if (word, vertical) not in _WORD_MASKS:
        if not vertical:
            mask = _text_mask(word)
        else:
            letters = [_text_mask(letter) for letter in word]
            width = max(letter.shape[1] for letter in letters)
            rows = []
            for letter in letters:
                pad = width - letter.shape[1]
                rows.append(
                    np.pad(
                        letter, ((0, _LETTER_GAP), (pad // 2, pad - pad // 2))
                    )
                )
            mask = np.concatenate(rows)[:-_LETTER_GAP]
        _WORD_MASKS[word, vertical] = mask
    return _WORD_MASKS[word, vertical]


def _band_box(band, vertical_bands, size):
    """Returns (top, left, height, width) of band `band` of 3."""
    lo = int(round(band * size / 3))
    hi = int(round((band + 1) * size / 3))
    if vertical_bands:
        return 0, lo, size, hi - lo
    return lo, 0, hi - lo, size


def draw_scene(scene, size, rng, grid):
    """Draws `scene` (its background, groups of shapes and word) into a
    uint8 image `(size, size, 3)`; records each object's centre in
    `scene["objects"]`. `grid` is `np.arange(size)`."""
    image = _background(scene["background"], size, rng, grid)
    slot = size / 3.0
    columns = scene["bands"] == COLUMNS
    objects = []
    for g in scene["groups"]:
        slots = np.sort(rng.permutation(3)[: g["count"]])
        radius = slot * (0.22 if g["size"] == "small" else 0.38)
        for s in slots:
            along = (s + 0.5) * slot + rng.uniform(-0.07, 0.07) * slot
            across = (g["band"] + 0.5) * slot + rng.uniform(-0.07, 0.07) * slot
            cy, cx = (along, across) if columns else (across, along)
            r = radius * float(rng.uniform(0.93, 1.07))
            rgb = np.clip(
                np.array(_RGB[g["colour"]]) + rng.integers(-12, 13, 3), 0, 255
            )
            image[_shape_mask(g["shape"], cy, cx, r, grid)] = rgb
            objects.append(
                {
                    "shape": g["shape"],
                    "colour": g["colour"],
                    "size": g["size"],
                    "position": g["position"],
                    "center": (int(cy), int(cx)),
                }
            )
    scene["objects"] = objects
    if scene["word"]:
        # A word in a column is written downwards, so that it keeps its
        # letters legible (at 48 pixels a column is 16 wide).
        mask = _word_mask(scene["word"], vertical=columns)
        top, left, height, width = _band_box(scene["word_band"], columns, size)
        scale = min(0.9 * width / mask.shape[1], 0.6 * height / mask.shape[0])
        scale = min(scale, 2.0)
        h = max(1, int(mask.shape[0] * scale))
        w = max(1, int(mask.shape[1] * scale))
        rows = (np.arange(h) * mask.shape[0] // h)[:, None]
        cols = (np.arange(w) * mask.shape[1] // w)[None, :]
        scaled = mask[rows, cols]
        y0 = top + int(rng.integers(0, height - h + 1))
        x0 = left + int(rng.integers(0, width - w + 1))
        region = image[y0 : y0 + h, x0 : x0 + w]
        region[scaled] = (245, 245, 245)
    return image
