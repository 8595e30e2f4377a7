"""Held-out accuracy of every fusion type on scene statements.

Trains `keras_mm.build_classifier` on `keras_mm.datasets.scenes` once per
fusion type, and once with the image alone and the text alone, then
reports accuracy on the test scenes (each holds a colour-shape pair never
seen in training), also per statement template, and on fresh scenes of the
training distribution (i.i.d.), and training time. Chance is 1/3. Writes
a Markdown table.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/fusion_benchmark.py

Use `--num-samples 200 --epochs 1 --image-size 32` for a quick check.
"""

import argparse
import platform
import time

import keras
import numpy as np

import keras_mm

FUSIONS = (
    "concat",
    "gated",
    "cross_attention",
    "film",
    "bilinear",
    "tokens",
    "late",
    "query",
)


def run_one(data, iid, vocab, inputs, fusion, args):
    keras.utils.set_random_seed(args.seed)
    encoders = {}
    if "images" in inputs:
        encoders["images"] = keras_mm.encoders.image(
            "cnn_small", image_shape=(args.image_size, args.image_size, 3)
        )
    if "text" in inputs:
        encoders["text"] = keras_mm.encoders.text(
            args.text_encoder, vocabulary=vocab, sequence_length=16
        )
    model = keras_mm.build_classifier(
        encoders, num_classes=3, fusion=fusion, hidden_dim=args.hidden_dim
    )

    def split(name):
        part = data[name]
        x = {"images": part["images"], "text": part["statements"]}
        return {k: v for k, v in x.items() if k in inputs}, part["labels"]

    start = time.perf_counter()
    model.fit(
        *split("train"),
        epochs=args.epochs,
        batch_size=64,
        verbose=0,
        validation_data=split("validation"),
    )
    seconds = time.perf_counter() - start
    correct = []
    for part in (data["test"], iid):
        x = {"images": part["images"], "text": part["statements"]}
        x = {k: v for k, v in x.items() if k in inputs}
        predicted = model.predict(x, verbose=0).argmax(1)
        correct.append(predicted == part["labels"])
    accuracies = [float(np.mean(c)) for c in correct]
    # Held-out accuracy per statement template: which questions fail.
    templates = np.array(data["test"]["templates"])
    per_template = [
        float(np.mean(correct[0][templates == t]))
        if np.any(templates == t)
        else float("nan")
        for t in keras_mm.datasets.scenes.TEMPLATES
    ]
    return accuracies, per_template, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-samples", type=int, default=4000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--text-encoder",
        default="transformer_small",
        help="a built-in text encoder of keras_mm.encoders.text",
    )
    parser.add_argument("--fusions", default=",".join(FUSIONS))
    parser.add_argument(
        "--skip-baselines",
        action="store_true",
        help="do not train the image-only and text-only models",
    )
    parser.add_argument(
        "--output", default=None, help="append the Markdown table to this file"
    )
    args = parser.parse_args(argv)
    data = keras_mm.datasets.scenes(
        num_samples=args.num_samples,
        image_size=args.image_size,
        seed=args.seed,
    )
    # Fresh scenes from the training distribution (another seed): they
    # measure fitting without the held-out colour-shape pairs.
    iid = keras_mm.datasets.scenes(
        num_samples=max(30, round(len(data["test"]["labels"]) / 0.7)),
        image_size=args.image_size,
        seed=args.seed + 1,
    )["train"]
    vocab = keras_mm.encoders.text_vocabulary(
        data["train"]["statements"], vocabulary_size=300
    )
    runs = [(f, ("images", "text")) for f in args.fusions.split(",")]
    if not args.skip_baselines:
        runs += [("concat", ("images",)), ("concat", ("text",))]
    rows = []
    for fusion, inputs in runs:
        (held_out, same), per_template, seconds = run_one(
            data, iid, vocab, inputs, fusion, args
        )
        label = fusion if len(inputs) == 2 else f"{inputs[0]} only"
        templates = " | ".join(f"{a:.2f}" for a in per_template)
        rows.append(
            f"| {label} | {held_out:.3f} | {same:.3f} | {templates} | "
            f"{seconds:.0f} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        [
            f"Scenes: {args.num_samples} samples, {args.image_size} px, "
            f"{args.epochs} epochs, hidden_dim {args.hidden_dim}, text "
            f"encoder {args.text_encoder}, seed "
            f"{args.seed}; backend {keras.backend.backend()}, "
            f"{platform.processor() or platform.machine()}.",
            "",
            "| model | held-out pairs accuracy | i.i.d. accuracy | "
            + " | ".join(keras_mm.datasets.scenes.TEMPLATES)
            + " | training seconds |",
            "|---|---|---|"
            + "---|" * len(keras_mm.datasets.scenes.TEMPLATES)
            + "---|",
            *rows,
        ]
    )
    print(table)
    if args.output:
        with open(args.output, "a") as f:
            f.write(table + "\n\n")
    return rows


if __name__ == "__main__":
    main()
