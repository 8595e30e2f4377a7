"""The survey's applications: the fused model against each input alone.

For a built-in dataset of `keras_mm.datasets` (`driving`: road scene and
street sound to the driver's action; `medical`: scan and clinical note to
findings, multi-label; `spoken_sentiment`: speech and its transcript to
positive, negative or sarcastic), trains `keras_mm.build_classifier`
with its default arguments over every input of the dataset, and over each
input alone, with the encoders of the README's applications example
(`cnn_small` for images, `keras_mm.encoders.audio` for sound), for
`--epochs` epochs or `--budget-seconds` of process CPU time, whichever
ends first, and reports test accuracy (macro-F1 for multi-label data) per
seed and as mean ± std over the seeds.

With `--reports`, on a dataset with written reports (`medical`), it also
trains `keras_mm.build_captioner` (defaults, `cnn_small`) from the image
to the report and scores greedy captions of the test split with BLEU-4
and CIDEr-D.

    KERAS_BACKEND=jax python -m benchmarks.applications \
        --dataset driving --num-samples 3000 --seeds 0,1,2
"""

import argparse
import platform

import keras
import numpy as np

import keras_mm
from benchmarks.fresh_scenes import CpuBudget
from benchmarks.fresh_scenes import summarize

DATASETS = ("driving", "medical", "spoken_sentiment")
INPUTS = ("images", "audio", "text")


def encoder(key, data):
    """The applications example's encoder for input `key`."""
    train = data["train"]
    if key == "images":
        return keras_mm.encoders.image(
            "cnn_small", image_shape=train["images"].shape[1:]
        )
    if key == "audio":
        return keras_mm.encoders.audio(
            sample_rate=data["sample_rate"],
            max_duration=data["max_duration"],
        )
    return keras_mm.encoders.text(
        "transformer_small",
        vocabulary=keras_mm.encoders.text_vocabulary(train["text"]),
        sequence_length=24,
    )


def score(predicted, labels, activation):
    """Accuracy, or macro-F1 over the classes for multi-label data."""
    if activation != "sigmoid":
        return float(np.mean(predicted.argmax(-1) == labels))
    predicted = predicted > 0.5
    labels = labels > 0.5
    true_positives = (predicted & labels).sum(0)
    denominator = predicted.sum(0) + labels.sum(0)
    f1 = np.where(
        denominator > 0, 2 * true_positives / np.maximum(denominator, 1), 1.0
    )
    return float(f1.mean())


def run_one(data, keys, seed, args):
    """Trains on `keys` of the data; returns the result dict."""
    keras.utils.set_random_seed(seed)
    activation = data.get("activation", "softmax")
    options = {"fusion": args.fusion} if args.fusion and len(keys) > 1 else {}
    model = keras_mm.build_classifier(
        {key: encoder(key, data) for key in keys},
        num_classes=len(data["class_names"]),
        activation=activation,
        **options,
    )
    train, test = data["train"], data["test"]
    budget = CpuBudget(args.budget_seconds)
    model.fit(
        {key: train[key] for key in keys},
        train["labels"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=[budget],
        verbose=0,
    )
    predicted = model.predict({key: test[key] for key in keys}, verbose=0)
    return {
        "accuracy": score(predicted, test["labels"], activation),
        "train_accuracy": next(
            (v for k, v in budget.logs.items() if "accuracy" in k), None
        ),
        "epochs": budget.epochs,
        "cpu_seconds": round(budget.used, 1),
    }


def run_reports(data, seed, args):
    """Trains a captioner from images to reports; returns the result."""
    keras.utils.set_random_seed(seed)
    train, test = data["train"], data["test"]
    model = keras_mm.build_captioner(
        encoder("images", data),
        keras_mm.encoders.text_vocabulary(train["reports"]),
    )
    budget = CpuBudget(args.budget_seconds)
    model.fit(
        {"images": train["images"], "text": train["reports"]},
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=[budget],
        verbose=0,
    )
    reports = model.generate(test["images"])
    references = [[report] for report in test["reports"]]
    return {
        "bleu4": keras_mm.metrics.bleu4(reports, references),
        "cider_d": keras_mm.metrics.cider_d(reports, references),
        "example": reports[0],
        "epochs": budget.epochs,
        "cpu_seconds": round(budget.used, 1),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="driving", choices=DATASETS)
    parser.add_argument("--num-samples", type=int, default=3000)
    parser.add_argument("--seeds", default="0", help="comma-separated ints")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument(
        "--budget-seconds",
        type=float,
        default=600,
        help="process CPU seconds of training per model, at most",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--fusion", default=None, help="default: build_classifier's own"
    )
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument(
        "--reports",
        action="store_true",
        help="also train a captioner from images to the data's reports",
    )
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    print(
        f"{args.dataset}: {args.num_samples} examples, up to {args.epochs} "
        f"epochs or {args.budget_seconds:g} CPU-s per model, batch "
        f"{args.batch_size}, fusion {args.fusion or 'default'}; backend "
        f"{keras.backend.backend()}, {platform.machine()}.\n\n"
        "| model | seed | test score | last-epoch training accuracy "
        "| epochs | CPU s |\n|---|---|---|---|---|---|",
        flush=True,
    )
    results, reports = [], []
    for seed in seeds:
        data = getattr(keras_mm.datasets, args.dataset)(
            num_samples=args.num_samples, seed=seed, cache_dir=args.cache_dir
        )
        if args.reports and "reports" not in data["train"]:
            parser.error(f"--reports: {args.dataset} has no reports")
        keys = [key for key in INPUTS if key in data["train"]]
        models = {"fused": keys, **{f"{key} only": [key] for key in keys}}
        for name, model_keys in models.items():
            result = run_one(data, model_keys, seed, args)
            result.update(variant=args.dataset, model=name, seed=seed)
            results.append(result)
            training = result["train_accuracy"]
            print(
                f"| {name} | {seed} | {result['accuracy']:.3f} | "
                + ("-" if training is None else f"{training:.3f}")
                + f" | {result['epochs']} | {result['cpu_seconds']:.0f} |",
                flush=True,
            )
        if args.reports:
            report = run_reports(data, seed, args)
            report.update(variant=args.dataset, model="reports", seed=seed)
            reports.append(report)
            print(
                f"| reports | {seed} | BLEU-4 {report['bleu4']:.1f}, "
                f"CIDEr-D {report['cider_d']:.2f} | - | {report['epochs']} "
                f"| {report['cpu_seconds']:.0f} |  e.g. "
                f"{report['example']!r}",
                flush=True,
            )
    if len(seeds) > 1:
        print("\n" + "\n".join(summarize(results)), flush=True)
    if len(reports) > 1:
        bleu = np.array([r["bleu4"] for r in reports])
        cider = np.array([r["cider_d"] for r in reports])
        print(
            f"reports: BLEU-4 {bleu.mean():.1f} ± {bleu.std():.1f}, "
            f"CIDEr-D {cider.mean():.2f} ± {cider.std():.2f} over "
            f"{len(reports)} seeds",
            flush=True,
        )
    return results + reports


if __name__ == "__main__":
    main()
