"""Training speed and memory of keras_mm's three tasks on an accelerator.

For each task, in this process, under the backend that `KERAS_BACKEND`
names and the `mixed_bfloat16` policy: a model of GPU size is built and
trained with its own `fit` on random raw inputs (uint8 images, strings,
waveforms), which its `tf.data` pipeline tokenises and pads, for
`--warmup` steps (the first compiles the training step) and then
`--steps` timed steps, each from the start to the end of its batch (the
wait for the prefetched batch, the copy to the device, the step and the
read of its loss).

Tasks: `classifier` (`--image-backbone` images + `transformer_small` text,
cross-attention fusion, 3 classes), `captioner` (the same image encoder
and a Transformer decoder) and `recognizer` (`build_speech_recognizer`:
log-mel front end, conv, bidirectional GRUs, CTC). `--hidden-dim`,
`--num-layers` and `--num-heads` size the text encoder, the decoder and
the GRUs.

Reported per task:

- ms/step: the median over the timed steps; examples/s: batch / that.
- Pipeline examples/s: what the same `tf.data` pipeline delivers alone,
  over as many batches. Near examples/s, the steps wait for data.
- FLOPs per step: XLA's count of the training step (forward, backward,
  update: `cost_analysis` of JAX's lowering). XLA does not multiply a
  loop's body by its iterations, so the GRUs are unrolled for the count
  (the CTC loss' loop, a few elementwise FLOPs a step, is not). Under JAX
  it is counted in this process; under TensorFlow it is read from a JAX
  run's JSON (`--flops-from`): the count depends on the model and the
  batch, not on the backend.
- MFU: FLOPs per step / step time / the device's dense bf16 peak (table
  `PEAK_TFLOPS`, or `--peak-tflops`). XLA's count includes elementwise
  operations, which the peak (tensor cores) does not serve.
- Peak GPU memory: TensorFlow's allocator peak for the task
  (`get_memory_info`, reset before each task); under JAX, the process'
  allocator peak (`memory_stats()["peak_bytes_in_use"]`, not the pool
  JAX reserves at start), which JAX cannot reset: exact where the task
  raised it, otherwise an upper bound, marked `<=` (run one `--tasks` per
  process for exact figures).

Under JAX, TensorFlow (which runs the `tf.data` pipeline) is kept off the
GPUs before it runs anything, so it reserves no GPU memory; the run fails
if TensorFlow still sees a GPU after training.

Both backends, one process each, about 8 minutes on one GPU; the JSON goes
to the directory given, here `$OUT`:

    bash benchmarks/gpu_check.sh "$OUT"

One backend:

    KERAS_BACKEND=jax python -m benchmarks.gpu_check --output jax.json
    KERAS_BACKEND=tensorflow python -m benchmarks.gpu_check \\
        --flops-from jax.json --output tensorflow.json

On a CPU, `--smoke` runs tiny models in seconds (GPU columns n/a):

    bash benchmarks/gpu_check.sh /tmp/gpu_check --smoke
"""

import argparse
import gc
import json
import re
import statistics
import sys
import time
import traceback

import keras
import numpy as np
import tensorflow as tf

import keras_mm
from benchmarks.hardware_benchmark import VOCABULARY
from benchmarks.hardware_benchmark import device_name
from benchmarks.overhead_benchmark import StepTimer

TASKS = ("classifier", "captioner", "recognizer")
ALPHABET = list("abcdefghijklmnopqrstuvwxyz '")
# Dense (no sparsity) bf16 tensor-core peaks, TFLOP/s, first match wins.
# T4 and V100 have no bf16 units: their fp16 peak is given.
PEAK_TFLOPS = (
    (r"H100.*PCIe", 756.0),
    (r"H100|H200", 989.0),
    (r"A100", 312.0),
    (r"\bL4\b", 121.0),
    (r"\bT4\b", 65.0),
    (r"V100", 125.0),
)
GPU_SIZES = {
    "image_backbone": "vit_tiny",
    "image_size": 224,
    "batch_size": 256,
    "vocabulary_size": 1000,
    "sequence_length": 32,
    "hidden_dim": 256,
    "num_layers": 3,
    "num_heads": 4,
    "sample_rate": 16000,
    "max_duration": 4.0,
    "num_mel_bins": 80,
    "filters": 32,
    "warmup": 2,
    "steps": 30,
}
SMOKE_SIZES = {
    "image_backbone": "cnn_small",
    "image_size": 32,
    "batch_size": 4,
    "vocabulary_size": 40,
    "sequence_length": 8,
    "hidden_dim": 16,
    "num_layers": 1,
    "num_heads": 2,
    "sample_rate": 8000,
    "max_duration": 0.5,
    "num_mel_bins": 16,
    "filters": 4,
    "warmup": 1,
    "steps": 2,
}


