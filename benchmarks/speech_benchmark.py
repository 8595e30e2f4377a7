"""Speech on held-out voices: CTC transcription and keyword spotting.

Trains `keras_mm.build_speech_recognizer` on `keras_mm.datasets.spoken`
sentences and reports CER and WER (greedy and beam search) on the test
clips, whose voices training never heard; then trains
`keras_mm.build_classifier` over `keras_mm.encoders.audio` on spoken words
and reports keyword accuracy on held-out voices. Training times included.
Writes a Markdown table.

    KERAS_BACKEND=tensorflow .venv/bin/python -m benchmarks.speech_benchmark

Use `--num-sentences 60 --num-words 60 --epochs 1 --keyword-epochs 1` for
a quick check.
"""

import argparse
import time

import keras

import keras_mm

ALPHABET = list("abcdefghijklmnopqrstuvwxyz '")


def transcription(args):
    data = keras_mm.datasets.spoken(
        num_samples=args.num_sentences,
        kind="sentences",
        seed=args.seed,
        cache_dir=args.cache_dir,
    )
    train, test = data["train"], data["test"]
    keras.utils.set_random_seed(args.seed)
    steps = args.epochs * -(-len(train["audio"]) // args.batch_size)
    asr = keras_mm.build_speech_recognizer(
        ALPHABET,
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        # A linear warm-up, then a cosine decay.
        learning_rate=keras.optimizers.schedules.CosineDecay(
            0.0,
            steps,
            warmup_target=args.learning_rate,
            warmup_steps=min(200, steps // 10),
        ),
    )
    start = time.perf_counter()
    asr.fit(
        train["audio"],
        train["transcripts"],
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    rows = []
    for decoder in ("greedy", "beam"):
        texts = asr.transcribe(test["audio"], decoder=decoder)
        rows.append(
            (
                f"CTC, {decoder}",
                keras_mm.metrics.cer(texts, test["transcripts"]),
                keras_mm.metrics.wer(texts, test["transcripts"]),
                seconds,
            )
        )
    return rows


def keywords(args):
    data = keras_mm.datasets.spoken(
        num_samples=args.num_words,
        kind="words",
        seed=args.seed,
        cache_dir=args.cache_dir,
    )
    train, test = data["train"], data["test"]
    keras.utils.set_random_seed(args.seed)
    model = keras_mm.build_classifier(
        {"audio": keras_mm.encoders.audio(max_duration=2.0)},
        num_classes=len(keras_mm.datasets.spoken.WORDS),
    )
    start = time.perf_counter()
    model.fit(
        {"audio": train["audio"]},
        train["labels"],
        epochs=args.keyword_epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    scores = model.evaluate(
        {"audio": test["audio"]}, test["labels"], return_dict=True, verbose=0
    )
    return scores["sparse_categorical_accuracy"], seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sentences", type=int, default=3000)
    parser.add_argument("--num-words", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--keyword-epochs", type=int, default=10)
    parser.add_argument("--hidden-dim", type=int, default=256)
    parser.add_argument("--num-layers", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tasks",
        default="transcription,keywords",
        help="comma-separated: transcription, keywords",
    )
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument(
        "--cache-dir", default=None, help="where the spoken datasets are cached"
    )
    args = parser.parse_args(argv)
    tasks = set(args.tasks.split(","))
    unknown = tasks - {"transcription", "keywords"}
    if unknown:
        parser.error(
            f"unknown --tasks {sorted(unknown)}; allowed: transcription, "
            "keywords"
        )
    lines = [
        f"backend {keras.config.backend()}, seed {args.seed}; test voices "
        "unseen in training"
    ]
    rows, accuracy = [], None
    if "transcription" in tasks:
        rows = transcription(args)
        lines += [
            "",
            f"{args.num_sentences} sentences, {args.epochs} epochs",
            "",
            "| model | CER | WER | training time |",
            "|---|---|---|---|",
        ]
        for name, cer, wer, seconds in rows:
            lines.append(
                f"| {name} | {cer:.3f} | {wer:.3f} | {seconds:.0f} s |"
            )
    if "keywords" in tasks:
        accuracy, seconds = keywords(args)
        lines += [
            "",
            f"{args.num_words} words, {args.keyword_epochs} epochs",
            "",
            "| keywords | accuracy | training time |",
            "|---|---|---|",
            f"| {len(keras_mm.datasets.spoken.WORDS)} words | {accuracy:.3f} "
            f"| {seconds:.0f} s |",
        ]
    print("\n".join(lines))
    return rows, accuracy


if __name__ == "__main__":
    main()
