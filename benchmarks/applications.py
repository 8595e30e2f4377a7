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

With `--reports`, on a dataset with written targets, it also trains
`keras_mm.build_captioner` (defaults, the same encoders) to write them:
`medical` reports from the scan, `driving` narrations from the scene and
its sound (one captioner over both encoders), and, for driving, from each
input alone. Greedy captions of the test split are scored with BLEU-4,
CIDEr-D and the share written exactly.

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
# The written targets a captioner learns: the key of the text, and the
# inputs it is written from.
WRITTEN = {
    "medical": ("reports", ("images",)),
    "driving": ("captions", ("images", "audio")),
}


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


def run_reports(data, keys, target, seed, args):
    """Trains a captioner from `keys` to the texts under `target`; returns
    the result."""
    keras.utils.set_random_seed(seed)
    train, test = data["train"], data["test"]
    model = keras_mm.build_captioner(
        {key: encoder(key, data) for key in keys},
        keras_mm.encoders.text_vocabulary(train[target]),
    )
    budget = CpuBudget(args.budget_seconds)
    model.fit(
        {**{key: train[key] for key in keys}, "text": train[target]},
        epochs=args.epochs,
        batch_size=args.batch_size,
        callbacks=[budget],
        verbose=0,
    )
    written = model.generate({key: test[key] for key in keys})
    references = [[text] for text in test[target]]
    return {
        "bleu4": keras_mm.metrics.bleu4(written, references),
        "cider_d": keras_mm.metrics.cider_d(written, references),
        "exact": float(
            np.mean([w == t for w, t in zip(written, test[target])])
        ),
        "example": written[0],
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
        help="also train a captioner to write the data's reports "
        "(medical) or narrations (driving)",
    )
    parser.add_argument(
        "--only-reports",
        action="store_true",
        help="with --reports: train the captioners only",
    )
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if args.only_reports and not args.reports:
        parser.error("--only-reports needs --reports")
    if args.reports and args.dataset not in WRITTEN:
        parser.error(
            f"--reports: {args.dataset} has no written targets; datasets "
            f"with them: {sorted(WRITTEN)}"
        )
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
        keys = [key for key in INPUTS if key in data["train"]]
        models = {"fused": keys, **{f"{key} only": [key] for key in keys}}
        if args.reports and args.only_reports:
            models = {}
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
            target, written_keys = WRITTEN[args.dataset]
            writers = {target: written_keys}
            if len(written_keys) > 1:
                writers.update(
                    {f"{target}, {key} only": [key] for key in written_keys}
                )
            for name, model_keys in writers.items():
                report = run_reports(data, model_keys, target, seed, args)
                report.update(variant=args.dataset, model=name, seed=seed)
                reports.append(report)
                print(
                    f"| {name} | {seed} | BLEU-4 {report['bleu4']:.1f}, "
                    f"CIDEr-D {report['cider_d']:.2f}, exact "
                    f"{report['exact']:.3f} | - | {report['epochs']} "
                    f"| {report['cpu_seconds']:.0f} |  e.g. "
                    f"{report['example']!r}",
                    flush=True,
                )
    if len(seeds) > 1:
        if results:
            print("\n" + "\n".join(summarize(results)), flush=True)
        for name in dict.fromkeys(r["model"] for r in reports):
            rows = [r for r in reports if r["model"] == name]
            figures = {
                key: np.array([r[key] for r in rows])
                for key in ("bleu4", "cider_d", "exact")
            }
            print(
                f"{name}: BLEU-4 {figures['bleu4'].mean():.1f} ± "
                f"{figures['bleu4'].std():.1f}, CIDEr-D "
                f"{figures['cider_d'].mean():.2f} ± "
                f"{figures['cider_d'].std():.2f}, exact "
                f"{figures['exact'].mean():.3f} ± "
                f"{figures['exact'].std():.3f} over {len(rows)} seeds",
                flush=True,
            )
    return results + reports


if __name__ == "__main__":
    main()
