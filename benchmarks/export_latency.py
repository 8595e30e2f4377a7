"""Seconds per export and check of a model of the JAX backend.

Under JAX, `keras_mm.export.saved_model` and `tflite` run in a TensorFlow
child process, and `keras_mm.export.verify` calls a SavedModel in a
TensorFlow-only one; both processes stay for the next call (a few seconds
of imports each). This script times each call, `--repeats` times in a row,
with the processes kept (as the library does), and with them stopped
before every call (what each call cost when it started its own process).

The model: an image+text classifier (`cnn_small` at 32 x 32,
`transformer_small` over 8 tokens, concat fusion), random weights.

    KERAS_BACKEND=jax python -m benchmarks.export_latency
"""

import argparse
import json
import os
import statistics
import tempfile
import time

import keras
import numpy as np

import keras_mm
from keras_mm.export import child_process

TEXTS = ["a red square", "two blue circles", "one green triangle", "none"]


def build_classifier():
    """The timed model and a batch of its raw inputs."""
    model = keras_mm.build_classifier(
        {
            "images": keras_mm.encoders.image("cnn_small", (32, 32, 3)),
            "text": keras_mm.encoders.text(
                "transformer_small",
                vocabulary=keras_mm.encoders.text_vocabulary(TEXTS),
                sequence_length=8,
            ),
        },
        num_classes=3,
        fusion="concat",
    )
    rng = np.random.default_rng(0)
    inputs = {
        "images": rng.integers(0, 256, (4, 32, 32, 3), dtype="uint8"),
        "text": TEXTS,
    }
    return model, inputs


def time_calls(model, inputs, directory, repeats, keep):
    """Seconds of each call, by step: `{"saved_model": [...], ...}`."""
    seconds = {"saved_model": [], "verify": [], "tflite": []}
    for i in range(repeats):
        steps = {
            "saved_model": lambda: keras_mm.export.saved_model(
                model, os.path.join(directory, "classifier")
            ),
            "verify": lambda: keras_mm.export.verify(path, model, inputs),
            "tflite": lambda: keras_mm.export.tflite(
                model,
                os.path.join(directory, "classifier.tflite"),
                overwrite=True,
            ),
        }
        for step, call in steps.items():
            if not keep:
                child_process.stop_workers()
            start = time.perf_counter()
            result = call()
            seconds[step].append(time.perf_counter() - start)
            if step == "saved_model":
                path = result
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--processes",
        default="new,kept",
        help="Comma-separated: `new` (a process per call), `kept`.",
    )
    parser.add_argument("--json", help="Also write the rows to this file.")
    args = parser.parse_args(argv)
    if args.repeats < 2:
        parser.error(f"--repeats must be 2 or more. Received: {args.repeats}")
    modes = args.processes.split(",")
    if not modes or set(modes) - {"new", "kept"}:
        parser.error(
            "--processes must be `new`, `kept` or both, comma-separated. "
            f"Received: {args.processes}"
        )
    model, inputs = build_classifier()
    rows = []
    with tempfile.TemporaryDirectory() as directory:
        for keep in [mode == "kept" for mode in modes]:
            child_process.stop_workers()
            seconds = time_calls(
                model, inputs, directory, args.repeats, keep=keep
            )
            for step, values in seconds.items():
                rows.append(
                    {
                        "processes": "kept" if keep else "new per call",
                        "step": step,
                        "first": values[0],
                        "later_median": statistics.median(values[1:]),
                        "later": values[1:],
                    }
                )
    print(
        f"Keras {keras.__version__}, backend {keras.config.backend()}; "
        f"{args.repeats} calls of each step in a row. Seconds per call.\n"
    )
    print("| processes | step | first call | later calls: median (range) |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['processes']} | {row['step']} | {row['first']:.1f} | "
            f"{row['later_median']:.1f} ({min(row['later']):.1f} to "
            f"{max(row['later']):.1f}) |"
        )
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=1)
    return rows


if __name__ == "__main__":
    main()
