"""Held-out accuracy of fusion with audio against single-modality baselines.

Trains `keras_mm.build_classifier` on the paired datasets:
`spoken_commands` (does the spoken sentence say what the written one
says? audio + text) and `spoken_scenes` (does the spoken description match
the scene? images + audio), once per fusion type and once per input alone,
and reports accuracy on the test split (voices unheard in training; for
scenes, colour-shape pairs unseen too) and training time. Both tasks are
built so that neither input alone predicts the label: chance is 0.5.
Writes a Markdown table.

    KERAS_BACKEND=tensorflow .venv/bin/python \
        -m benchmarks.paired_fusion_benchmark

Use `--num-samples 60 --epochs 1 --fusions concat` for a quick check.
"""

import argparse
import time

import keras
import numpy as np

import keras_mm
from benchmarks.speech_benchmark import ALPHABET
from benchmarks.speech_benchmark import schedule
from keras_mm.datasets.paired import spoken_commands
from keras_mm.datasets.paired import spoken_scenes

# Task: (dataset, inputs, longest clip in seconds).
TASKS = {
    "commands": (spoken_commands, ("audio", "text"), 4.5),
    "scenes": (spoken_scenes, ("images", "audio"), 6.0),
}


def train_recognizer(max_duration, args):
    """A CTC recognizer of clips up to `max_duration` seconds, trained on
    `keras_mm.datasets.spoken` sentences; returns it, its CER on their
    held-out voices, and its training seconds."""
    data = keras_mm.datasets.spoken(
        num_samples=args.recognizer_sentences,
        kind="sentences",
        seed=args.seed,
        cache_dir=args.cache_dir,
    )
    train = data["train"]
    keras.utils.set_random_seed(args.seed)
    asr = keras_mm.build_speech_recognizer(
        ALPHABET,
        max_duration=max_duration,
        hidden_dim=args.hidden_dim,
        num_layers=2,
        learning_rate=schedule(
            args, len(train["audio"]), args.recognizer_epochs, 3e-3
        ),
    )
    start = time.perf_counter()
    asr.fit(
        train["audio"],
        train["transcripts"],
        epochs=args.recognizer_epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    test = data["test"]
    cer = keras_mm.metrics.cer(
        asr.transcribe(test["audio"]), test["transcripts"]
    )
    return asr, cer, seconds


def encoders_for(inputs, data, max_duration, args, recognizer=None):
    encoders = {}
    if "images" in inputs:
        size = data["train"]["images"].shape[1]
        encoders["images"] = keras_mm.encoders.image(
            "cnn_small", image_shape=(size, size, 3)
        )
    if "audio" in inputs and recognizer is None:
        encoders["audio"] = keras_mm.encoders.audio(max_duration=max_duration)
    elif "audio" in inputs:
        # Frozen: transcription taught it the words, which the fusion
        # compares with the other input.
        encoders["audio"] = recognizer.audio_encoder()
        encoders["audio"].trainable = False
    if "text" in inputs:
        encoders["text"] = keras_mm.encoders.text(
            "transformer_small",
            vocabulary=keras_mm.encoders.text_vocabulary(data["train"]["text"]),
            sequence_length=16,
        )
    return encoders


def run_one(data, inputs, max_duration, fusion, args, recognizer=None):
    keras.utils.set_random_seed(args.seed)
    model = keras_mm.build_classifier(
        encoders_for(inputs, data, max_duration, args, recognizer),
        num_classes=2,
        fusion=fusion,
        hidden_dim=args.hidden_dim,
        learning_rate=args.learning_rate,
    )

    def split(name):
        return {key: data[name][key] for key in inputs}, data[name]["labels"]

    start = time.perf_counter()
    model.fit(
        *split("train"),
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
        validation_data=split("validation"),
    )
    seconds = time.perf_counter() - start
    x, labels = split("test")
    predicted = model.predict(x, verbose=0).argmax(1)
    return float(np.mean(predicted == labels)), seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", default="commands,scenes")
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--fusions", default="concat,cross_attention")
    parser.add_argument(
        "--recognizer-epochs",
        type=int,
        default=0,
        help="when above 0, the audio encoder is a CTC recognizer trained "
        "this many epochs on spoken sentences, then frozen",
    )
    parser.add_argument("--recognizer-sentences", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument(
        "--cache-dir", default=None, help="where the datasets are cached"
    )
    args = parser.parse_args(argv)
    tasks = args.tasks.split(",")
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown --tasks {unknown}; allowed: {sorted(TASKS)}")
    rows = []
    for task in tasks:
        make, inputs, max_duration = TASKS[task]
        options = {"image_size": args.image_size} if "images" in inputs else {}
        data = make(
            args.num_samples,
            seed=args.seed,
            cache_dir=args.cache_dir,
            **options,
        )
        recognizer = None
        if args.recognizer_epochs and "audio" in inputs:
            recognizer, cer, seconds = train_recognizer(max_duration, args)
            print(
                f"{task}: recognizer of {max_duration} s clips, held-out CER "
                f"{cer:.3f}, trained in {seconds:.0f} s",
                flush=True,
            )
        runs = [
            (fusion, inputs) for fusion in args.fusions.split(",") if fusion
        ]
        runs += [("concat", (single,)) for single in inputs]
        for fusion, used in runs:
            accuracy, seconds = run_one(
                data, used, max_duration, fusion, args, recognizer
            )
            name = fusion if len(used) > 1 else f"{used[0]} only"
            rows.append((task, " + ".join(inputs), name, accuracy, seconds))
            print(
                f"| {task} | {name} | {accuracy:.3f} | {seconds:.0f} s |",
                flush=True,
            )
    lines = [
        f"backend {keras.config.backend()}, {args.num_samples} examples per "
        f"task, {args.epochs} epochs, seed {args.seed}; test voices unseen "
        "in training; chance 0.5",
        "",
        "| task | inputs | model | test accuracy | training time |",
        "|---|---|---|---|---|",
    ]
    for task, inputs, name, accuracy, seconds in rows:
        lines.append(
            f"| {task} | {inputs} | {name} | {accuracy:.3f} | {seconds:.0f} s |"
        )
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