# === Devices ===
def keep_tensorflow_off_gpus():
    """Under JAX, hides the GPUs from TensorFlow before it runs anything:
    `tf.data` then holds no GPU memory. Returns the GPUs TensorFlow may
    use."""
    if keras.config.backend() != "tensorflow":
        tf.config.set_visible_devices([], "GPU")
    return [d.name for d in tf.config.get_visible_devices("GPU")]


def on_gpu():
    if keras.config.backend() == "jax":
        import jax

        return jax.devices()[0].platform == "gpu"
    return bool(tf.config.list_logical_devices("GPU"))


def peak_tflops(name, override):
    """`(TFLOP/s, where it comes from)`, or `(None, why)`."""
    if override:
        return override, "--peak-tflops"
    for pattern, tflops in PEAK_TFLOPS:
        if re.search(pattern, name):
            return tflops, f"table entry {pattern!r}"
    return None, f"no bf16 peak known for {name!r}: pass --peak-tflops"


def reset_peak_memory():
    """Before a task: the process' peak so far in bytes (JAX), or `None`."""
    if not on_gpu():
        return None
    if keras.config.backend() == "tensorflow":
        tf.config.experimental.reset_memory_stats("GPU:0")
        return None
    import jax

    return jax.devices()[0].memory_stats()["peak_bytes_in_use"]


def peak_memory(before):
    """After a task: `(peak MiB, exact)`, or `(None, None)` off a GPU."""
    if not on_gpu():
        return None, None
    if keras.config.backend() == "tensorflow":
        info = tf.config.experimental.get_memory_info("GPU:0")
        return info["peak"] / 2**20, True
    import jax

    peak = jax.devices()[0].memory_stats()["peak_bytes_in_use"]
    return peak / 2**20, peak > before or before == 0


# === Models and data ===
def build(task, args):
    """A compiled model for `task` under the global dtype policy."""
    vocabulary = VOCABULARY[: args.vocabulary_size]
    if task == "recognizer":
        return keras_mm.build_speech_recognizer(
            ALPHABET,
            sample_rate=args.sample_rate,
            max_duration=args.max_duration,
            num_mel_bins=args.num_mel_bins,
            hidden_dim=args.hidden_dim,
            num_layers=args.num_layers,
            filters=args.filters,
        )
    image = keras_mm.encoders.image(
        args.image_backbone, image_shape=(args.image_size, args.image_size, 3)
    )
    if task == "captioner":
        return keras_mm.build_captioner(
            encoder=image,
            vocabulary=vocabulary,
            sequence_length=args.sequence_length,
            num_layers=args.num_layers,
            num_heads=args.num_heads,
            hidden_dim=args.hidden_dim,
        )
    text = keras_mm.encoders.text(
        "transformer_small",
        vocabulary=vocabulary,
        sequence_length=args.sequence_length,
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        num_heads=args.num_heads,
    )
    return keras_mm.build_classifier(
        {"images": image, "text": text},
        num_classes=3,
        fusion="cross_attention",
        hidden_dim=args.hidden_dim,
    )


