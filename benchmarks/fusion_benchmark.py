"""Held-out accuracy of every fusion type on scene statements.

Trains `keras_mm.build_classifier` on `keras_mm.datasets.scenes` once per
fusion type, and once with the image alone and the text alone, then
reports accuracy on the test scenes (each holds a colour-shape pair never
seen in training), also per statement template, and on fresh scenes of the
training distribution (i.i.d.), and training time. Chance is 1/3. Writes
a Markdown table.

    KERAS_BACKEND=jax .venv/bin/python benchmarks/fusion_benchmark.py

Use `--num-samples 200 --epochs 1 --image-size 32` for a quick check.
`--object-tokens` adds, per fusion, a model whose image encoder is given
the scenes' true contents (shape, colour, size and word per cell) instead
of pixels: what the fusion reaches when image features are perfect.
`--caption-epochs N` also trains a captioner (`keras_mm.build_captioner`)
on the training captions over the same image encoder: N epochs before the
classifier, then one before each classifier epoch. Captions name every
object and the word, so the encoder learns to see and read them.
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


SCENES = keras_mm.datasets.scenes
# A cell's token: one-hots of the object's shape, colour and size and of
# the word, then one feature "a word is here". FACTOR_OFFSETS[k] is where
# the one-hot of FACTORS[k] starts.
FACTORS = (SCENES.SHAPES, SCENES.COLOURS, SCENES.SIZES, SCENES.WORDS)
FACTOR_OFFSETS = np.cumsum([0] + [len(values) for values in FACTORS])
OBJECT_FEATURES = int(FACTOR_OFFSETS[-1]) + 1


def object_tokens(split, image_size):
    """The scenes' true contents as 9 tokens, one per cell of the grid of
    bands and slots: one-hots of the shape, colour and size of the object
    in the cell, and of the word in the cells of the word's band. Features
    an image encoder would ideally learn, to tell the fusion's share of the
    errors from the encoder's."""
    tokens = np.zeros((len(split["labels"]), 9, OBJECT_FEATURES), "float32")
    cell = image_size / 3
    for i, objects in enumerate(split["objects"]):
        for o in objects:
            y, x = (int(c // cell) for c in o["center"])
            for k, key in enumerate(("shape", "colour", "size")):
                tokens[
                    i, 3 * y + x, FACTOR_OFFSETS[k] + FACTORS[k].index(o[key])
                ] = 1
        word, where = split["word"][i], split["word_position"][i]
        if word:
            places = {o["position"] for o in objects} | {where}
            band = {"top": 0, "left": 0, "middle": 1}.get(where, 2)
            rows = bool(places & {"top", "bottom"})
            cells = [3 * band + k if rows else 3 * k + band for k in range(3)]
            tokens[i, cells, FACTOR_OFFSETS[3] + SCENES.WORDS.index(word)] = 1
            tokens[i, cells, -1] = 1
    return tokens


def object_token_encoder():
    """An encoder over `object_tokens`: one learned projection."""
    cells = keras.Input((9, OBJECT_FEATURES), name="images")
    sequence = keras.layers.Dense(64, activation="relu")(cells)
    pooled = keras.layers.GlobalAveragePooling1D()(sequence)
    network = keras.Model(
        cells, {"sequence_output": sequence, "pooled_output": pooled}
    )
    return keras_mm.encoders.Encoder(network, name="object_token_encoder")


def run_one(data, iid, vocab, inputs, fusion, args, objects=False):
    keras.utils.set_random_seed(args.seed)
    encoders = {}
    if "images" in inputs and objects:
        encoders["images"] = object_token_encoder()
    elif "images" in inputs:
        encoders["images"] = keras_mm.encoders.image(
            args.image_encoder,
            image_shape=(args.image_size, args.image_size, 3),
        )
    if "text" in inputs:
        encoders["text"] = keras_mm.encoders.text(
            args.text_encoder, vocabulary=vocab, sequence_length=16
        )
    model = keras_mm.build_classifier(
        encoders, num_classes=3, fusion=fusion, hidden_dim=args.hidden_dim
    )

    def features(part):
        images = part["images"]
        if objects:
            images = object_tokens(part, args.image_size)
        x = {"images": images, "text": part["statements"]}
        return {k: v for k, v in x.items() if k in inputs}

    def split(name):
        return features(data[name]), data[name]["labels"]

    start = time.perf_counter()
    train, validation = split("train"), split("validation")

    def fit(epochs):
        model.fit(
            *train,
            epochs=epochs,
            batch_size=64,
            verbose=0,
            validation_data=validation,
        )

    if "images" in encoders and not objects and args.caption_epochs:
        # The captioner and the classifier share the image encoder: its
        # weights move with both.
        captions = {
            "images": data["train"]["images"],
            "text": data["train"]["captions"],
        }
        captioner = keras_mm.build_captioner(
            encoders["images"],
            vocabulary=keras_mm.encoders.text_vocabulary(
                captions["text"], vocabulary_size=200
            ),
            sequence_length=20,
        )
        captioner.fit(
            captions, epochs=args.caption_epochs, batch_size=64, verbose=0
        )
        for _ in range(args.epochs):
            captioner.fit(captions, epochs=1, batch_size=64, verbose=0)
            fit(1)
    else:
        fit(args.epochs)
    seconds = time.perf_counter() - start
    correct = []
    for part in (data["test"], iid):
        predicted = model.predict(features(part), verbose=0).argmax(1)
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
        "--image-encoder",
        default="cnn_small",
        help="a built-in image encoder of keras_mm.encoders.image",
    )
    parser.add_argument(
        "--text-encoder",
        default="transformer_small",
        help="a built-in text encoder of keras_mm.encoders.text",
    )
    parser.add_argument(
        "--fusions",
        default=",".join(FUSIONS),
        help="comma-separated fusion types; empty for the baselines alone",
    )
    parser.add_argument(
        "--skip-baselines",
        action="store_true",
        help="do not train the image-only and text-only models",
    )
    parser.add_argument(
        "--object-tokens",
        action="store_true",
        help="also train each fusion on the scenes' true contents, 9 "
        "tokens of one-hot shape, colour, size and word, instead of pixels",
    )
    parser.add_argument(
        "--caption-epochs",
        type=int,
        default=0,
        help="train a captioner over the same image encoder for this many "
        "epochs first, then one epoch before each classifier epoch",
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
    fusions = [f for f in args.fusions.split(",") if f]
    runs = [(f, ("images", "text"), False) for f in fusions]
    if args.object_tokens:
        runs += [(f, ("images", "text"), True) for f in fusions]
    if not args.skip_baselines:
        runs += [("concat", ("images",), False), ("concat", ("text",), False)]
    rows = []
    for fusion, inputs, objects in runs:
        (held_out, same), per_template, seconds = run_one(
            data, iid, vocab, inputs, fusion, args, objects=objects
        )
        label = fusion if len(inputs) == 2 else f"{inputs[0]} only"
        if objects:
            label += ", object tokens"
        templates = " | ".join(f"{a:.2f}" for a in per_template)
        rows.append(
            f"| {label} | {held_out:.3f} | {same:.3f} | {templates} | "
            f"{seconds:.0f} |"
        )
        print(rows[-1], flush=True)
    table = "\n".join(
        [
            f"Scenes: {args.num_samples} samples, {args.image_size} px, "
            f"{args.epochs} epochs, {args.caption_epochs} captioning "
            f"epochs first, hidden_dim {args.hidden_dim}, encoders "
            f"{args.image_encoder} and {args.text_encoder}, seed "
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
