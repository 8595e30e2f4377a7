"""How much of the machine a keras_mm training step uses.

For each model, in a process of its own: the median time of a training
step (`train_on_batch` on a random batch of the model's own inputs, already
on the device, so the data pipeline is not timed here), peak memory, and
the step's FLOPs over its time against the machine's matrix-multiply peak,
measured in the same run (`keras.ops.matmul` of two square matrices in the
compute dtype).

FLOPs are XLA's count of the compiled training step (forward, backward and
optimizer update: `cost_analysis` of JAX's lowering), made in a JAX process
on the CPU whatever the backend timed, since the count does not depend on
it (under JAX on the CPU, in the timing process itself).

Models: `captioner`, `keras_mm.build_captioner` over an image encoder with
its default decoder (2 layers, hidden 128, 20 tokens, 1,000 words); and
`classifier`, `keras_mm.build_classifier` over the same image encoder and
`transformer_small` text (32 tokens), cross-attention fusion, 3 classes.

    KERAS_BACKEND=jax python -m benchmarks.hardware_benchmark
    KERAS_BACKEND=tensorflow python -m benchmarks.hardware_benchmark

On a GPU, ViT-Ti/16 at 224 px, batch 256, bfloat16 (one command per
backend; PyTorch runs these models too):

    KERAS_BACKEND=jax python -m benchmarks.hardware_benchmark --gpu
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import keras
import numpy as np

import keras_mm

MODELS = ("captioner", "classifier")
VOCABULARY = ["[PAD]", "[UNK]", "[START]", "[END]"] + [
    f"word{i}" for i in range(996)
]


def build(name, backbone, image_size):
    """One of `MODELS`, compiled, under the global dtype policy."""
    encoder = keras_mm.encoders.image(
        backbone, image_shape=(image_size, image_size, 3)
    )
    if name == "captioner":
        return keras_mm.build_captioner(encoder=encoder, vocabulary=VOCABULARY)
    text = keras_mm.encoders.text(
        "transformer_small", vocabulary=VOCABULARY, sequence_length=32
    )
    return keras_mm.build_classifier(
        {"images": encoder, "text": text},
        num_classes=3,
        fusion="cross_attention",
    )


def random_batch(model, batch_size, image_size, seed=0):
    """`(x, y, sample_weight)`: NumPy arrays shaped like the model's own
    inputs (what its data pipeline would give) and targets."""
    rng = np.random.default_rng(seed)

    def make(spec):
        if len(spec.shape) == 4:
            shape = (batch_size, image_size, image_size, spec.shape[-1])
            return rng.uniform(0, 255, shape).astype("float32")
        shape = (batch_size,) + tuple(spec.shape[1:])
        if spec.dtype == "bool":
            return np.ones(shape, bool)
        return rng.integers(4, len(VOCABULARY), shape).astype(spec.dtype)

    x = keras.tree.map_structure(make, model.input)
    if len(model.output.shape) == 3:  # Next-token targets of a captioner.
        y = rng.integers(
            4, len(VOCABULARY), (batch_size,) + x["token_ids"].shape[1:]
        )
        return x, y.astype("int32"), np.ones(y.shape, "float32")
    num_classes = model.output.shape[-1]
    y = rng.integers(0, num_classes, (batch_size,)).astype("int32")
    return x, y, None


def to_device(tree):
    return keras.tree.map_structure(
        lambda a: None if a is None else keras.ops.convert_to_tensor(a), tree
    )


def step_times(model, batch, steps, repeats):
    """Median and all per-repeat ms per `train_on_batch` step; each step
    returns its loss as a Python float, so it has finished when timed."""
    x, y, sample_weight = batch
    for _ in range(2):  # Compiles, then runs once compiled.
        keras.Model.train_on_batch(model, x, y, sample_weight=sample_weight)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            keras.Model.train_on_batch(model, x, y, sample_weight=sample_weight)
        times.append((time.perf_counter() - start) * 1000 / steps)
    return statistics.median(times), times


def matmul_peak(dtype, size, repeats=10):
    """FLOP/s of `keras.ops.matmul` of two `size` x `size` matrices."""
    rng = np.random.default_rng(0)
    a, b = (
        keras.ops.convert_to_tensor(
            rng.standard_normal((size, size)).astype("float32"), dtype=dtype
        )
        for _ in range(2)
    )

    def run():
        # Reading one value back waits for the product to finish.
        return float(keras.ops.convert_to_numpy(keras.ops.matmul(a, b)[0, 0]))

    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def train_step_flops(model, batch):
    """XLA's FLOP count of the model's compiled training step (JAX)."""
    import jax

    # One step on two rows builds the optimizer and metrics; the full
    # batch is only lowered, never run.
    x, y, sample_weight = batch
    keras.Model.train_on_batch(
        model,
        *keras.tree.map_structure(lambda a: a[:2], (x, y)),
        sample_weight=None if sample_weight is None else sample_weight[:2],
    )
    state = (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
        [v.value for v in model.optimizer.variables],
        [v.value for v in model.metrics_variables],
    )
    lowered = jax.jit(model.train_step).lower(state, (x, y, sample_weight))
    cost = lowered.cost_analysis()
    if isinstance(cost, list):
        cost = cost[0]
    return float(cost["flops"])


def peak_memory_megabytes():
    """Peak memory of the accelerator, or this process' peak RSS on CPU."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.memory_stats()["peak_bytes_in_use"] / 2**20
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.max_memory_allocated() / 2**20
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            return (
                tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20
            )
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def device_name():
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        device = jax.devices()[0]
        if device.platform != "cpu":
            return device.device_kind
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name()
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            return tf.config.experimental.get_device_details(gpus[0]).get(
                "device_name", "GPU"
            )
    return f"CPU ({os.cpu_count()} cores, {platform.machine()})"


