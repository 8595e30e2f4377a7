"""Several devices: correctness on simulated devices (not speed).

Each task trains, evaluates and predicts twice from the same seed on the
same global batches, once on one device and once on several, and the
largest absolute difference between the two runs is reported for every
result:

- under JAX, 4 simulated CPU devices
  (`XLA_FLAGS=--xla_force_host_platform_device_count=4`) under
  `keras.distribution.DataParallel`, for the README's image+text classifier
  (`fit`, `evaluate`, `predict`), a captioner (the same and `generate`) and
  a CTC speech recognizer (the same and `transcribe`); and a 2 x 2 mesh
  (`DeviceMesh((2, 2), ["batch", "model"])`) under
  `keras.distribution.ModelParallel` with `keras_mm.distribution.layout_map`,
  for a classifier over a small ViT and a Transformer text encoder;
- under TensorFlow, 2 logical CPUs under `tf.distribute.MirroredStrategy`,
  for the same three tasks.

`predict`, `generate` and `transcribe` get a number of rows that the
devices do not divide (37, 6 and 6), which keras_mm pads for them. Each
run is a child process, since the devices must be set before the backend
starts; `tests/distribution_test.py` runs the same children.

    python -m benchmarks.distribution_check
"""

import json
import os
import subprocess
import sys

import numpy as np

DEVICES = {"jax": 4, "tensorflow": 2}
# A child starts the backend with its simulated devices, then runs `child`.
CHILD = """
import os, sys
backend = sys.argv[1]
os.environ["KERAS_BACKEND"] = backend
if backend == "tensorflow":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from benchmarks.distribution_check import child
child(backend)
"""
MARKER = "DISTRIBUTION_CHECK "


def data():
    import keras_mm

    scenes = keras_mm.datasets.scenes(num_samples=200, image_size=32, seed=0)
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.1, (16, 8000)).astype("float32")
    return scenes, audio


def build_classifier(scenes, dropout=0.1):
    """Image + text classifier: a one-layer ViT and a one-layer Transformer
    text encoder, concatenated."""
    import keras_hub

    import keras_mm

    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        name="vit",
    )
    vocab = keras_mm.encoders.text_vocabulary(scenes["train"]["statements"])
    text = keras_mm.encoders.text(
        "transformer_small",
        vocabulary=vocab,
        sequence_length=16,
        hidden_dim=16,
        num_layers=1,
        num_heads=2,
        dropout=dropout,
    )
    return keras_mm.build_classifier(
        {
            "images": keras_mm.encoders.image(vit, image_shape=(32, 32, 3)),
            "text": text,
        },
        num_classes=3,
        hidden_dim=16,
        dropout=dropout,
    )


def run_classifier(scenes, model):
    # Row counts that the batch size divides, so that each method compiles
    # once; `predict` gets 30 rows, which keras_mm pads for 4 devices.
    train, test = scenes["train"], scenes["test"]
    history = model.fit(
        {"images": train["images"][:128], "text": train["statements"][:128]},
        train["labels"][:128],
        epochs=2,
        batch_size=32,
        verbose=0,
    )
    x_test = {"images": test["images"][:32], "text": test["statements"][:32]}
    return {
        "fit": history.history["loss"],
        "weights": [np.asarray(v.numpy()) for v in model.trainable_variables],
        "evaluate": model.evaluate(x_test, test["labels"][:32], verbose=0),
        "predict": model.predict(
            {k: v[:30] for k, v in x_test.items()}, verbose=0
        ),
    }


