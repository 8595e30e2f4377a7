"""Fresh scene statements: the builders' defaults on data built apart from
`keras_mm.datasets`.

Each image shows a few coloured shapes; each comes with a short statement
about which colour goes with which shape ("the circle is red"), labelled
true (1) or false (0). Both the shape and the colour a statement names are
in the image either way: a false statement gives its shape the colour of
another object. So neither input alone tells the label: in a split of
even size every statement appears in an even number of images, true in
exactly half of them, and over the dataset the images of true and false
statements have the same distribution. Only binding the statement's
colour to its shape in the image does.

The drawing code here is independent of `keras_mm.datasets` (NumPy and
Pillow only), so that its data were never seen while the library's
recipes were tuned. Variants, by name:

- `base`: 64 px, 4 colours x 4 shapes, 2 objects.
- `new_vocab`: 64 px, other colours, shapes and statement templates.
- `size_96`: `base` at 96 px.
- `distractor`: `base` with a third object, of a third shape and a third
  colour, that no statement mentions.
- `mixed_negatives`: `base` where only a third of the false statements
  swap colours; in another third the statement's colour is on no object,
  and in the last third its shape is not drawn. Closer to a task where
  statements are "mostly" about binding: the colours and shapes present
  carry part of the answer, binding the rest.
- `holdout`: new vocabulary and a distractor at 80 px. Kept out of
  development: generated only with `--final`.

The benchmark trains `keras_mm.build_classifier` with its default
arguments (cross-attention fusion of `cnn_small` and `transformer_small`),
and the image-only and text-only baselines (default fusion), each for a
budget of process CPU seconds, and reports held-out accuracy, next to the
last epoch's training accuracy (to tell underfitting from memorising).
Chance is 0.5. The budget counts the CPU time of all the process's
threads, compiling the first step included; a busy machine stretches its
wall time, and contention still makes each CPU second buy somewhat less.
By default the learning rate follows the builder's own schedule: a
warm-up over 200 steps, then a cosine decay spanning `--max-epochs`, which
the budget stops long before (in effect, the warm-up, then the peak).
`--lr-schedule warmup_cosine` is a benchmark-only candidate that instead
sets it from the share of the budget used, so that it reaches zero when
the budget is spent.

    KERAS_BACKEND=jax .venv/bin/python -m benchmarks.fresh_scenes \
        --variants base,distractor --seeds 0 --budget-seconds 240
"""

import argparse
import json
import platform
import time
import zlib

import keras
import numpy as np
from PIL import Image
from PIL import ImageDraw

import keras_mm

RGB = {
    "red": (215, 45, 45),
    "green": (45, 175, 65),
    "blue": (55, 95, 235),
    "yellow": (230, 210, 45),
    "orange": (240, 140, 25),
    "purple": (150, 65, 215),
    "cyan": (45, 210, 210),
    "pink": (245, 130, 195),
}
BASE_SHAPES = ("circle", "square", "triangle", "cross")
NEW_SHAPES = ("star", "diamond", "ring", "bar")
BASE_TEMPLATES = (
    "the {shape} is {colour}",
    "there is a {colour} {shape}",
    "the {colour} object is a {shape}",
)
NEW_TEMPLATES = (
    "a {shape} coloured {colour} is shown",
    "the {shape} has {colour} paint",
    "one {colour} {shape} appears here",
)
VARIANTS = {
    "base": {
        "image_size": 64,
        "colours": ("red", "green", "blue", "yellow"),
        "shapes": BASE_SHAPES,
        "templates": BASE_TEMPLATES,
        "distractor": False,
    },
    "mixed_negatives": {
        "image_size": 64,
        "colours": ("red", "green", "blue", "yellow"),
        "shapes": BASE_SHAPES,
        "templates": BASE_TEMPLATES,
        "distractor": False,
        "negatives": ("swap", "absent_colour", "absent_shape"),
    },
    "new_vocab": {
        "image_size": 64,
        "colours": ("orange", "purple", "cyan", "pink"),
        "shapes": NEW_SHAPES,
        "templates": NEW_TEMPLATES,
        "distractor": False,
    },
    "size_96": {
        "image_size": 96,
        "colours": ("red", "green", "blue", "yellow"),
        "shapes": BASE_SHAPES,
        "templates": BASE_TEMPLATES,
        "distractor": False,
    },
    "distractor": {
        "image_size": 64,
        "colours": ("red", "green", "blue", "yellow"),
        "shapes": BASE_SHAPES,
        "templates": BASE_TEMPLATES,
        "distractor": True,
    },
    "holdout": {
        "image_size": 80,
        "colours": ("orange", "purple", "cyan", "pink"),
        "shapes": NEW_SHAPES,
        "templates": NEW_TEMPLATES,
        "distractor": True,
    },
}
# Variants that development may look at; `holdout` needs `final=True`.
DEVELOPMENT_VARIANTS = (
    "base",
    "mixed_negatives",
    "new_vocab",
    "size_96",
    "distractor",
)
SPLITS = ("train", "test")


