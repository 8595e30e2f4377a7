"""Examples per second that the data pipeline delivers, against what the
model consumes in training.

For each model, the pipeline is the one `fit` runs: raw inputs (uint8
images, strings, waveforms of different lengths) batched, tokenised and
padded in `tf.data` with parallel map and prefetch, timed over `--batches`
batches to the host. The model's rate is that of a training step on one of
those batches, already on the device (as in `hardware_benchmark`). Both
use all the cores, one after the other, so each figure is what that stage
can do alone. A ratio of 3 or more means the pipeline is never the
bottleneck.

A last row times file decoding: `keras_mm.data.load_frame` over a pandas
DataFrame of PNG and WAV paths, which `fit` reads before the pipeline.

    KERAS_BACKEND=jax python -m benchmarks.input_pipeline_benchmark
    KERAS_BACKEND=tensorflow python -m benchmarks.input_pipeline_benchmark
"""

import argparse
import os
import statistics
import tempfile
import time
import wave

import keras
import numpy as np

import keras_mm
from benchmarks.hardware_benchmark import step_times
from benchmarks.hardware_benchmark import to_device

SAMPLE_RATE = 16000
MODELS = ("classifier", "captioner", "speech recognizer")


def _speech_data(n, rng):
    """Noise clips of 2-4 s (long enough for CTC) and 1-4 command words."""
    words = "go stop left right up down yes no on off red blue".split()
    transcripts = [
        " ".join(rng.choice(words, rng.integers(1, 5))) for _ in range(n)
    ]
    audio = [
        (
            0.1
            * rng.standard_normal(
                int(rng.integers(2 * SAMPLE_RATE, 4 * SAMPLE_RATE))
            )
        ).astype("float32")
        for _ in range(n)
    ]
    return audio, transcripts


def build(name, image_size, data):
    """`(model, x, y)`: a model of the CPU benchmarks' size and raw data."""
    train = data["train"]
    images = keras_mm.encoders.image(
        "cnn_small", image_shape=(image_size, image_size, 3)
    )
    if name == "classifier":
        vocab = keras_mm.encoders.text_vocabulary(train["statements"], 300)
        text = keras_mm.encoders.text(
            "transformer_small", vocabulary=vocab, sequence_length=16
        )
        model = keras_mm.build_classifier(
            {"images": images, "text": text},
            num_classes=3,
            fusion="cross_attention",
        )
        x = {"images": train["images"], "text": train["statements"]}
        return model, x, train["labels"]
    if name == "captioner":
        vocab = keras_mm.encoders.text_vocabulary(train["captions"], 300)
        model = keras_mm.build_captioner(encoder=images, vocabulary=vocab)
        return (
            model,
            {"images": train["images"], "text": train["captions"]},
            None,
        )
    audio, transcripts = _speech_data(
        len(train["labels"]), np.random.default_rng(0)
    )
    model = keras_mm.build_speech_recognizer(
        list("abcdefghijklmnopqrstuvwxyz '"), max_duration=4.0
    )
    return model, audio, transcripts


def pipeline_rate(model, x, y, batch_size, num_batches):
    """Examples per second out of the model's own `fit` pipeline."""
    x, y = model._prepare(x, y)
    dataset = model._dataset(x, y, None, batch_size)
    iterator = iter(dataset.repeat())
    first = next(iterator)  # Builds the pipeline and fills the prefetch.
    start = time.perf_counter()
    for _ in range(num_batches):
        next(iterator)
    seconds = time.perf_counter() - start
    return num_batches * batch_size / seconds, first


def model_rate(model, batch, steps, repeats):
    """Examples per second of training steps on one pipeline batch."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(
        keras.tree.map_structure(np.asarray, batch)
    )
    median, _ = step_times(
        model, to_device((x, y, sample_weight)), steps, repeats
    )
    batch_size = len(keras.tree.flatten(x)[0])
    return batch_size * 1000 / median


def _write_wav(path, waveform):
    with wave.open(path, "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(SAMPLE_RATE)
        f.writeframes((np.clip(waveform, -1, 1) * 32767).astype("<i2"))


def decode_rate(images, audio, repeats):
    """Rows per second of `load_frame` over PNG and WAV file paths."""
    import pandas as pd
    from PIL import Image

    with tempfile.TemporaryDirectory() as directory:
        rows = []
        for i, (image, waveform) in enumerate(zip(images, audio)):
            image_path = os.path.join(directory, f"{i}.png")
            audio_path = os.path.join(directory, f"{i}.wav")
            Image.fromarray(image).save(image_path)
            _write_wav(audio_path, waveform)
            rows.append({"images": image_path, "audio": audio_path})
        frame = pd.DataFrame(rows)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            keras_mm.data.load_frame(frame, images=["images"], audio=["audio"])
            times.append(time.perf_counter() - start)
    return len(rows) / statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-samples", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--decode-files", type=int, default=256)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    if args.tiny:
        args.num_samples, args.image_size, args.batch_size = 60, 32, 4
        args.batches, args.steps, args.repeats = 2, 1, 1
        args.decode_files = 4
    data = keras_mm.datasets.scenes(
        num_samples=args.num_samples, image_size=args.image_size, seed=0
    )
    rows = []
    for name in MODELS:
        model, x, y = build(name, args.image_size, data)
        pipeline, batch = pipeline_rate(
            model, x, y, args.batch_size, args.batches
        )
        consumed = model_rate(model, batch, args.steps, args.repeats)
        rows.append(
            {
                "model": name,
                "pipeline": pipeline,
                "model_rate": consumed,
                "ratio": pipeline / consumed,
            }
        )
        print(rows[-1], flush=True)
    audio, _ = _speech_data(args.decode_files, np.random.default_rng(1))
    decoded = decode_rate(
        data["train"]["images"][: args.decode_files], audio, args.repeats
    )
    print(
        f"\nKeras {keras.__version__}, {keras.config.backend()}, "
        f"batch {args.batch_size}, {os.cpu_count()} cores\n"
    )
    print("| model | pipeline examples/s | training examples/s | ratio |")
    print("|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['pipeline']:.0f} | {r['model_rate']:.0f} "
            f"| {r['ratio']:.1f}x |"
        )
    print(f"\nDecoding PNG + WAV files: {decoded:.0f} rows/s")
    return rows, decoded


if __name__ == "__main__":
    main()
