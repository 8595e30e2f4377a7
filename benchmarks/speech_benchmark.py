"""Speech on held-out voices: CTC and attention transcription, keywords.

Trains `keras_mm.build_speech_recognizer` (CTC over characters) and
`keras_mm.build_captioner` over `keras_mm.encoders.audio` (attention over
words) on `keras_mm.datasets.spoken` sentences, and reports CER and WER
(greedy and beam search) on the test clips, whose voices training never
heard; then trains `keras_mm.build_classifier` over
`keras_mm.encoders.audio` on spoken words and reports keyword accuracy on
held-out voices. Training times included. Writes Markdown tables.

    KERAS_BACKEND=jax .venv/bin/python -m benchmarks.speech_benchmark

Use `--num-sentences 60 --num-words 60 --epochs 1 --keyword-epochs 1` for
a quick check, and `--tasks` to run some of `ctc,attention,keywords`.

`--test-engine flite` also scores every model on speech of another
synthesiser, flite, which training never heard: the test split of
`spoken(..., engines=("espeak-ng", "flite"), held_out_engine="flite")`,
whose train and validation splits are those of the espeak-ng dataset the
models train on (same seed, same clips). Those rows end in ", flite".

`--train-engines espeak-ng,flite` trains on speech of both synthesisers
(`spoken(..., engines=("espeak-ng", "flite"))`, each half the clips) and
scores the test split (voices of both engines unheard in training) as a
whole and per engine: rows ending in ", espeak-ng" and ", flite".

`--waveform-augmentation` trains the CTC recognizer with
`keras_mm.layers.WaveformAugmentation` before its features (gain, noise,
telephone band, reverberation, speed); `--waveform-augmentation-options`
takes the layer's arguments as JSON, e.g. `'{"noise_probability": 0.8}'`.

`--real-speech DIR` also transcribes real recordings with the trained CTC
recognizer: CMU ARCTIC's `arctic_a0007.wav` (speaker awb, 16 kHz; CMU
ARCTIC's free licence), which the `pysptk` source distribution on PyPI
ships. The benchmark downloads that sdist into `DIR` when it starts (it
needs `pip` and access to the package index; an sdist already in `DIR` is
reused), extracts its `.wav` files, and prints each transcription, with
its CER where the prompt is known.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tarfile
import time

import keras
import numpy as np

import keras_mm

ALPHABET = list("abcdefghijklmnopqrstuvwxyz '")

# The real recordings: the sdist that holds them, and the CMU ARCTIC
# prompts (`cmuarctic.data`) of those whose text is known, lower-cased and
# without punctuation.
REAL_SPEECH_PACKAGE = "pysptk"
REAL_SPEECH_PROMPTS = {
    "arctic_a0007": "and you always want to see it in the superlative degree",
}


def fetch_real_speech(directory):
    """Downloads the `pysptk` sdist from PyPI into `directory` (unless one
    is there) and extracts the `.wav` files it holds next to it; returns
    their paths, sorted. Raises `RuntimeError` if pip fails (no access to
    the index, for one) or the sdist holds no `.wav` file."""
    os.makedirs(directory, exist_ok=True)
    pattern = os.path.join(directory, f"{REAL_SPEECH_PACKAGE}-*.tar.gz")
    if not glob.glob(pattern):
        # `--no-binary` for this package only: its build requirements (for
        # the metadata pip reads) may come as wheels.
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            REAL_SPEECH_PACKAGE,
            "--no-binary",
            REAL_SPEECH_PACKAGE,
            "--no-deps",
            "--disable-pip-version-check",
            "-d",
            os.fspath(directory),
        ]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=600
            )
        except subprocess.TimeoutExpired:
            result = None
        if result is None or result.returncode != 0:
            output = "" if result is None else result.stdout + result.stderr
            raise RuntimeError(
                f"Cannot download the {REAL_SPEECH_PACKAGE} sdist from the "
                "package index (is it reachable?) with "
                f"`{' '.join(command)}`. pip said:\n{output[-2000:]}"
            )
    archives = sorted(glob.glob(pattern))
    if not archives:
        raise RuntimeError(
            f"pip ran but left no {REAL_SPEECH_PACKAGE} sdist in {directory}."
        )
    paths = []
    with tarfile.open(archives[-1]) as archive:
        for member in archive.getmembers():
            if member.isfile() and member.name.lower().endswith(".wav"):
                path = os.path.join(directory, os.path.basename(member.name))
                with open(path, "wb") as f:
                    f.write(archive.extractfile(member).read())
                paths.append(path)
    if not paths:
        raise RuntimeError(f"{archives[-1]} holds no .wav file.")
    return sorted(paths)


def real_speech_lines(asr, paths):
    """Markdown rows: each recording's transcriptions (greedy and beam)
    and their CER where its prompt is known. Recordings longer than the
    model takes are cropped to their first `max_duration` seconds."""
    limit = round(asr.sample_rate * asr.max_duration)
    waveforms = [
        keras_mm.data.read_audio(path, asr.sample_rate)[:limit]
        for path in paths
    ]
    lines = [
        "",
        "Real recordings (CMU ARCTIC, from the pysptk sdist)",
        "",
        "| recording | seconds | decoder | transcription | reference | CER |",
        "|---|---|---|---|---|---|",
    ]
    for decoder in ("greedy", "beam"):
        texts = asr.transcribe(waveforms, sampler=decoder)
        for path, waveform, text in zip(paths, waveforms, texts):
            name = os.path.splitext(os.path.basename(path))[0]
            reference = REAL_SPEECH_PROMPTS.get(name)
            cer = "n/a"
            if reference is not None:
                cer = f"{keras_mm.metrics.cer([text], [reference]):.3f}"
            lines.append(
                f"| {name} | {len(waveform) / asr.sample_rate:.2f} | "
                f"{decoder} | {text} | {reference or '?'} | {cer} |"
            )
    return lines


def schedule(args, num_examples, epochs, peak):
    """A linear warm-up to `peak`, then a cosine decay to zero."""
    steps = epochs * -(-num_examples // args.batch_size)
    return keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=peak, warmup_steps=min(200, steps // 10)
    )


def engine_rows(split, engine):
    """The rows of a `spoken` split that `engine` speaks (other entries,
    such as the sample rate, as they are)."""
    names = split["engines"]
    keep = [i for i, name in enumerate(names) if name == engine]
    rows = dict(split)
    for key, value in split.items():
        if isinstance(value, np.ndarray) and len(value) == len(names):
            rows[key] = value[keep]
        elif isinstance(value, list) and len(value) == len(names):
            rows[key] = [value[i] for i in keep]
    return rows


def spoken(args, kind, num_samples):
    """The dataset spoken by `--train-engines`, and its test sets by name:
    `""` for its own test split (held-out voices); with several training
    engines, each engine's part of it by the engine's name; and `"flite"`
    for flite's speech, unheard in training, with `--test-engine flite`."""
    engines = tuple(args.train_engines.split(","))
    data = keras_mm.datasets.spoken(
        num_samples=num_samples,
        kind=kind,
        seed=args.seed,
        cache_dir=args.cache_dir,
        engines=engines,
    )
    tests = {"": data["test"]}
    if len(engines) > 1:
        for engine in engines:
            tests[engine] = engine_rows(data["test"], engine)
    if args.test_engine != "espeak-ng":
        tests[args.test_engine] = keras_mm.datasets.spoken(
            num_samples=num_samples,
            kind=kind,
            seed=args.seed,
            cache_dir=args.cache_dir,
            engines=("espeak-ng", args.test_engine),
            held_out_engine=args.test_engine,
        )["test"]
    return data, tests