def raw_dataset(task, args, num_rows, seed=0):
    """A repeated `tf.data.Dataset` of batches of `num_rows` random raw
    examples, as `fit` takes them: `(inputs, labels)`, or inputs alone
    (captioner)."""
    rng = np.random.default_rng(seed)
    words = np.array(VOCABULARY[4 : args.vocabulary_size])

    def sentences(length):
        return [" ".join(rng.choice(words, length)) for _ in range(num_rows)]

    if task == "recognizer":
        samples = int(args.sample_rate * args.max_duration)
        audio = 0.1 * rng.standard_normal((num_rows, samples))
        # A character every ~3 frames of 40 ms: CTC can align them.
        length = max(1, int(args.max_duration / 0.04) // 3)
        letters = np.array(ALPHABET[:26])
        transcripts = [
            "".join(rng.choice(letters, length)) for _ in range(num_rows)
        ]
        data = (audio.astype("float32"), transcripts)
    else:
        shape = (num_rows, args.image_size, args.image_size, 3)
        images = rng.integers(0, 256, shape).astype("uint8")
        # Full captions and texts: every token position is used.
        text = sentences(args.sequence_length)
        x = {"images": images, "text": text}
        if task == "captioner":
            data = x
        else:
            data = (x, rng.integers(0, 3, num_rows).astype("int32"))
    dataset = tf.data.Dataset.from_tensor_slices(data)
    return dataset.repeat().batch(args.batch_size)


def fit_steps(model, dataset, warmup, steps):
    """Seconds of each of the last `steps` training steps of one `fit`
    call of `warmup + steps` (the first compiles), and the last loss."""
    timer = StepTimer()
    model.fit(
        dataset,
        steps_per_epoch=warmup + steps,
        epochs=1,
        verbose=0,
        callbacks=[timer],
    )
    if len(timer.seconds) != warmup + steps:
        raise AssertionError(
            f"{len(timer.seconds)} steps ran, not {warmup + steps}."
        )
    return timer.seconds[warmup:], timer.losses[-1]


def pipeline_rate(model, dataset, batches):
    """Examples per second out of the pipeline `fit` builds (raw batches
    mapped by the model's preprocessor), alone."""
    iterator = iter(model._dataset(dataset, None, None, None))
    first = next(iterator)  # Builds the pipeline and fills the prefetch.
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    seconds = time.perf_counter() - start
    return batches * len(keras.tree.flatten(first)[0]) / seconds


# === FLOPs ===
def train_step_flops(model, dataset):
    """XLA's FLOP count of the model's training step on one batch of
    `dataset` (JAX, after `fit` built the optimizer), RNNs unrolled."""
    import jax

    # The pipeline `fit` builds: raw batches mapped by the preprocessor.
    pipeline = model._dataset(dataset, None, None, None)
    batch = keras.tree.map_structure(np.asarray, next(iter(pipeline)))
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    rnns = [
        layer
        for layer in model._flatten_layers()
        if isinstance(layer, keras.layers.RNN) and not layer.unroll
    ]
    try:
        for layer in rnns:
            layer.unroll = True
        # A new function: JAX traces it afresh, with the RNNs unrolled.
        lowered = jax.jit(lambda *a: model.train_step(*a)).lower(state, batch)
    finally:
        for layer in rnns:
            layer.unroll = False
    cost = lowered.cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return float(cost["flops"])


def read_flops(path):
    """FLOPs per step by task from a JAX run's JSON, with the sizes and
    batch they were counted at."""
    with open(path) as f:
        run = json.load(f)
    return {
        row["task"]: (row["flops_per_step"], run["sizes"])
        for row in run["rows"]
        if row.get("flops_per_step")
    }


# === One task ===
def measure(task, args, sizes, flops_from):
    row = {"task": task, "batch_size": args.batch_size}
    before = reset_peak_memory()
    model = build(task, args)
    row["model"] = type(model).__name__
    row["parameters"] = model.count_params()
    dataset = raw_dataset(task, args, 2 * args.batch_size)
    seconds, loss = fit_steps(model, dataset, args.warmup, args.steps)
    median = statistics.median(seconds)
    row.update(
        ms_per_step=1000 * median,
        ms_per_step_all=[1000 * s for s in seconds],
        examples_per_second=args.batch_size / median,
        pipeline_examples_per_second=pipeline_rate(model, dataset, args.steps),
        last_loss=loss,
        jit_compile=bool(model.jit_compile),
    )
    row["peak_memory_mib"], row["peak_memory_exact"] = peak_memory(before)
    if keras.config.backend() == "jax":
        row["flops_per_step"] = train_step_flops(model, dataset)
        row["flops_source"] = "XLA cost analysis, this run"
    elif task in flops_from and flops_from[task][1] == sizes:
        row["flops_per_step"] = flops_from[task][0]
        row["flops_source"] = f"XLA cost analysis, {args.flops_from}"
    else:
        row["flops_per_step"] = None
        row["flops_source"] = "not counted: pass --flops-from, same sizes"
    del model
    keras.backend.clear_session()
    gc.collect()
    return row


# === Report ===
def table(run):
    lines = [
        "| backend | device | task | batch | ms/step | examples/s "
        "| pipeline examples/s "
        "| GFLOP/step | TFLOP/s | MFU | peak GPU memory MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in run["rows"]:
        if "error" in r:
            lines.append(
                f"| {run['backend']} | {run['device']} | {r['task']} "
                f"| {r['batch_size']} | {r['error']} "
                "| | | | | | |"
            )
            continue
        flops = r["flops_per_step"]
        memory = r["peak_memory_mib"]
        lines.append(
            f"| {run['backend']} | {run['device']} | {r['task']} "
            f"| {r['batch_size']} | {r['ms_per_step']:.1f} "
            f"| {r['examples_per_second']:.1f} "
            f"| {r['pipeline_examples_per_second']:.0f} "
            + (f"| {flops / 1e9:.3g} " if flops else "| n/a ")
            + (
                f"| {r['tflops_per_second']:.3g} "
                if r["tflops_per_second"] is not None
                else "| n/a "
            )
            + (f"| {r['mfu']:.1%} " if r["mfu"] is not None else "| n/a ")
            + (
                "| n/a |"
                if memory is None
                else f"| {'' if r['peak_memory_exact'] else '<= '}"
                f"{memory:.0f} |"
            )
        )
    return "\n".join(lines)


def write(run, path):
    if path:
        with open(path, "w") as f:
            json.dump(run, f, indent=2)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument(
        "--smoke", action="store_true", help="tiny models, for a CPU"
    )
    for key, value in GPU_SIZES.items():
        parser.add_argument(
            "--" + key.replace("_", "-"),
            type=type(value),
            default=None,
            help=f"default {value}, {SMOKE_SIZES[key]} with --smoke",
        )
    parser.add_argument("--precision", default="mixed_bfloat16")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument(
        "--flops-from", default=None, help="a JAX run's JSON (TensorFlow)"
    )
    parser.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="seconds; a task that would end past it is skipped",
    )
    parser.add_argument("--output", default=None, help="JSON file")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    sizes = SMOKE_SIZES if args.smoke else GPU_SIZES
    for key, value in sizes.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    tasks = args.tasks.split(",")
    unknown = sorted(set(tasks) - set(TASKS))
    if unknown:
        parser.error(f"unknown tasks {unknown}; allowed: {list(TASKS)}")
    if keras.config.backend() not in ("jax", "tensorflow"):
        parser.error(
            f"KERAS_BACKEND must be jax or tensorflow, not "
            f"{keras.config.backend()!r}"
        )
    tensorflow_gpus = keep_tensorflow_off_gpus()
    keras.mixed_precision.set_global_policy(args.precision)
    device = device_name()
    if not on_gpu() and not args.smoke:
        parser.error(
            f"no GPU visible to {keras.config.backend()} ({device}): "
            "GPU-size models would take too long here; pass --smoke"
        )
    peak, peak_source = peak_tflops(device, args.peak_tflops)
    if not on_gpu() and not args.peak_tflops:
        peak, peak_source = None, "no GPU: pass --peak-tflops for a CPU"
    run = {
        "backend": keras.config.backend(),
        "device": device,
        "keras": keras.__version__,
        "precision": args.precision,
        "peak_tflops": peak,
        "peak_source": peak_source,
        "tensorflow_visible_gpus": tensorflow_gpus,
        "sizes": {key: getattr(args, key) for key in GPU_SIZES},
        "rows": [],
    }
    write(run, args.output)
    flops_from = read_flops(args.flops_from) if args.flops_from else {}
    longest = 0.0
    for task in tasks:
        elapsed = time.perf_counter() - start
        if args.time_budget and elapsed + longest > args.time_budget:
            run["rows"].append(
                {
                    "task": task,
                    "batch_size": args.batch_size,
                    "error": f"skipped: {elapsed:.0f} s of the "
                    f"{args.time_budget:.0f} s budget spent",
                }
            )
            continue
        task_start = time.perf_counter()
        try:
            row = measure(task, args, run["sizes"], flops_from)
        except Exception as error:
            row = {
                "task": task,
                "batch_size": args.batch_size,
                "error": f"{type(error).__name__}: {str(error)[:200]}",
                "traceback": traceback.format_exc(),
            }
            print(row["traceback"], file=sys.stderr, flush=True)
        else:
            seconds = row["ms_per_step"] / 1000
            flops = row["flops_per_step"]
            row["tflops_per_second"] = flops / seconds / 1e12 if flops else None
            row["mfu"] = (
                row["tflops_per_second"] / peak
                if row["tflops_per_second"] and peak
                else None
            )
        row["seconds"] = time.perf_counter() - task_start
        longest = max(longest, row["seconds"])
        run["rows"].append(row)
        write(run, args.output)  # What a killed run leaves behind.
        print(table({**run, "rows": [row]}).splitlines()[-1], flush=True)
    # tf.data ran beside JAX: TensorFlow must still see no GPU.
    run["tensorflow_gpus_after"] = [
        d.name for d in tf.config.list_logical_devices("GPU")
    ]
    write(run, args.output)
    print(
        f"\nKeras {keras.__version__}, {run['backend']} on {device}, "
        f"{args.precision}; bf16 peak: "
        + (f"{peak:.0f} TFLOP/s ({peak_source})" if peak else peak_source)
        + f"; median of {args.steps} steps after {args.warmup} warm-up; "
        f"{time.perf_counter() - start:.0f} s\n"
    )
    print(table(run))
    if run["backend"] != "tensorflow" and run["tensorflow_gpus_after"]:
        raise RuntimeError(
            "TensorFlow sees GPUs beside "
            f"{run['backend']}: {run['tensorflow_gpus_after']}"
        )
    if any("error" in row for row in run["rows"]):
        raise SystemExit(1)
    return run


if __name__ == "__main__":
    main()
