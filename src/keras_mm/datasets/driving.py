"""Road scenes with the sound of the street: what should the driver do?"""

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

ACTIONS = ("go", "slow down", "stop", "pull over")
LIGHTS = ("green", "amber", "red")
SOUNDS = (
    "quiet",
    "engine",
    "horn",
    "siren approaching",
    "siren receding",
    "crossing bell",
)
WEATHER = ("clear", "rain", "fog")
TIMES_OF_DAY = ("day", "dusk", "night")
MAX_SECONDS = 2.0
MIN_NUM_SAMPLES = 30
MAX_NUM_SAMPLES = 200_000
MIN_IMAGE_SIZE = 32
# How often each light and each sound is drawn.
_LIGHT_ODDS = (0.4, 0.3, 0.3)
_SOUND_ODDS = (0.15, 0.15, 0.1, 0.3, 0.15, 0.15)
_SKY = {"day": (135, 190, 235), "dusk": (235, 150, 90), "night": (20, 25, 60)}
_LAMP = {"red": (255, 40, 30), "amber": (255, 170, 20), "green": (40, 235, 80)}
_DESIGN = repr((ACTIONS, LIGHTS, SOUNDS, _LIGHT_ODDS, _SOUND_ODDS, 1))


def action(light, sound):
    """The driver's action for a traffic `light` and a `sound`.

    A crossing bell means a train: stop. An approaching siren means make
    way (pull over), unless the light is red (stop). Otherwise the light
    decides: green go, amber slow down, red stop. A horn, an engine or a
    siren moving away change nothing.

    Examples:
    >>> keras_mm.datasets.driving.action("green", "siren approaching")
    'pull over'
    >>> keras_mm.datasets.driving.action("green", "siren receding")
    'go'
    """
    if sound == "crossing bell" or light == "red":
        return "stop"
    if sound == "siren approaching":
        return "pull over"
    return "go" if light == "green" else "slow down"


def driving(num_samples=3000, image_size=64, seed=0, cache_dir=None):
    """Generates the built-in driving dataset: a road scene, its sound, and
    the action a driver should take, locally and from a seed.

    Each example pairs a rendered road scene with 2 seconds of street
    sound at 16 kHz. The scene shows a road with lane markings, a traffic
    light (`LIGHTS`: green, amber or red) on the left or right, 0-2
    vehicles and 0-2 pedestrians at random places, in `WEATHER` (clear,
    rain, fog) and at a time of day (`TIMES_OF_DAY`). The sound is one of
    `SOUNDS` over road noise: quiet, an engine, a horn, a siren coming
    closer (louder, and higher by the Doppler shift) or moving away
    (fainter, lower), or a level-crossing bell, at a random loudness.

    The label is the action of `ACTIONS` that `action(light, sound)`
    gives: neither input decides it alone. The light says go, slow down or
    stop, but a siren coming closer means pull over, and a crossing bell
    means stop whatever the light; a siren moving away means nothing. With
    the dataset's odds, the best a model can do from the image alone is
    about 0.69, from the sound alone about 0.58, and from both 1.0. The
    vehicles, pedestrians, weather and time of day do not change the
    label.

    `num_samples` is the total across the splits: 70% train, 10%
    validation and the rest test, each drawn from its own stream of the
    seed. The same arguments give identical arrays and strings. The result
    is cached in an `.npz` file in `cache_dir`, else
    `$KERAS_MM_CACHE/driving`, else `~/.cache/keras_mm/driving`.

    Args:
        num_samples: int. Examples over all splits, 30 to 200000 (each
            holds 128 kB of audio). Defaults to `3000`.
        image_size: int. Height and width of the images, 32 to 512.
            Defaults to `64`.
        seed: int. Non-negative seed. Defaults to `0`.
        cache_dir: str, path-like or `None`. Directory of the cache file.

    Returns:
        A dict with keys `"train"`, `"validation"` and `"test"`, each a
        dict of:
        - `"images"`: uint8 `(n, image_size, image_size, 3)`.
        - `"audio"`: list of `n` float32 waveforms of 32000 samples.
        - `"captions"`: list of `n` str, a narration such as "an
          ambulance approaches, the light is green: pull over" (it names
          the action: a target for a captioner, never an input of the
          classifier).
        - `"labels"`: int32 `(n,)`, indices into `ACTIONS`.
        - `"lights"`, `"sounds"`, `"weather"`, `"times_of_day"`: lists of
          `n` str.
        - `"sample_rate"`: 16000.
        and `"class_names"` (`ACTIONS`), `"max_duration"` (2.0) and
        `"sample_rate"` (16000).

    Raises:
        ValueError: if an argument is not an integer in range.

    Examples:
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as cache:
    ...     data = keras_mm.datasets.driving(num_samples=30, image_size=32,
    ...                                      cache_dir=cache)
    >>> data["train"]["images"].shape, len(data["train"]["audio"][0])
    ((21, 32, 32, 3), 32000)
    >>> data["class_names"]
    ('go', 'slow down', 'stop', 'pull over')
    """
    if isinstance(seed, np.integer):
        seed = int(seed)
    check_num_samples(
        num_samples,
        MIN_NUM_SAMPLES,
        MAX_NUM_SAMPLES,
        "each example holds 128 kB of audio, so that many already take "
        "about 26 GB in memory",
    )
    check_image_size(image_size, MIN_IMAGE_SIZE)
    check_integers(minimum=0, seed=seed)
    check_cache_dir(cache_dir)
    sample_rate = 16000
    name = f"driving-n{num_samples}-{image_size}px-seed{seed}"
    path = cache_file(cache_dir, "driving", name, _DESIGN)

    def build():
        sizes = split_sizes(num_samples)
        return {
            split: _split(
                sizes[split],
                image_size,
                sample_rate,
                np.random.default_rng([seed, index]),
            )
            for index, split in enumerate(SPLITS)
        }

    keys = ("images", "audio", "captions", "labels", "lights", "sounds")
    keys += ("weather", "times_of_day")
    data = cached(path, keys, sample_rate, build)
    data.update(
        class_names=ACTIONS,
        max_duration=MAX_SECONDS,
        sample_rate=sample_rate,
    )
    return data