def run_tasks(scenes, audio, random_layers=True, optimizer=None):
    """Every task's results under the current distribution (or strategy
    scope), and the classifier. Without `random_layers`, the models have
    no dropout and no SpecAugment; `optimizer` (a function that makes
    one) replaces the tasks' Adam."""
    dropout = 0.1 if random_layers else 0.0
    import keras

    import keras_mm

    results = {}
    keras.utils.set_random_seed(0)
    classifier = build_classifier(scenes, dropout)
    if optimizer is not None:
        classifier.compile(optimizer=optimizer())
    results["classifier"] = run_classifier(scenes, classifier)

    keras.utils.set_random_seed(0)
    train, test = scenes["train"], scenes["test"]
    captioner = keras_mm.build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        keras_mm.encoders.text_vocabulary(train["captions"]),
        sequence_length=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        dropout=dropout,
    )
    if optimizer is not None:
        captioner.compile(optimizer=optimizer())
    history = captioner.fit(
        {"images": train["images"][:64], "text": train["captions"][:64]},
        epochs=1,
        batch_size=16,
        verbose=0,
    )
    x_test = {"images": test["images"][:16], "text": test["captions"][:16]}
    results["captioner"] = {
        "fit": history.history["loss"],
        "weights": [
            np.asarray(v.numpy()) for v in captioner.trainable_variables
        ],
        "evaluate": captioner.evaluate(x_test, verbose=0),
        "predict": captioner.predict(
            {k: v[:14] for k, v in x_test.items()}, verbose=0
        ),
        # 6 images: not a multiple of the devices.
        "generate": captioner.generate(test["images"][:6]),
    }

    keras.utils.set_random_seed(0)
    recognizer = keras_mm.build_speech_recognizer(
        vocabulary=list("ab "),
        sample_rate=8000,
        max_duration=1.0,
        num_mel_bins=16,
        hidden_dim=16,
        num_layers=1,
        filters=4,
        dropout=dropout,
        spec_augment=random_layers,
    )
    if optimizer is not None:
        recognizer.compile(optimizer=optimizer())
    transcripts = ["ab", "ba", "a b", "b"] * 4
    history = recognizer.fit(
        list(audio), transcripts, epochs=1, batch_size=8, verbose=0
    )
    results["recognizer"] = {
        "fit": history.history["loss"],
        "weights": [
            np.asarray(v.numpy()) for v in recognizer.trainable_variables
        ],
        "evaluate": recognizer.evaluate(
            list(audio[:8]), transcripts[:8], verbose=0
        ),
        "predict": recognizer.predict(list(audio[:6]), verbose=0),
        "transcribe": recognizer.transcribe(list(audio[:6])),
    }
    return results, classifier


def run_model_parallel(scenes, classifier, mesh):
    """The classifier's results under `ModelParallel` on `mesh`, with
    `keras_mm.distribution.layout_map` made from `classifier` (the same
    model, built on one device), and how its weights were split."""
    import keras

    import keras_mm

    layouts = keras_mm.distribution.layout_map(classifier, mesh)
    distribution = keras.distribution.ModelParallel(
        layout_map=layouts, batch_dim_name="batch"
    )
    with distribution.scope():
        keras.utils.set_random_seed(0)
        model = build_classifier(scenes)
        results = run_classifier(scenes, model)
    weights = model.trainable_variables
    size = sum(int(np.prod(v.shape)) for v in weights)
    shard = sum(
        int(np.prod(v.value.addressable_shards[0].data.shape)) for v in weights
    )
    layout = {
        "variables": len(weights),
        "split": sum("model" in str(v.value.sharding.spec) for v in weights),
        "weights_per_device": shard / size,
    }
    return results, layout


def difference(a, b):
    """The largest absolute difference of two results; for strings, the
    number of rows that differ."""
    if isinstance(a, list) and a and isinstance(a[0], str):
        differ = sum(x != y for x, y in zip(a, b, strict=True))
        return f"{differ} of {len(a)} differ"
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return max(difference(x, y) for x, y in zip(a, b, strict=True))
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    if a.shape != b.shape:
        raise ValueError(f"Shapes differ: {a.shape} and {b.shape}")
    return float(np.max(np.abs(a - b)))


def sgd():
    import keras

    return keras.optimizers.SGD(0.05)


