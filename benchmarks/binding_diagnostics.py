"""Where binding fails: the image encoder, or the fusion?

On the fresh scenes of `benchmarks/fresh_scenes.py` (same data, same
seeds), three measurements separate the two parts of the statements task:

- `conjunctions`: an image-only `build_classifier` over `cnn_small`
  learns which colour-shape pairs an image holds, from dense labels (a
  multi-hot of the 16 pairs); reports exact-match test accuracy.
- `frozen`: the encoder trained as in `conjunctions`, then frozen
  (`learning_rates={"images": 0}`) under a fresh fusion and head that learn
  the true-or-false statements; reports test accuracy.
- `unfrozen`: the same, with the encoder left trainable.

    KERAS_BACKEND=jax python -m benchmarks.binding_diagnostics \
        --modes conjunctions,frozen,unfrozen --fusion concat
"""

import argparse
import platform

import keras
import numpy as np

import keras_mm
from benchmarks.fresh_scenes import VARIANTS
from benchmarks.fresh_scenes import CpuBudget
from benchmarks.fresh_scenes import generate

MODES = ("conjunctions", "frozen", "unfrozen")


def pair_labels(split, variant):
    """The multi-hot `(n, shapes * colours)` of the pairs in each image."""
    colours = VARIANTS[variant]["colours"]
    shapes = VARIANTS[variant]["shapes"]
    labels = np.zeros((len(split["objects"]), len(shapes) * len(colours)))
    for row, objects in enumerate(split["objects"]):
        for shape, colour in objects:
            column = shapes.index(shape) * len(colours) + colours.index(colour)
            labels[row, column] = 1.0
    return labels.astype("float32")


def fit_for(model, x, y, seconds, batch_size):
    budget = CpuBudget(seconds)
    model.fit(
        x, y, epochs=1000, batch_size=batch_size, callbacks=[budget], verbose=0
    )
    return budget


def run(mode, data, args):
    """Trains for `mode`; returns its test accuracy and training steps."""
    keras.utils.set_random_seed(args.seed)
    train, test = data["train"], data["test"]
    size = train["images"].shape[1]
    images = keras_mm.encoders.image("cnn_small", image_shape=(size, size, 3))
    labels = pair_labels(train, args.variant)
    pairs = keras_mm.build_classifier(
        {"images": images}, num_classes=labels.shape[1], activation="sigmoid"
    )
    budget = fit_for(
        pairs,
        {"images": train["images"]},
        labels,
        args.pretrain_seconds,
        args.batch_size,
    )
    if mode == "conjunctions":
        predicted = pairs.predict({"images": test["images"]}, verbose=0) > 0.5
        expected = pair_labels(test, args.variant) > 0.5
        return float(np.mean((predicted == expected).all(-1))), budget.steps
    text = keras_mm.encoders.text(
        "transformer_small",
        vocabulary=keras_mm.encoders.text_vocabulary(train["statements"]),
        sequence_length=16,
    )
    model = keras_mm.build_classifier(
        {"images": images, "text": text},
        num_classes=2,
        fusion=args.fusion,
        learning_rates={"images": 0.0} if mode == "frozen" else None,
    )
    budget = fit_for(
        model,
        {"images": train["images"], "text": train["statements"]},
        train["labels"],
        args.budget_seconds,
        args.batch_size,
    )
    x = {"images": test["images"], "text": test["statements"]}
    predicted = model.predict(x, verbose=0).argmax(-1)
    return float(np.mean(predicted == test["labels"])), budget.steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--variant", default="base")
    parser.add_argument("--fusion", default="concat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pretrain-seconds", type=float, default=90)
    parser.add_argument("--budget-seconds", type=float, default=80)
    parser.add_argument("--train-size", type=int, default=4000)
    parser.add_argument("--test-size", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}; expected {list(MODES)}")
    data = generate(
        args.variant,
        seed=args.seed,
        train_size=args.train_size,
        test_size=args.test_size,
    )
    print(
        f"Binding diagnostics: {args.variant}, seed {args.seed}, fusion "
        f"{args.fusion}, {args.pretrain_seconds:g} CPU-s on pair labels, "
        f"then {args.budget_seconds:g} CPU-s on statements; backend "
        f"{keras.backend.backend()}, {platform.machine()}.\n\n"
        "| mode | test accuracy | steps |\n|---|---|---|",
        flush=True,
    )
    rows = []
    for mode in modes:
        accuracy, steps = run(mode, data, args)
        rows.append((mode, accuracy, steps))
        print(f"| {mode} | {accuracy:.3f} | {steps} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