def sentences(args):
    return spoken(args, "sentences", args.num_sentences)


def score(name, texts, references, seconds):
    return (
        name,
        keras_mm.metrics.cer(texts, references),
        keras_mm.metrics.wer(texts, references),
        seconds,
    )


def fit_and_score(args, name, model, x, y, tests, transcribe):
    """Trains `model`, then scores `transcribe(audio, decoder)` on each of
    the `tests` (test splits by name) for the greedy and the beam
    decoder."""
    start = time.perf_counter()
    model.fit(
        x,
        y,
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
    )
    seconds = time.perf_counter() - start
    return [
        score(
            f"{name}, {decoder}" + (f", {engine}" if engine else ""),
            transcribe(test["audio"], decoder),
            test["transcripts"],
            seconds,
        )
        for engine, test in tests.items()
        for decoder in ("greedy", "beam")
    ]


def normalize_features(args, default):
    """`--normalize-features` if given, else the model's own default."""
    if args.normalize_features is None:
        return default
    return args.normalize_features


def waveform_augmentation(args):
    """With `--waveform-augmentation`, a `keras_mm.layers.WaveformAugmentation`
    seeded with `--seed` (unless the options name a seed); else `False`.
    Unseeded, it would draw its seed from the random stream the weight
    initialisers draw theirs from, and the recognizer would start from
    other weights than without it."""
    if not args.waveform_augmentation:
        return False
    options = {"seed": args.seed}
    options.update(json.loads(args.waveform_augmentation_options or "{}"))
    return keras_mm.layers.WaveformAugmentation(
        16000, name="audio_encoder_waveform_augmentation", **options
    )