def _polygon(shape, cx, cy, r):
    """The vertices of `shape` centred at (cx, cy) with radius `r`."""
    if shape == "triangle":
        angles = np.pi / 2 + 2 * np.pi * np.arange(3) / 3
        return [(cx + r * np.cos(a), cy - r * np.sin(a)) for a in angles]
    if shape == "diamond":
        return [
            (cx, cy - r),
            (cx + 0.7 * r, cy),
            (cx, cy + r),
            (cx - 0.7 * r, cy),
        ]
    if shape == "star":
        points = []
        for k in range(10):
            radius = r if k % 2 == 0 else 0.45 * r
            a = np.pi / 2 + np.pi * k / 5
            points.append((cx + radius * np.cos(a), cy - radius * np.sin(a)))
        return points
    if shape == "cross":
        arm = 0.33 * r
        return [
            (cx - arm, cy - r), (cx + arm, cy - r), (cx + arm, cy - arm),
            (cx + r, cy - arm), (cx + r, cy + arm), (cx + arm, cy + arm),
            (cx + arm, cy + r), (cx - arm, cy + r), (cx - arm, cy + arm),
            (cx - r, cy + arm), (cx - r, cy - arm), (cx - arm, cy - arm),
        ]  # fmt: skip
    raise ValueError(f"Unknown polygon shape: {shape}")


def _draw_object(draw, shape, cx, cy, r, rgb, background):
    box = (cx - r, cy - r, cx + r, cy + r)
    if shape == "circle":
        draw.ellipse(box, fill=rgb)
    elif shape == "square":
        side = 0.8 * r
        draw.rectangle((cx - side, cy - side, cx + side, cy + side), fill=rgb)
    elif shape == "ring":
        draw.ellipse(box, fill=rgb)
        inner = 0.5 * r
        draw.ellipse(
            (cx - inner, cy - inner, cx + inner, cy + inner), fill=background
        )
    elif shape == "bar":
        draw.rectangle((cx - r, cy - 0.35 * r, cx + r, cy + 0.35 * r), fill=rgb)
    else:
        draw.polygon(_polygon(shape, cx, cy, r), fill=rgb)


def _place(rng, count, size, radius):
    """`count` centres inside the image, at least 2.1 radii apart."""
    margin = radius * 1.1
    while True:
        centres = rng.uniform(margin, size - margin, (count, 2))
        gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
        if count < 2 or gaps[np.triu_indices(count, 1)].min() > 2.1 * radius:
            return centres


def draw_scene(objects, size, rng):
    """Draws `objects` (a list of (shape, colour)) on a noisy dark
    background at random, non-overlapping places: uint8 `(size, size, 3)`."""
    shade = int(rng.integers(20, 80))
    background = (shade, shade, shade)
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    radius = size * 0.13
    centres = _place(rng, len(objects), size, radius * 1.1)
    for (shape, colour), (cx, cy) in zip(objects, centres):
        rgb = tuple(
            int(v)
            for v in np.clip(
                np.array(RGB[colour]) + rng.integers(-15, 16, 3), 0, 255
            )
        )
        r = radius * float(rng.uniform(0.85, 1.1))
        _draw_object(draw, shape, float(cx), float(cy), r, rgb, background)
    pixels = np.asarray(image, dtype="float32")
    pixels += rng.normal(0.0, 6.0, pixels.shape)
    return np.clip(pixels, 0, 255).astype("uint8")


