"""Export size and latency against Keras, and what quantization costs.

Builds an image+text classifier, an image captioner and a speech
recognizer (untrained, default sizes), exports each with
`keras_mm.export.saved_model` and `keras_mm.export.tflite`, and times, per
example at batch 1 and 32, the Keras call (`predict`, `generate`,
`transcribe`), the SavedModel's `serving_default` signature loaded in this
process (what a server runs) and the `.tflite` file through
`keras_mm.export.LiteRTModel` (raw inputs in, tokenizing included).
Medians over `--repeats` calls after one warm-up call.

Quantization: the classifier is trained for `--epochs` on the scenes
statements, then exported float32, `dynamic`, `float16` and `int8`;
the table gives each file's size and its accuracy on the training scenes
(which the model fits) and on held-out scenes, next to Keras'. Writes
Markdown tables.

    KERAS_BACKEND=tensorflow python -m benchmarks.export_benchmark

Use `--tiny` for a quick check.
"""

import argparse
import os
import platform
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

import keras_mm

SAMPLE_RATE = 16000


def scenes_classifier(size, vocab, hidden_dim=128):
    """Images and statements, fused by cross-attention."""
    return keras_mm.build_classifier(
        {
            "images": keras_mm.encoders.image(
                "cnn_small", image_shape=(size, size, 3)
            ),
            "text": keras_mm.encoders.text(
                "transformer_small", vocabulary=vocab, sequence_length=16
            ),
        },
        num_classes=3,
        fusion="cross_attention",
        hidden_dim=hidden_dim,
    )


def models(tiny):
    size = 32 if tiny else 64
    texts = ["the circles are red", "the word is cat", "two blue squares"]
    vocab = keras_mm.encoders.text_vocabulary(texts)
    width = 16 if tiny else 128
    classifier = scenes_classifier(size, vocab, width)
    captioner = keras_mm.build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(size, size, 3)),
        vocab,
        sequence_length=8 if tiny else 20,
        hidden_dim=width,
        num_layers=1 if tiny else 2,
    )
    recognizer = keras_mm.build_speech_recognizer(
        list("abcdefghijklmnopqrstuvwxyz '"),
        sample_rate=SAMPLE_RATE,
        max_duration=0.5 if tiny else 4.0,
        hidden_dim=width,
        num_layers=1 if tiny else 2,
    )
    return (
        size,
        texts,
        {
            "classifier": classifier,
            "captioner": captioner,
            "speech recognizer": recognizer,
        },
    )


def inputs(name, batch, size, texts, duration):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (batch, size, size, 3)).astype("uint8")
    audio = 0.1 * rng.normal(size=(batch, int(SAMPLE_RATE * duration)))
    audio = audio.astype("float32")
    text = [texts[i % len(texts)] for i in range(batch)]
    if name == "classifier":
        return {"images": images, "text": text}, {
            "images": tf.constant(images),
            "text": tf.constant(text),
        }
    if name == "captioner":
        return images, {"images": tf.constant(images)}
    return audio, {"audio": tf.constant(audio)}


def keras_call(model, name):
    if name == "classifier":
        return lambda x: model.predict(x, verbose=0, batch_size=len(x["text"]))
    if name == "captioner":
        return lambda x: model.generate(x, batch_size=len(x))
    return lambda x: model.transcribe(x, batch_size=len(x))


def litert_call(path):
    runner = keras_mm.export.LiteRTModel(path)
    return lambda x: runner(x)