driving.ACTIONS = ACTIONS
driving.LIGHTS = LIGHTS
driving.SOUNDS = SOUNDS
driving.WEATHER = WEATHER
driving.TIMES_OF_DAY = TIMES_OF_DAY
driving.MAX_SECONDS = MAX_SECONDS
driving.SPLITS = SPLITS
driving.action = action

_NARRATION = {
    "quiet": "the street is quiet",
    "engine": "an engine hums nearby",
    "horn": "a horn sounds",
    "siren approaching": "an ambulance approaches",
    "siren receding": "an ambulance moves away",
    "crossing bell": "a crossing bell rings",
}


def _split(n, image_size, sample_rate, rng):
    lights = rng.choice(len(LIGHTS), n, p=_LIGHT_ODDS)
    sounds = rng.choice(len(SOUNDS), n, p=_SOUND_ODDS)
    out = {
        "images": np.empty((n, image_size, image_size, 3), "uint8"),
        "audio": [],
        "captions": [],
        "labels": np.empty((n,), "int32"),
        "lights": [LIGHTS[i] for i in lights],
        "sounds": [SOUNDS[i] for i in sounds],
        "weather": [],
        "times_of_day": [],
    }
    for i in range(n):
        light, sound = out["lights"][i], out["sounds"][i]
        weather = WEATHER[int(rng.integers(len(WEATHER)))]
        time_of_day = TIMES_OF_DAY[int(rng.integers(len(TIMES_OF_DAY)))]
        out["images"][i] = _draw(light, weather, time_of_day, image_size, rng)
        out["audio"].append(_sound(sound, sample_rate, rng))
        todo = action(light, sound)
        out["labels"][i] = ACTIONS.index(todo)
        out["captions"].append(
            f"{_NARRATION[sound]}, the light is {light}: {todo}"
        )
        out["weather"].append(weather)
        out["times_of_day"].append(time_of_day)
    out["sample_rate"] = sample_rate
    return out


def _jitter(rng, rgb, spread=20):
    return tuple(
        int(v)
        for v in np.clip(
            np.array(rgb) + rng.integers(-spread, spread + 1, 3), 0, 255
        )
    )


def _draw(light, weather, time_of_day, size, rng):
    """One road scene: uint8 `(size, size, 3)`."""
    image = Image.new("RGB", (size, size), _jitter(rng, _SKY[time_of_day]))
    draw = ImageDraw.Draw(image)
    horizon = int(size * rng.uniform(0.35, 0.45))
    ground = (60, 110, 50) if time_of_day != "night" else (20, 40, 20)
    draw.rectangle((0, horizon, size, size), fill=_jitter(rng, ground))
    # The road narrows to a vanishing point on the horizon.
    centre = size * rng.uniform(0.4, 0.6)
    road = (90, 90, 95) if time_of_day != "night" else (40, 40, 45)
    draw.polygon(
        [(centre - 2, horizon), (centre + 2, horizon), (size * 0.95, size),
         (size * 0.05, size)],
        fill=_jitter(rng, road, 10),
    )  # fmt: skip
    for k in range(4):
        top = horizon + (size - horizon) * k / 4
        bottom = top + (size - horizon) / 8
        draw.line((centre, top, centre, bottom), fill=(230, 230, 230), width=1)
    for _ in range(int(rng.integers(3))):
        _vehicle(draw, rng, size, horizon)
    for _ in range(int(rng.integers(3))):
        _pedestrian(draw, rng, size, horizon)
    _traffic_light(draw, rng, size, horizon, light)
    pixels = np.asarray(image, dtype="float32")
    if weather == "fog":
        pixels = pixels + rng.uniform(0.3, 0.5) * (200.0 - pixels)
    elif weather == "rain":
        streaks = rng.random((size, size)) < 0.04
        pixels[streaks] = 0.5 * pixels[streaks] + 0.5 * 210.0
    pixels += rng.normal(0.0, 4.0, pixels.shape)
    return np.clip(pixels, 0, 255).astype("uint8")


