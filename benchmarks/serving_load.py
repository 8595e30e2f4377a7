"""Served models under load: latency, throughput and malformed requests.

Builds three tiny models with random weights (a classifier over images and
text, an image captioner, a speech recognizer), exports each with
`keras_mm.export.saved_model` and `keras_mm.export.tflite`, and serves
each file in a child process that holds no keras_mm model code:

- the SavedModel with TensorFlow alone: `tf.saved_model.load`, its
  signatures called with the request's arrays as tensors;
- the `.tflite` file with `keras_mm.export.LiteRTModel`, its file loaded
  alone (NumPy and LiteRT, no TensorFlow), one instance for all threads.

`--threads` threads send `--requests` valid requests (1 to 4 examples
each; for image models a quarter of the SavedModel's go to its
`encoded_images` signature as PNG or JPEG bytes, at the model's size or
another) mixed with `--malformed` of each malformed request: wrong
dtype, wrong rank, a missing or unknown input, an empty batch, inputs of
different batch sizes, images of the wrong size, NaN or infinite audio,
a 1 MB string, invalid UTF-8, encoded bytes for pixels, and bytes that
are no image (garbage, empty, truncated, 8 MB).

A valid request fails when it raises or when its answer differs from the
answer to the same request sent alone before the load (must be 0). A
malformed request is rejected (it raised an exception), answered, or in
flight when the process died. Every malformed kind in `MUST_REJECT` must
be rejected. After the load the process must answer a valid request
correctly. Latencies are per valid request, inside the serving process;
throughput is valid requests over the load's wall time.

    KERAS_BACKEND=tensorflow python -m benchmarks.serving_load
    python -m benchmarks.serving_load --requests 64 --malformed 1

`--no-lock` serves the `.tflite` files with `LiteRTModel`'s lock removed,
to show what it prevents.
"""

import argparse
import collections
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNNER = os.path.join(ROOT, "src", "keras_mm", "export", "litert_runner.py")
TASKS = ("classifier", "captioner", "speech recognizer")
FORMATS = ("saved_model", "tflite")
SERVED_BY = {
    "saved_model": "SavedModel, TensorFlow",
    "tflite": "TFLite, LiteRTModel",
}
IMAGE_SIZE = 32
SAMPLE_RATE = 8000
MAX_DURATION = 0.5
TEXTS = [
    "the circles are red",
    "the word is cat",
    "two blue squares",
    "a green cross on the left",
    "words the model never saw",
    "",
]
# Distinct valid requests; the load sends each many times.
POOL = 16
# Malformed kinds that the model cannot take: each must raise. The others
# (NaN audio, a huge string, ...) may be answered.
MUST_REJECT = (
    "wrong dtype",
    "wrong rank",
    "missing input",
    "unknown input",
    "empty batch",
    "batch sizes differ",
    "wrong image size",
    "encoded bytes for pixels",
    "not an image",
    "empty image bytes",
    "huge image bytes",
)


# The models and their exports (the parent process).


def _scramble(weights, scale, seed):
    """Large random weights, so an untrained model's decoded outputs vary
    from input to input (the answers to different requests differ)."""
    rng = np.random.default_rng(seed)
    for weight in weights:
        weight.assign(scale * rng.normal(size=weight.shape))