def measure(args):
    """One model in this process: a result dict."""
    keras.config.set_dtype_policy(args.precision)
    model = build(args.models[0], args.backbone, args.image_size)
    batch = random_batch(model, args.batch_size, args.image_size)
    if args.count_flops:
        return {"flops": train_step_flops(model, batch)}
    compute_dtype = keras.config.dtype_policy().compute_dtype
    median, times = step_times(
        model, to_device(batch), args.steps, args.repeats
    )
    peak = matmul_peak(compute_dtype, args.matmul_size)
    row = {
        "backend": keras.config.backend(),
        "device": device_name(),
        "model": args.models[0],
        "backbone": args.backbone,
        "image_size": args.image_size,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "parameters": model.count_params(),
        "ms_per_step": median,
        "ms_per_step_all": times,
        "examples_per_second": args.batch_size * 1000 / median,
        "matmul_peak_flops": peak,
        "peak_memory_mb": peak_memory_megabytes(),
    }
    if keras.config.backend() == "jax":
        import jax

        if jax.default_backend() == "cpu":
            # Already a JAX process on the CPU: count here, not in another.
            row["flops"] = train_step_flops(model, batch)
    return row


def _child(argv, env=None):
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.hardware_benchmark", *argv],
        capture_output=True,
        text=True,
        env=env,
    )
    if result.returncode:
        raise RuntimeError(
            f"hardware_benchmark {' '.join(argv)} failed:\n"
            + result.stderr[-4000:]
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows):
    lines = [
        "| backend | device | model | precision | batch | ms/step "
        "| examples/s | GFLOP/step | TFLOP/s | matmul peak TFLOP/s "
        "| share of peak | peak memory MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['backend']} | {r['device']} | {r['model']} "
            f"| {r['precision']} | {r['batch_size']} "
            f"| {r['ms_per_step']:.1f} | {r['examples_per_second']:.1f} "
            f"| {r['flops'] / 1e9:.1f} | {r['achieved_flops'] / 1e12:.3f} "
            f"| {r['matmul_peak_flops'] / 1e12:.3f} "
            f"| {r['share_of_peak']:.1%} | {r['peak_memory_mb']:.0f} |"
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--backbone", default="vit_tiny")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument(
        "--gpu",
        action="store_true",
        help="ViT-Ti/16 at 224 px, batch 256, mixed_bfloat16, 8192 matmul",
    )
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--json", default=None)
    parser.add_argument(
        "--flops-cache",
        default=None,
        help="JSON file of FLOP counts by model and size, read and extended",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--count-flops", action="store_true", help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.gpu:
        args.image_size, args.batch_size = 224, 256
        args.precision, args.matmul_size = "mixed_bfloat16", 8192
        args.steps, args.repeats = 10, 5
    if args.tiny:
        args.backbone, args.image_size, args.batch_size = "cnn_small", 32, 2
        args.steps, args.repeats, args.matmul_size = 1, 1, 64
    args.models = args.models.split(",")
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown models {unknown}; allowed: {list(MODELS)}")
    if args.child or args.count_flops:
        print(json.dumps(measure(args)))
        return None
    shared = [
        f"--backbone={args.backbone}",
        f"--image-size={args.image_size}",
        f"--batch-size={args.batch_size}",
        f"--precision={args.precision}",
        f"--steps={args.steps}",
        f"--repeats={args.repeats}",
        f"--matmul-size={args.matmul_size}",
    ]
    # FLOPs are counted by JAX on the CPU, beside whatever backend runs.
    count_env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    cache = {}
    if args.flops_cache and os.path.exists(args.flops_cache):
        with open(args.flops_cache) as f:
            cache = json.load(f)
    rows = []
    for name in args.models:
        row = _child([f"--models={name}", "--child", *shared])
        key = "/".join(
            str(v)
            for v in (name, args.backbone, args.image_size)
            + (args.batch_size, args.precision)
        )
        if key not in cache and "flops" in row:
            cache[key] = row["flops"]
        if key not in cache:
            cache[key] = _child(
                [f"--models={name}", "--count-flops", *shared], count_env
            )["flops"]
        if args.flops_cache:
            with open(args.flops_cache, "w") as f:
                json.dump(cache, f, indent=2)
        row["flops"] = cache[key]
        seconds = row["ms_per_step"] / 1000
        row["achieved_flops"] = row["flops"] / seconds
        row["share_of_peak"] = row["achieved_flops"] / row["matmul_peak_flops"]
        rows.append(row)
        print(table([row]).splitlines()[-1], flush=True)
    print(
        f"\nKeras {keras.__version__}, {keras.config.backend()}, "
        f"{args.backbone} at {args.image_size} px, median of "
        f"{args.repeats} x {args.steps} steps\n"
    )
    print(table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)
    return rows


if __name__ == "__main__":
    main()