def _vehicle(draw, rng, size, horizon):
    w = size * rng.uniform(0.12, 0.22)
    h = w * 0.6
    x = rng.uniform(0.1 * size, 0.9 * size - w)
    y = rng.uniform(horizon + 0.1 * size, size - h)
    body = _jitter(rng, ((200, 40, 40), (40, 60, 200), (220, 220, 220),
                         (30, 30, 30))[int(rng.integers(4))])  # fmt: skip
    draw.rectangle((x, y, x + w, y + h), fill=body)
    draw.rectangle(
        (x + 0.2 * w, y + 0.1 * h, x + 0.8 * w, y + 0.45 * h),
        fill=(150, 190, 220),
    )


def _pedestrian(draw, rng, size, horizon):
    h = size * rng.uniform(0.12, 0.18)
    x = rng.uniform(0.05 * size, 0.95 * size)
    y = rng.uniform(horizon, size - h)
    colour = _jitter(rng, (180, 120, 60), 60)
    draw.ellipse(
        (x - h * 0.1, y, x + h * 0.1, y + h * 0.2), fill=(230, 190, 160)
    )
    draw.rectangle((x - h * 0.1, y + h * 0.2, x + h * 0.1, y + h), fill=colour)


def _traffic_light(draw, rng, size, horizon, light):
    """A pole and a box of three lamps, the `light` one lit."""
    left = rng.random() < 0.5
    width = size * 0.12
    x = size * (rng.uniform(0.04, 0.12) if left else rng.uniform(0.76, 0.84))
    top = size * rng.uniform(0.05, 0.15)
    height = width * 2.6
    draw.rectangle(
        (x + width * 0.4, top + height, x + width * 0.6, horizon + size * 0.2),
        fill=(50, 50, 50),
    )
    draw.rectangle((x, top, x + width, top + height), fill=(25, 25, 25))
    for k, name in enumerate(("red", "amber", "green")):
        cy = top + height * (k + 0.5) / 3
        r = width * 0.32
        lit = name == light
        colour = _LAMP[name] if lit else tuple(v // 5 for v in _LAMP[name])
        draw.ellipse((x + width / 2 - r, cy - r, x + width / 2 + r, cy + r),
                     fill=colour)  # fmt: skip


def _sound(sound, sample_rate, rng):
    """Two seconds of road noise with `sound` over it: float32."""
    n = int(MAX_SECONDS * sample_rate)
    t = np.arange(n) / sample_rate
    # Road noise: white noise, low-passed by a running mean.
    noise = rng.normal(0.0, 1.0, n + 31)
    noise = np.convolve(noise, np.ones(32) / 32, mode="valid")[:n]
    clip = noise * rng.uniform(0.05, 0.15)
    level = rng.uniform(0.3, 0.8)
    if sound == "engine":
        f0 = rng.uniform(30, 60)
        hum = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        clip += level * 0.5 * hum * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    elif sound == "horn":
        start = rng.uniform(0.1, 0.8)
        length = rng.uniform(0.3, 0.9)
        on = (t > start) & (t < start + length)
        f = rng.uniform(350, 450)
        tone = np.sign(np.sin(2 * np.pi * f * t)) + np.sign(
            np.sin(2 * np.pi * f * 1.25 * t)
        )
        clip += level * 0.4 * tone * on
    elif sound.startswith("siren"):
        # A wail between `low` and `high` Hz; coming closer it grows louder
        # and is heard higher (Doppler), moving away the reverse.
        approaching = sound == "siren approaching"
        low, high = rng.uniform(550, 700), rng.uniform(1100, 1400)
        rate = rng.uniform(0.3, 0.6)
        doppler = rng.uniform(1.03, 1.08)
        doppler = doppler if approaching else 1 / doppler
        sweep = low + (high - low) * 0.5 * (1 - np.cos(2 * np.pi * rate * t))
        phase = 2 * np.pi * np.cumsum(sweep * doppler) / sample_rate
        ramp = (
            np.linspace(0.1, 1.0, n)
            if approaching
            else np.linspace(1.0, 0.1, n)
        )
        clip += level * ramp * np.sin(phase)
    elif sound == "crossing bell":
        f = rng.uniform(900, 1300)
        period = rng.uniform(0.4, 0.6)
        since = np.mod(t - rng.uniform(0, period), period)
        ring = np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2.7 * f * t)
        clip += level * 0.7 * ring * np.exp(-since * 12)
    peak = np.max(np.abs(clip))
    return (clip * rng.uniform(0.3, 0.9) / peak).astype("float32")