def ctc(args, data, tests):
    """CTC over characters: `build_speech_recognizer`. Returns its rows and
    the trained recognizer."""
    train = data["train"]
    keras.utils.set_random_seed(args.seed)
    # The builder's own schedule: a warm-up to `--learning-rate`, then a
    # cosine decay over the fit.
    asr = keras_mm.build_speech_recognizer(
        ALPHABET,
        hidden_dim=args.hidden_dim,
        num_layers=args.num_layers,
        normalize_features=normalize_features(args, default=True),
        learning_rate=args.learning_rate,
        waveform_augmentation=waveform_augmentation(args),
    )
    rows = fit_and_score(
        args,
        "CTC",
        asr,
        train["audio"],
        train["transcripts"],
        tests,
        lambda audio, decoder: asr.transcribe(audio, sampler=decoder),
    )
    return rows, asr


def attention(args, data, tests):
    """Attention over words: `build_captioner` with an audio encoder."""
    train = data["train"]
    keras.utils.set_random_seed(args.seed)
    encoder = keras_mm.encoders.audio(
        max_duration=keras_mm.datasets.spoken.MAX_SECONDS,
        num_mel_bins=80,
        hidden_dim=args.hidden_dim,
    )
    model = keras_mm.build_captioner(
        encoder,
        keras_mm.encoders.text_vocabulary(train["transcripts"]),
        sequence_length=16,
        hidden_dim=args.hidden_dim,
        num_encoder_layers=args.num_layers,
        learning_rate=schedule(
            args, len(train["audio"]), args.epochs, args.learning_rate
        ),
    )
    options = {"greedy": {}, "beam": {"sampler": "beam", "num_beams": 4}}
    return fit_and_score(
        args,
        "attention",
        model,
        {"audio": train["audio"], "text": train["transcripts"]},
        None,
        tests,
        lambda audio, decoder: model.generate(audio, **options[decoder]),
    )