def compare(one, several):
    return {
        task: {
            method: difference(value, several[task][method])
            for method, value in results.items()
        }
        for task, results in one.items()
    }


def child(backend):
    """Runs the check in this process (its devices already set) and prints
    its results after `MARKER`, as JSON.

    Under TensorFlow the models have no dropout and no SpecAugment, and
    train with SGD: each replica of a strategy draws its own random
    numbers, so those differ from one device's by design; and Adam's first
    steps move each weight by about its learning rate in the direction of
    its gradient's sign, which turns the float noise of gradients near
    zero into differences of that size (1e-3)."""
    import keras

    scenes, audio = data()
    random_layers = backend == "jax"
    optimizer = None if backend == "jax" else sgd
    one, classifier = run_tasks(scenes, audio, random_layers, optimizer)
    output = {"devices": DEVICES[backend]}
    if backend == "jax":
        devices = keras.distribution.list_devices()
        distribution = keras.distribution.DataParallel(devices=devices)
        with distribution.scope():
            several, model = run_tasks(scenes, audio)
        output["data_parallel"] = compare(one, several)
        # The devices that hold the weights: all of them, if the
        # distribution took effect.
        variable = model.trainable_variables[0]
        output["data_parallel_devices"] = len(
            variable.value.sharding.device_set
        )
        mesh = keras.distribution.DeviceMesh(
            (2, 2), ["batch", "model"], devices
        )
        several, layout = run_model_parallel(scenes, classifier, mesh)
        output["model_parallel"] = compare(
            {"classifier": one["classifier"]}, {"classifier": several}
        )
        output["model_parallel_layout"] = layout
    else:
        import tensorflow as tf

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            several, model = run_tasks(scenes, audio, random_layers, optimizer)
        output["mirrored"] = compare(one, several)
        output["mirrored_devices"] = len(
            strategy.experimental_local_results(
                model.trainable_variables[0].value
            )
        )
    print(MARKER + json.dumps(output), flush=True)


def run_child(backend, timeout=900):
    """Runs `child(backend)` in a new process with its simulated devices;
    returns its results (a dict) and the process' output."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    if backend != "jax":
        env.pop("XLA_FLAGS")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    result = subprocess.run(
        [sys.executable, "-c", CHILD, backend],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = [
        line[len(MARKER) :]
        for line in result.stdout.splitlines()
        if line.startswith(MARKER)
    ]
    if result.returncode or not lines:
        raise RuntimeError(
            f"The {backend} check failed:\n{result.stderr[-5000:]}"
        )
    return json.loads(lines[-1]), result.stdout + result.stderr


def format_value(value):
    return value if isinstance(value, str) else f"{value:.1e}"


COLUMNS = {
    "fit": "`fit` losses",
    "weights": "weights after `fit`",
    "evaluate": "`evaluate`",
    "predict": "`predict`",
    "generate": "`generate`",
    "transcribe": "`transcribe`",
}


def table(differences, title):
    """A Markdown table of `compare`'s differences, one row per task."""
    lines = [
        title,
        "",
        "| task | " + " | ".join(COLUMNS.values()) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for task, results in differences.items():
        cells = [format_value(results.get(m, "")) for m in COLUMNS]
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    jax_results, _ = run_child("jax")
    tf_results, _ = run_child("tensorflow")
    layout = jax_results["model_parallel_layout"]
    print(
        table(
            jax_results["data_parallel"],
            "JAX, `DataParallel`, 4 simulated devices against 1",
        )
    )
    print()
    print(
        table(
            jax_results["model_parallel"],
            "JAX, `ModelParallel`, 2 x 2 "
            f"mesh against 1 device ({layout['split']} of "
            f"{layout['variables']} weights split; each device holds "
            f"{layout['weights_per_device']:.0%} of the weights)",
        )
    )
    print()
    print(
        table(
            tf_results["mirrored"],
            "TensorFlow, `MirroredStrategy`, 2 logical CPUs against 1",
        )
    )


if __name__ == "__main__":
    main()