def build(task):
    import keras

    import keras_mm

    keras.utils.set_random_seed(0)
    image_shape = (IMAGE_SIZE, IMAGE_SIZE, 3)
    vocab = keras_mm.encoders.text_vocabulary(TEXTS)
    if task == "classifier":
        return keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image("cnn_small", image_shape),
                "text": keras_mm.encoders.text(
                    "transformer_small", vocabulary=vocab, sequence_length=8
                ),
            },
            num_classes=3,
            hidden_dim=16,
        )
    if task == "captioner":
        model = keras_mm.build_captioner(
            keras_mm.encoders.image("cnn_small", image_shape),
            vocab,
            sequence_length=8,
            hidden_dim=16,
            num_layers=1,
        )
        _scramble(model.logits_dense.weights, 3.0, 0)
        _scramble(model.encoder_projections["images"].weights, 1.0, 0)
        kernels = [w for w in model.encoder.weights if "kernel" in w.path]
        _scramble(kernels, 0.5, 1)
        return model
    model = keras_mm.build_speech_recognizer(
        list("abcdefghijklmnopqrstuvwxyz '"),
        sample_rate=SAMPLE_RATE,
        max_duration=MAX_DURATION,
        hidden_dim=16,
        num_layers=1,
    )
    _scramble(model.logits_dense.weights, 3.0, 0)
    return model


def export(task, directory):
    """`{format: path}` of the task's SavedModel and `.tflite` file."""
    import keras_mm

    model = build(task)
    name = task.replace(" ", "_")
    return {
        "saved_model": keras_mm.export.saved_model(
            model, os.path.join(directory, name)
        ),
        "tflite": keras_mm.export.tflite(
            model, os.path.join(directory, f"{name}.tflite")
        ),
    }


# The serving processes.


class SavedModelServer:
    """Calls a SavedModel's signatures, TensorFlow only: each request's
    arrays become tensors (as a server parses a request), then the
    signature runs."""

    def __init__(self, path):
        import tensorflow as tf

        self.tf = tf
        self.signatures = tf.saved_model.load(path).signatures
        specs = self.signatures["serving_default"].structured_input_signature
        self.inputs = {}
        for key, spec in specs[1].items():
            if spec.dtype == tf.uint8:
                self.inputs[key] = ("images", tuple(spec.shape[1:]))
            elif spec.dtype == tf.string:
                self.inputs[key] = ("text", None)
            else:
                self.inputs[key] = ("audio", None)
        self.encoded = "encoded_images" in self.signatures

    def __call__(self, signature, inputs):
        tensors = {k: self.tf.constant(v) for k, v in inputs.items()}
        outputs = self.signatures[signature](**tensors)
        return {k: v.numpy() for k, v in outputs.items()}

    def encode(self, image, jpeg=False):
        encode = self.tf.io.encode_jpeg if jpeg else self.tf.io.encode_png
        return encode(image).numpy()


class LiteRTServer:
    """Calls one `LiteRTModel` (its file loaded alone: no keras_mm package,
    no TensorFlow)."""

    encoded = False

    def __init__(self, path, lock=True):
        spec = importlib.util.spec_from_file_location("litert_runner", RUNNER)
        runner = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(runner)
        if not lock:
            runner.LiteRTModel._invoke = lambda self, arrays: self.runner(
                **arrays
            )
        self.model = runner.LiteRTModel(path)
        self.inputs = {}
        for key, spec in self.model.assets["inputs"].items():
            size = spec.get("shape") or spec.get("num_samples")
            self.inputs[key] = (spec["type"], size)

    def __call__(self, signature, inputs):
        return self.model(inputs)