def _pick(rng, options, exclude=()):
    options = [o for o in options if o not in exclude]
    return options[int(rng.integers(len(options)))]


def _generate_split(config, n, rng):
    colours, shapes = config["colours"], config["shapes"]
    size = config["image_size"]
    n_pairs = (n + 1) // 2
    examples = []
    for _ in range(n_pairs):
        shape = _pick(rng, shapes)
        colour = _pick(rng, colours)
        template = int(rng.integers(len(config["templates"])))
        statement = config["templates"][template].format(
            shape=shape, colour=colour
        )
        other_shape = _pick(rng, shapes, (shape,))
        # True: the shape has the colour. False ("swap"): the shape has
        # another colour, and the statement's colour is on another shape.
        other_colour = _pick(rng, colours, (colour,))
        true_objects = [(shape, colour), (other_shape, other_colour)]
        false_objects = [(shape, other_colour), (other_shape, colour)]
        # Drawn only where a variant mixes them, so that the other
        # variants' data stay as they were.
        negative = (
            _pick(rng, config["negatives"]) if "negatives" in config else "swap"
        )
        if negative == "absent_colour":
            third = _pick(rng, colours, (colour, other_colour))
            false_objects = [(shape, third), (other_shape, other_colour)]
        elif negative == "absent_shape":
            third = _pick(rng, shapes, (shape, other_shape))
            false_objects = [(third, colour), (other_shape, other_colour)]
        for label, objects in ((1, true_objects), (0, false_objects)):
            objects = list(objects)
            if config["distractor"]:
                used_shapes = {s for s, _ in objects}
                used_colours = {c for _, c in objects}
                objects.append(
                    (
                        _pick(rng, shapes, used_shapes),
                        _pick(rng, colours, used_colours),
                    )
                )
            objects = [objects[k] for k in rng.permutation(len(objects))]
            examples.append((objects, statement, template, label))
    order = rng.permutation(len(examples))[:n]
    out = {
        "images": np.empty((n, size, size, 3), "uint8"),
        "statements": [],
        "labels": np.empty((n,), "int32"),
        "templates": np.empty((n,), "int32"),
        "objects": [],
    }
    for i, k in enumerate(order):
        objects, statement, template, label = examples[k]
        out["images"][i] = draw_scene(objects, size, rng)
        out["statements"].append(statement)
        out["labels"][i] = label
        out["templates"][i] = template
        out["objects"].append(objects)
    return out


def generate(variant, seed=0, train_size=4000, test_size=1000, final=False):
    """Generates a variant's train and test splits from `seed`.

    Each split is a dict of `"images"` (uint8 `(n, s, s, 3)`),
    `"statements"` (list of str), `"labels"` (int32, 1 true, 0 false),
    `"templates"` (int32, the template index) and `"objects"` (list of
    `(shape, colour)` per image). The two splits come from separate
    streams of the seed, and the same arguments give the same data.
    `holdout` raises unless `final=True`.
    """
    if variant not in VARIANTS:
        raise ValueError(
            f"Unknown variant {variant!r}; expected one of {list(VARIANTS)}"
        )
    if variant not in DEVELOPMENT_VARIANTS and not final:
        raise ValueError(
            f"The {variant!r} variant is kept out of development: "
            "generate it only for the final check (`final=True`, `--final`)."
        )
    config = VARIANTS[variant]
    sizes = {"train": train_size, "test": test_size}
    key = zlib.crc32(variant.encode())
    return {
        split: _generate_split(
            config,
            sizes[split],
            np.random.default_rng([seed, key, index]),
        )
        for index, split in enumerate(SPLITS)
    }