def keywords(args):
    """Keyword accuracy on each of the test sets, and the training time."""
    data, tests = spoken(args, "words", args.num_words)
    train = data["train"]
    keras.utils.set_random_seed(args.seed)
    model = keras_mm.build_classifier(
        {
            "audio": keras_mm.encoders.audio(
                max_duration=2.0,
                normalize_features=normalize_features(args, default=False),
            )
        },
        num_classes=len(keras_mm.datasets.spoken.WORDS),
        learning_rate=schedule(
            args,
            len(train["audio"]),
            args.keyword_epochs,
            args.keyword_learning_rate,
        ),
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
    accuracies = {}
    for engine, test in tests.items():
        scores = model.evaluate(
            {"audio": test["audio"]},
            test["labels"],
            return_dict=True,
            verbose=0,
        )
        accuracies[engine] = scores["sparse_categorical_accuracy"]
    return accuracies, seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num-sentences", type=int, default=3000)
    parser.add_argument("--num-words", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--keyword-epochs", type=int, default=120)
    parser.add_argument(
        "--normalize-features",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="per-clip log-mel normalisation; by default on for the CTC "
        "recognizer and off for the keyword classifier, as in their builders",
    )
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--learning-rate", type=float, default=3e-3)
    parser.add_argument("--keyword-learning-rate", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--tasks",
        default="ctc,attention,keywords",
        help="comma-separated: ctc, attention, keywords",
    )
    parser.add_argument(
        "--test-engine",
        default="espeak-ng",
        choices=("espeak-ng", "flite"),
        help="flite: also score on flite's speech, a synthesiser unheard in "
        "training (needs the flite program)",
    )
    parser.add_argument(
        "--train-engines",
        default="espeak-ng",
        help="comma-separated synthesisers that speak the training data "
        "(espeak-ng, flite); with several, test rows are also scored per "
        "engine, in voices unheard in training",
    )
    parser.add_argument(
        "--waveform-augmentation",
        action="store_true",
        help="CTC: keras_mm.layers.WaveformAugmentation before the features",
    )
    parser.add_argument(
        "--waveform-augmentation-options",
        default=None,
        help="its arguments as JSON, e.g. '{\"noise_probability\": 0.8}'",
    )
    parser.add_argument(
        "--real-speech",
        default=None,
        metavar="DIR",
        help="CTC: download the pysptk sdist into DIR (from PyPI, with pip) "
        "and transcribe the CMU ARCTIC recordings it holds",
    )
    parser.add_argument("--verbose", type=int, default=2)
    parser.add_argument(
        "--cache-dir", default=None, help="where the spoken datasets are cached"
    )
    args = parser.parse_args(argv)
    tasks = set(args.tasks.split(","))
    unknown = tasks - {"ctc", "attention", "keywords"}
    if unknown:
        parser.error(
            f"unknown --tasks {sorted(unknown)}; allowed: ctc, attention, "
            "keywords"
        )
    if args.waveform_augmentation_options and not args.waveform_augmentation:
        parser.error(
            "--waveform-augmentation-options needs --waveform-augmentation"
        )
    if args.waveform_augmentation_options:
        try:
            options = json.loads(args.waveform_augmentation_options)
        except json.JSONDecodeError as error:
            parser.error(f"--waveform-augmentation-options: {error}")
        if not isinstance(options, dict):
            parser.error(
                "--waveform-augmentation-options must be a JSON object"
            )
        try:
            keras_mm.layers.WaveformAugmentation(16000, **options)
        except (TypeError, ValueError) as error:
            parser.error(f"--waveform-augmentation-options: {error}")
    if (args.waveform_augmentation or args.real_speech) and "ctc" not in tasks:
        parser.error(
            "--waveform-augmentation and --real-speech need the ctc task"
        )
    train_engines = args.train_engines.split(",")
    for engine in train_engines:
        if engine not in keras_mm.datasets.spoken.ENGINES:
            parser.error(
                f"unknown --train-engines {engine!r}; allowed: "
                f"{', '.join(keras_mm.datasets.spoken.ENGINES)}"
            )
    if args.test_engine != "espeak-ng" and args.test_engine in train_engines:
        parser.error(
            f"--test-engine {args.test_engine} is one of --train-engines, "
            "so it is not unheard in training"
        )
    real_paths = []
    if args.real_speech:
        # Fetched first: a failure stops the run before any training.
        real_paths = fetch_real_speech(args.real_speech)
    unheard = "voices"
    if args.test_engine != "espeak-ng":
        unheard += f" (and {args.test_engine}'s speech)"
    lines = [
        f"backend {keras.config.backend()}, seed {args.seed}; trained on "
        f"{args.train_engines}; test {unheard} unseen in training"
    ]
    rows, accuracy, real_lines = [], None, []
    if tasks & {"ctc", "attention"}:
        data, tests = sentences(args)
        if "ctc" in tasks:
            ctc_rows, asr = ctc(args, data, tests)
            rows += ctc_rows
            if real_paths:
                real_lines = real_speech_lines(asr, real_paths)
        if "attention" in tasks:
            rows += attention(args, data, tests)
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
        lines += real_lines
    if "keywords" in tasks:
        accuracies, seconds = keywords(args)
        accuracy = accuracies[""]
        lines += [
            "",
            f"{args.num_words} words, {args.keyword_epochs} epochs",
            "",
            "| keywords | accuracy | training time |",
            "|---|---|---|",
        ]
        for engine, value in accuracies.items():
            name = f"{len(keras_mm.datasets.spoken.WORDS)} words"
            name += f", {engine}" if engine else ""
            lines.append(f"| {name} | {value:.3f} | {seconds:.0f} s |")
    print("\n".join(lines))
    return rows, accuracy


if __name__ == "__main__":
    main()