def quantization_rows(args):
    """Trains the scenes classifier, exports each quantization and scores
    it on training and test scenes."""
    size = 32 if args.tiny else 64
    data = keras_mm.datasets.scenes(
        num_samples=200 if args.tiny else 3000, image_size=size, seed=0
    )
    train, test = data["train"], data["test"]
    vocab = keras_mm.encoders.text_vocabulary(train["statements"])
    model = scenes_classifier(size, vocab)

    def x(part):
        return {"images": part["images"], "text": part["statements"]}

    model.fit(x(train), train["labels"], epochs=args.epochs, verbose=0)
    n = min(len(train["labels"]), 512)
    scored = {
        "train": ({k: v[:n] for k, v in x(train).items()}, train["labels"][:n]),
        "test": (x(test), test["labels"]),
    }

    def accuracy(predict, part):
        inputs, labels = scored[part]
        return float(np.mean(predict(inputs) == labels))

    def keras_labels(inputs):
        return model.predict(inputs, verbose=0).argmax(-1)

    rows = [
        {
            "format": "Keras",
            "megabytes": None,
            "train": accuracy(keras_labels, "train"),
            "test": accuracy(keras_labels, "test"),
        }
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for quantization in (None, "dynamic", "float16", "int8"):
            path = keras_mm.export.tflite(
                model,
                os.path.join(tmp, f"{quantization}.tflite"),
                quantization=quantization,
                representative_data={k: v[:100] for k, v in x(train).items()},
            )
            runner = keras_mm.export.LiteRTModel(path)

            def labels(inputs, runner=runner):
                return runner(inputs)["labels"]

            rows.append(
                {
                    "format": f"TFLite {quantization or 'float32'}",
                    "megabytes": os.path.getsize(path) / 2**20,
                    "train": accuracy(labels, "train"),
                    "test": accuracy(labels, "test"),
                }
            )
            print(rows[-1], flush=True)
    return rows


def median_seconds(function, x, repeats):
    function(x)  # Compiles.
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(x)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def directory_megabytes(path):
    total = sum(
        os.path.getsize(os.path.join(root, f))
        for root, _, files in os.walk(path)
        for f in files
    )
    return total / 2**20


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    size, texts, built = models(args.tiny)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in built.items():
            start = time.perf_counter()
            path = keras_mm.export.saved_model(
                model, os.path.join(tmp, name.replace(" ", "_"))
            )
            export_seconds = time.perf_counter() - start
            served = tf.saved_model.load(path).signatures["serving_default"]
            tflite_path = keras_mm.export.tflite(
                model, os.path.join(tmp, name.replace(" ", "_") + ".tflite")
            )
            duration = getattr(model, "max_duration", 1.0)
            row = {
                "model": name,
                "megabytes": directory_megabytes(path),
                "export_seconds": export_seconds,
                "tflite_megabytes": os.path.getsize(tflite_path) / 2**20,
            }
            litert = litert_call(tflite_path)
            for batch in (1, 32):
                x, request = inputs(name, batch, size, texts, duration)
                keras_seconds = median_seconds(
                    keras_call(model, name), x, args.repeats
                )
                served_seconds = median_seconds(
                    lambda r: served(**r), request, args.repeats
                )
                litert_seconds = median_seconds(litert, x, args.repeats)
                row[f"keras_{batch}"] = 1000 * keras_seconds / batch
                row[f"served_{batch}"] = 1000 * served_seconds / batch
                row[f"tflite_{batch}"] = 1000 * litert_seconds / batch
            rows.append(row)
            print(row, flush=True)
    table = [
        f"Keras {keras.__version__}, TensorFlow {tf.__version__}, backend "
        f"{keras.backend.backend()}, {platform.processor() or 'CPU'}, "
        f"{os.cpu_count()} cores; median of {args.repeats} calls. "
        "Milliseconds per example.",
        "",
        "| model | SavedModel MB | TFLite MB | batch | Keras | SavedModel "
        "| TFLite |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for batch in (1, 32):
            table.append(
                f"| {row['model']} | {row['megabytes']:.2f} | "
                f"{row['tflite_megabytes']:.2f} | {batch} | "
                f"{row[f'keras_{batch}']:.2f} | "
                f"{row[f'served_{batch}']:.2f} | "
                f"{row[f'tflite_{batch}']:.2f} |"
            )
    quantized = quantization_rows(args)
    table += [
        "",
        f"Scenes classifier, {args.epochs} epochs; accuracy on training "
        "scenes (512) and held-out scenes.",
        "",
        "| format | MB | train accuracy | held-out accuracy |",
        "|---|---|---|---|",
    ]
    for row in quantized:
        size = "" if row["megabytes"] is None else f"{row['megabytes']:.2f}"
        table.append(
            f"| {row['format']} | {size} | {row['train']:.3f} | "
            f"{row['test']:.3f} |"
        )
    text = "\n".join(table)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    return rows, quantized


if __name__ == "__main__":
    main()