class CpuBudget(keras.callbacks.Callback):
    """Stops `fit` once the process has used `seconds` of CPU time (all its
    threads), checked after every batch."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds = seconds
        self.steps = 0
        self.epochs = 0
        self.used = 0.0
        self.wall = 0.0
        self.logs = {}

    def on_train_begin(self, logs=None):
        self.start = time.process_time()
        self.wall_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if time.process_time() - self.start >= self.seconds:
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        # The last epoch's training metrics (a partial epoch's when the
        # budget stopped it), to tell underfitting from overfitting.
        self.logs = {k: float(v) for k, v in (logs or {}).items()}

    def on_train_end(self, logs=None):
        self.used = time.process_time() - self.start
        self.wall = time.perf_counter() - self.wall_start


class WarmupCosine(keras.callbacks.Callback):
    """Sets the learning rate from the share of the CPU budget used: a
    linear warm-up over the first `warmup` share, then a cosine decay to
    zero at the end of the budget. A benchmark-only candidate."""

    def __init__(self, budget, peak, warmup=0.05):
        super().__init__()
        self.budget = budget
        self.peak = peak
        self.warmup = warmup

    def rate(self, fraction):
        if fraction < self.warmup:
            return self.peak * max(fraction / self.warmup, 0.02)
        progress = min(1.0, (fraction - self.warmup) / (1 - self.warmup))
        return self.peak * 0.5 * (1 + np.cos(np.pi * progress))

    def on_train_begin(self, logs=None):
        self.start = time.process_time()

    def on_train_batch_begin(self, batch, logs=None):
        fraction = (time.process_time() - self.start) / self.budget
        self.model.optimizer.learning_rate.assign(self.rate(fraction))


def run_one(data, inputs, args):
    """Trains one model on `data["train"]` within the budget; returns its
    test accuracy, the steps, epochs, CPU and wall seconds it used."""
    keras.utils.set_random_seed(args.model_seed)
    size = data["train"]["images"].shape[1]
    encoders = {}
    if "images" in inputs:
        encoders["images"] = keras_mm.encoders.image(
            "cnn_small", image_shape=(size, size, 3)
        )
    if "text" in inputs:
        encoders["text"] = keras_mm.encoders.text(
            "transformer_small",
            vocabulary=keras_mm.encoders.text_vocabulary(
                data["train"]["statements"]
            ),
            sequence_length=16,
        )
    options = {"fusion": args.fusion} if len(inputs) == 2 else {}
    if args.lr_schedule == "warmup_cosine":
        # A constant rate, which the `WarmupCosine` callback sets.
        options.update(schedule=None, learning_rate=args.peak_learning_rate)
    # Default arguments, and the compile `build_classifier` does.
    model = keras_mm.build_classifier(encoders, num_classes=2, **options)

    def features(split):
        x = {"images": split["images"], "text": split["statements"]}
        return {k: v for k, v in x.items() if k in inputs}

    budget = CpuBudget(args.budget_seconds)
    callbacks = [budget]
    if args.lr_schedule == "warmup_cosine":
        callbacks.append(
            WarmupCosine(args.budget_seconds, peak=args.peak_learning_rate)
        )
    model.fit(
        features(data["train"]),
        data["train"]["labels"],
        epochs=args.max_epochs,
        batch_size=args.batch_size,
        callbacks=callbacks,
        verbose=0,
    )
    predicted = model.predict(features(data["test"]), verbose=0).argmax(-1)
    accuracy = float(np.mean(predicted == data["test"]["labels"]))
    return {
        "accuracy": accuracy,
        "train_loss": budget.logs.get("loss"),
        "train_accuracy": next(
            (v for k, v in budget.logs.items() if "accuracy" in k), None
        ),
        "steps": budget.steps,
        "epochs": budget.epochs,
        "cpu_seconds": round(budget.used, 1),
        "wall_seconds": round(budget.wall, 1),
    }


def summarize(results):
    """Markdown rows of test accuracy, mean ± std over seeds (population
    std), per variant and model, with each seed's figure and the mean of
    the last epochs' training accuracies."""
    lines = [
        "| variant | model | seeds | test accuracy, mean ± std | per seed "
        "| training accuracy, mean |",
        "|---|---|---|---|---|---|",
    ]
    groups = {}
    for result in results:
        key = (result["variant"], result["model"])
        groups.setdefault(key, []).append(result)
    for (variant, model), group in groups.items():
        accuracies = np.array([r["accuracy"] for r in group])
        training = [
            r["train_accuracy"]
            for r in group
            if r["train_accuracy"] is not None
        ]
        lines.append(
            f"| {variant} | {model} | "
            f"{', '.join(str(r['seed']) for r in group)} | "
            f"{accuracies.mean():.3f} ± {accuracies.std():.3f} | "
            f"{', '.join(f'{a:.3f}' for a in accuracies)} | "
            + (f"{np.mean(training):.3f} |" if training else "- |")
        )
    return lines