def valid_request(server, rng, audio_samples, encoded=False):
    """`(signature, inputs)` of 1 to 4 examples."""
    batch = int(rng.integers(1, 5))
    inputs = {}
    for key, (kind, size) in server.inputs.items():
        if kind == "images":
            pixels = rng.integers(0, 256, (batch, *size), "uint8")
            inputs[key] = pixels
            if encoded:
                # At the model's size or another (resized in the graph).
                side = int(rng.choice([size[0], size[0] + 16, size[0] // 2]))
                pixels = rng.integers(0, 256, (batch, side, side, size[2]))
                inputs[key] = [
                    server.encode(image, jpeg=bool(i % 2))
                    for i, image in enumerate(pixels.astype("uint8"))
                ]
        elif kind == "text":
            inputs[key] = [TEXTS[i] for i in rng.integers(0, len(TEXTS), batch)]
        else:
            # Any length: padded or cropped to the model's.
            samples = int(audio_samples * rng.choice([0.5, 1.0, 1.5]))
            audio = 0.3 * rng.normal(size=(batch, samples))
            inputs[key] = audio.astype("float32")
    return ("encoded_images" if encoded else "serving_default"), inputs


def _first(server, kind):
    return next((k for k, (t, _) in server.inputs.items() if t == kind), None)


def malformed_requests(server, base):
    """`{kind: (signature, inputs)}`: `base` (a valid pixel request) broken
    one way per kind, for the kinds that apply to the model."""
    batch = len(next(iter(base.values())))
    images, text, audio = (
        _first(server, t) for t in ("images", "text", "audio")
    )
    requests = {}

    def broken(kind, signature="serving_default", **changes):
        inputs = dict(base)
        for key, value in changes.items():
            if value is None:
                inputs.pop(key)
            else:
                inputs[key] = value
        requests[kind] = (signature, inputs)

    wrong_dtypes = {}
    if images:
        wrong_dtypes[images] = base[images].astype("float32")
    if audio:
        wrong_dtypes[audio] = np.full(base[audio].shape, "x")
    broken("wrong dtype", **wrong_dtypes)
    first = sorted(base)[0]
    broken("wrong rank", **{first: base[first][0]})
    broken("missing input", **{sorted(base)[-1]: None})
    broken("unknown input", labels=np.zeros(batch, "int32"))
    broken("empty batch", **{k: v[:0] for k, v in base.items()})
    if len(base) > 1:
        last = sorted(base)[-1]
        longer = list(base[last]) + [base[last][0]]
        broken("batch sizes differ", **{last: np.asarray(longer)})
    if images:
        small = base[images][:, 1:, 1:]
        broken("wrong image size", **{images: small})
        header = b"\x89PNG\r\n\x1a\n"
        broken("encoded bytes for pixels", **{images: [header * 8] * batch})
    if audio:
        broken("NaN audio", **{audio: np.full_like(base[audio], np.nan)})
        broken("infinite audio", **{audio: np.full_like(base[audio], np.inf)})
    if text:
        huge = ["red " * 250_000] + list(base[text][1:])
        broken("huge string", **{text: huge})
        invalid = [b"\xff\xfe\xfd caf\xc3"] + list(base[text][1:])
        broken("invalid UTF-8", **{text: invalid})
    if server.encoded:
        jpeg = server.encode(base[images][0], jpeg=True)
        for kind, data in (
            ("not an image", b"not an image"),
            ("empty image bytes", b""),
            ("huge image bytes", b"\xff\xd8\xff" + bytes(8 * 2**20)),
            ("truncated JPEG", jpeg[: len(jpeg) // 2]),
        ):
            broken(kind, "encoded_images", **{images: [data] * batch})
    return requests


def same_answer(a, b):
    if a is None or b is None or set(a) != set(b):
        return False
    for key in a:
        x, y = np.asarray(a[key]), np.asarray(b[key])
        if x.shape != y.shape:
            return False
        if x.dtype.kind == "f":
            if not np.allclose(x, y, rtol=1e-5, atol=1e-6, equal_nan=True):
                return False
        elif not np.array_equal(x, y):
            return False
    return True


def serve(args):
    """The serving process: prints `RESULT {json}`."""
    format, path = args.serve
    rng = np.random.default_rng(args.seed)
    if format == "saved_model":
        server = SavedModelServer(path)
    else:
        server = LiteRTServer(path, lock=not args.no_lock)
    pool = [
        valid_request(
            server, rng, args.audio_samples, server.encoded and i % 4 == 3
        )
        for i in range(POOL)
    ]
    # Alone, one at a time: the answers the load must reproduce (and a
    # warm-up).
    reference = [server(*request) for request in pool]
    distinct = {json.dumps(_plain(answer)) for answer in reference}
    malformed = malformed_requests(server, pool[0][1])
    requests = [("valid", i % POOL) for i in range(args.requests)]
    requests += [(kind, None) for kind in malformed] * args.malformed
    order = rng.permutation(len(requests))
    requests = [requests[i] for i in order]
    results = [None] * len(requests)
    counter = itertools.count()
    log = os.open(args.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def client():
        while (i := next(counter)) < len(requests):
            kind, j = requests[i]
            request = pool[j] if kind == "valid" else malformed[kind]
            os.write(log, f"start {i} {kind}\n".encode())
            start = time.perf_counter()
            try:
                answer, error = server(*request), None
            except Exception as e:  # Whatever the server raises.
                answer, error = None, type(e).__name__
            results[i] = (time.perf_counter() - start, answer, error)
            os.write(log, f"end {i}\n".encode())

    start = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(args.threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    after = same_answer(server(*pool[1]), reference[1])
    os.close(log)

    latencies, errors, wrong = [], collections.Counter(), 0
    outcomes = {
        kind: {"sent": 0, "rejected": 0, "answered": 0, "errors": []}
        for kind in malformed
    }
    for (kind, j), (latency, answer, error) in zip(requests, results):
        if kind == "valid":
            latencies.append(latency)
            if error:
                errors[error] += 1
            elif not same_answer(answer, reference[j]):
                wrong += 1
            continue
        outcome = outcomes[kind]
        outcome["sent"] += 1
        outcome["rejected" if error else "answered"] += 1
        if error and error not in outcome["errors"]:
            outcome["errors"].append(error)
    latencies = np.array(latencies) * 1000
    result = {
        "valid": len(latencies),
        "valid_failed": sum(errors.values()) + wrong,
        "valid_errors": dict(errors),
        "wrong_answers": wrong,
        "distinct_answers": len(distinct),
        "p50_ms": float(np.percentile(latencies, 50)) if len(latencies) else 0,
        "p99_ms": float(np.percentile(latencies, 99)) if len(latencies) else 0,
        "requests_per_s": len(latencies) / seconds,
        "seconds": seconds,
        "malformed": outcomes,
        "answers_after": after,
        "keras_mm_imported": "keras_mm" in sys.modules,
    }
    print("RESULT", json.dumps(result), flush=True)


def _plain(answer):
    return {
        k: np.round(np.asarray(v, float), 4).tolist()
        if np.asarray(v).dtype.kind in "fiub"
        else [str(x) for x in np.ravel(v)]
        for k, v in sorted(answer.items())
    }


# The parent: runs one serving process per task and format.


def run(task, format, path, args, directory):
    """One serving process; a crash is reported, not raised."""
    name = task.replace(" ", "_")
    log = os.path.join(directory, f"{name}.{format}.log")
    command = [sys.executable, "-m", "benchmarks.serving_load"]
    command += ["--serve", format, path, "--log", log]
    command += ["--requests", str(args.requests)]
    command += ["--malformed", str(args.malformed)]
    command += ["--threads", str(args.threads), "--seed", str(args.seed)]
    command += ["--audio-samples", str(int(SAMPLE_RATE * MAX_DURATION))]
    command += ["--no-lock"] if args.no_lock else []
    env = dict(os.environ, KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    process = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True
    )
    lines = [x for x in process.stdout.splitlines() if x.startswith("RESULT ")]
    row = {"returncode": process.returncode}
    if process.returncode == 0 and lines:
        row.update(json.loads(lines[-1].split(" ", 1)[1]))
        row["survived"], row["in_flight_at_crash"] = True, []
        return row
    # Died: the requests it had started and not finished.
    started = {}
    if os.path.exists(log):
        with open(log) as f:
            for line in f:
                event, i, *kind = line.split(" ", 2)
                if event == "start":
                    started[i] = kind[0].strip()
                else:
                    started.pop(i.strip(), None)
    row.update(
        survived=False,
        answers_after=False,
        in_flight_at_crash=sorted(started.values()),
        stderr=process.stderr[-2000:],
    )
    return row


def malformed_counts(row):
    """Malformed requests rejected, answered, and in flight at a crash."""
    outcomes = row.get("malformed", {}).values()
    return (
        sum(o["rejected"] for o in outcomes),
        sum(o["answered"] for o in outcomes),
        sum(kind != "valid" for kind in row["in_flight_at_crash"]),
    )


def table(rows):
    lines = [
        "| task | served by | valid requests | p50 | p99 | valid requests/s "
        "| valid failed | malformed: rejected / answered / in flight at a "
        "crash | process alive, answers after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        rejected, answered, crashed = malformed_counts(row)
        if row["survived"]:
            figures = (
                f"{row['valid']} | {row['p50_ms']:.1f} ms | "
                f"{row['p99_ms']:.1f} ms | {row['requests_per_s']:.0f} | "
                f"{row['valid_failed']}"
            )
            malformed = f"{rejected} / {answered} / 0"
            alive = "yes" if row["answers_after"] else "alive, wrong answer"
        else:
            figures = "- | - | - | - | -"
            malformed = f"- / - / {crashed}"
            valid = row["in_flight_at_crash"].count("valid")
            alive = (
                f"no: died (exit code {row['returncode']}), {valid} valid "
                "requests in flight"
            )
        lines.append(
            f"| {row['task']} | {SERVED_BY[row['format']]} | {figures} | "
            f"{malformed} | {alive} |"
        )
    return "\n".join(lines)


def outcome_table(rows):
    """What each malformed kind got, per task and format."""
    rows = [row for row in rows if row["survived"]]
    kinds = list(dict.fromkeys(k for row in rows for k in row["malformed"]))
    header = " | ".join(
        f"{row['task']}, {row['format'].replace('_', ' ')}" for row in rows
    )
    lines = [
        f"| malformed request | {header} |",
        "|---" * (len(rows) + 1) + "|",
    ]
    for kind in kinds:
        cells = []
        for row in rows:
            outcome = row["malformed"].get(kind)
            if outcome is None:
                cells.append("-")
            elif outcome["answered"] == 0:
                cells.append(f"rejected: {', '.join(outcome['errors'])}")
            elif outcome["rejected"] == 0:
                cells.append("answered")
            else:
                cells.append(
                    f"{outcome['rejected']} rejected, "
                    f"{outcome['answered']} answered"
                )
        lines.append(f"| {kind} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--requests",
        type=int,
        default=2000,
        help="valid requests per task and format",
    )
    parser.add_argument(
        "--malformed",
        type=int,
        default=5,
        help="requests of each malformed kind per task and format",
    )
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-lock",
        action="store_true",
        help="serve .tflite files with LiteRTModel's lock removed",
    )
    parser.add_argument("--output", help="a JSON file for the results")
    # The serving processes' own arguments.
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--audio-samples", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        return serve(args)
    tasks = [t for t in args.tasks.split(",") if t]
    formats = [f for f in args.formats.split(",") if f]
    unknown = sorted(set(tasks) - set(TASKS)) + sorted(
        set(formats) - set(FORMATS)
    )
    if unknown:
        parser.error(f"unknown tasks or formats {unknown}")
    directory = tempfile.mkdtemp(prefix="keras_mm_serving_")
    rows = []
    for task in tasks:
        start = time.perf_counter()
        paths = export(task, directory)
        print(
            f"Exported the {task} in {time.perf_counter() - start:.0f} s.",
            flush=True,
        )
        for format in formats:
            row = {"task": task, "format": format}
            row.update(run(task, format, paths[format], args, directory))
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
    print()
    print(table(rows))
    print()
    print(outcome_table(rows))
    if args.output:
        with open(args.output, "w") as f:
            json.dump(rows, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