MODELS = {
    "cross_attention": ("images", "text"),
    "images only": ("images",),
    "text only": ("text",),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--variants",
        default="base",
        help=f"comma-separated, of {list(VARIANTS)}",
    )
    parser.add_argument("--seeds", default="0", help="comma-separated ints")
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=240,
        help="process CPU seconds of training per model",
    )
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument(
        "--models",
        default=",".join(MODELS),
        help=f"comma-separated, of {list(MODELS)}",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--fusion",
        default="cross_attention",
        help="the fused model's `fusion` argument of build_classifier",
    )
    parser.add_argument(
        "--max-epochs",
        type=int,
        default=1000,
        help="an upper bound; the budget usually stops training first",
    )
    parser.add_argument(
        "--lr-schedule",
        choices=("default", "warmup_cosine"),
        default="default",
        help="benchmark-only candidate: warm up, then cosine-decay the "
        "learning rate over the CPU budget",
    )
    parser.add_argument("--peak-learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--final",
        action="store_true",
        help="the final check: allows the holdout variant",
    )
    parser.add_argument("--json", default=None, help="write results here")
    args = parser.parse_args(argv)

    variants = [v for v in args.variants.split(",") if v]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    models = [m for m in args.models.split(",") if m]
    for model in models:
        if model not in MODELS:
            parser.error(f"unknown model {model!r}; expected {list(MODELS)}")
    for variant in variants:
        if variant not in VARIANTS:
            parser.error(f"unknown variant {variant!r}")
        if variant not in DEVELOPMENT_VARIANTS and not args.final:
            parser.error(f"the {variant!r} variant needs --final")
    header = (
        f"Fresh scenes: {args.train_size} training and {args.test_size} "
        f"test rows, budget {args.budget_seconds:g} CPU seconds per model, "
        f"batch {args.batch_size}, fusion {args.fusion}, learning-rate "
        "schedule "
        f"{args.lr_schedule}; backend {keras.backend.backend()}, "
        f"{platform.processor() or platform.machine()}.\n\n"
        "| variant | model | seed | test accuracy | last-epoch training "
        "accuracy | steps | epochs | CPU s | wall s |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    rows, results = [], []
    for variant in variants:
        for seed in seeds:
            data = generate(
                variant,
                seed=seed,
                train_size=args.train_size,
                test_size=args.test_size,
                final=args.final,
            )
            for model in models:
                args.model_seed = seed
                result = run_one(data, MODELS[model], args)
                result.update(variant=variant, model=model, seed=seed)
                train_accuracy = (
                    "-"
                    if result["train_accuracy"] is None
                    else f"{result['train_accuracy']:.3f}"
                )
                results.append(result)
                rows.append(
                    f"| {variant} | {model} | {seed} | "
                    f"{result['accuracy']:.3f} | {train_accuracy} | "
                    f"{result['steps']} | "
                    f"{result['epochs']} | {result['cpu_seconds']:.0f} | "
                    f"{result['wall_seconds']:.0f} |"
                )
                print(rows[-1], flush=True)
    if len(seeds) > 1:
        print("\n" + "\n".join(summarize(results)), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "arguments": {
                        k: v
                        for k, v in vars(args).items()
                        if k not in ("json", "model_seed")
                    },
                    "backend": keras.backend.backend(),
                    "results": results,
                },
                f,
                indent=2,
            )
    return rows, results


if __name__ == "__main__":
    main()
