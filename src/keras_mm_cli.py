"""The `keras-mm` command.

Every error ends the command with exit status 2 and one line on stderr,
`keras-mm COMMAND: error: MESSAGE`, without a traceback: its arguments'
errors, and any exception the command raises.

This module lies beside the `keras_mm` package, not in it: importing
anything of the package imports Keras and TensorFlow first, which takes
seconds and logs to stderr. `--help`, `--version` and argument errors
import neither; a command imports them with their start-up logs held back
(shown only if the import fails).
"""

import argparse
import contextlib
import importlib.util
import os
import sys
import tempfile


def _version():
    """`keras_mm.version.__version__`, read without importing the
    package."""
    spec = importlib.util.find_spec("keras_mm")
    (folder,) = spec.submodule_search_locations
    namespace = {}
    with open(os.path.join(folder, "version.py")) as f:
        exec(f.read(), namespace)  # noqa: S102 - the package's own file.
    return namespace["__version__"]


@contextlib.contextmanager
def _quiet_start():
    """Holds back what the C++ start-up of TensorFlow and JAX writes to
    stderr (CUDA probes, oneDNN notes) while the libraries are imported;
    replays it if the import fails."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line (no usage line)."""

    def error(self, message):
        message = " ".join(str(message).split())
        self.exit(2, f"{self.prog}: error: {message}\n")


def main(argv=None):
    parser = _Parser(
        prog="keras-mm", description="Multimodal deep learning with Keras 3."
    )
    parser.add_argument(
        "--version", action="version", version=f"keras-mm {_version()}"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="train a small image captioner on the built-in scenes dataset",
    )
    demo.add_argument(
        "--num-samples",
        type=int,
        default=8000,
        help="scenes over all splits (70%% train)",
    )
    demo.add_argument("--epochs", type=int, default=8)
    demo.add_argument("--image-size", type=int, default=64)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--output-dir", default="savedmodels/captioner")
    export = commands.add_parser(
        "export",
        help="export a saved .keras model for serving (TF Serving layout)",
    )
    export.add_argument("model", help="the .keras file")
    export.add_argument(
        "--format",
        default="saved_model",
        help="comma-separated: saved_model (NAME/VERSION/) and tflite "
        "(NAME.tflite beside it)",
    )
    export.add_argument(
        "--quantization",
        choices=["dynamic", "float16"],
        help="of the TFLite file (default: float32)",
    )
    export.add_argument(
        "--name", help="model name in the layout (default: the file's name)"
    )
    export.add_argument("--root", default="savedmodels")
    export.add_argument(
        "--version",
        type=int,
        help="version number (default: the next free one)",
    )
    export.add_argument("--overwrite", action="store_true")
    train = commands.add_parser(
        "train",
        help="train a classifier, captioner or speech recognizer from a "
        "CSV or Parquet table of file paths and text",
        description="Trains from a table (CSV, TSV or Parquet): one row per "
        "example, image and audio columns of file paths (relative ones "
        "from the table's folder), a text column, and a label column "
        "(class names, captions or transcripts). Writes model.keras, "
        "preset/, run.json and metrics.json to --output.",
    )
    train.add_argument("--task", required=True, choices=TASKS)
    train.add_argument("--data", required=True, help="the table file")
    train.add_argument("--output", required=True, help="a folder")
    for name in ("image", "text", "audio"):
        train.add_argument(f"--{name}-column", help=f"the {name} column")
    train.add_argument("--label-column", default="label")
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--batch-size", type=int, default=32)
    train.add_argument(
        "--image-size", type=int, default=64, help="images are resized to it"
    )
    train.add_argument("--overwrite", action="store_true")
    _backend_argument(train)
    predict = commands.add_parser(
        "predict",
        help="write a trained model's predictions, captions or transcripts "
        "for a table",
    )
    predict.add_argument("model_dir", help="the --output folder of train")
    predict.add_argument("--data", required=True, help="the table file")
    predict.add_argument(
        "--output", help="the CSV to write (default: MODEL_DIR/predictions.csv)"
    )
    _backend_argument(predict)
    evaluate = commands.add_parser(
        "evaluate",
        help="score a trained model on a labelled table",
    )
    evaluate.add_argument("model_dir", help="the --output folder of train")
    evaluate.add_argument("--data", required=True, help="the table file")
    evaluate.add_argument(
        "--output",
        help="the JSON file to write (default: MODEL_DIR/evaluation.json)",
    )
    _backend_argument(evaluate)
    args = parser.parse_args(argv)
    command = {
        "export": export,
        "demo": demo,
        "train": train,
        "predict": predict,
        "evaluate": evaluate,
    }[args.command]
    try:
        return _run(command, args)
    except Exception as error:  # One line, whatever the command raised.
        # The API's words for what the command calls otherwise.
        message = (str(error) or type(error).__name__).replace(
            "`overwrite=True`", "--overwrite"
        )
        if not isinstance(error, ValueError):
            message = f"{type(error).__name__}: {message}"
        command.error(message)


TASKS = ("classifier", "captioner", "speech")
BACKENDS = ("jax", "tensorflow")


def _backend_argument(parser):
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        help="the Keras backend (default: KERAS_BACKEND, or Keras' own)",
    )


def _use_backend(parser, backend):
    """Sets `KERAS_BACKEND` before Keras is imported; an error when Keras
    already runs another backend (a call from Python)."""
    if backend is None:
        return
    keras = sys.modules.get("keras")
    if keras is not None and keras.config.backend() != backend:
        parser.error(
            f"--backend {backend}: Keras is already running on "
            f"{keras.config.backend()} in this process"
        )
    os.environ["KERAS_BACKEND"] = backend


def _tables(parser, args):
    """`train`, `predict` and `evaluate` (`keras_mm.tables`)."""
    for flag in ("epochs", "batch_size", "image_size"):
        value = getattr(args, flag, 1)
        if value < 1:
            name = flag.replace("_", "-")
            parser.error(f"--{name} must be at least 1, not {value}")
    _use_backend(parser, args.backend)
    with _quiet_start():
        from keras_mm import tables
    if args.command == "train":
        columns = {
            "images": args.image_column,
            "text": args.text_column,
            "audio": args.audio_column,
            "label": args.label_column,
        }
        results = tables.train(
            args.task,
            args.data,
            args.output,
            columns,
            epochs=args.epochs,
            batch_size=args.batch_size,
            image_size=args.image_size,
            overwrite=args.overwrite,
        )
        final = ", ".join(f"{k} {v:.4g}" for k, v in results["final"].items())
        print(f"Trained on {results['rows']} rows: {final}")
        print(
            f"Wrote {args.output}: model.keras, preset/, run.json, metrics.json"
        )
    elif args.command == "predict":
        path = tables.predict(args.model_dir, args.data, args.output)
        print(f"Wrote {path}")
    else:
        results = tables.evaluate(args.model_dir, args.data, args.output)
        print(
            ", ".join(
                f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                for k, v in results.items()
            )
        )
    return 0


def _run(parser, args):
    if args.command in ("train", "predict", "evaluate"):
        return _tables(parser, args)
    if args.command == "export":
        return _export(parser, args)
    if args.command == "demo":
        with _quiet_start():
            from keras_mm import demo as demo_module

        if args.epochs < 1:
            parser.error(f"--epochs must be at least 1, not {args.epochs}")
        try:
            demo_module.check_arguments(args.num_samples, args.image_size)
        except ValueError as error:
            parser.error(str(error))
        demo_module.run(
            num_samples=args.num_samples,
            epochs=args.epochs,
            image_size=args.image_size,
            output_dir=args.output_dir,
            seed=args.seed,
        )
    return 0


def _export(parser, args):
    import os

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown or not formats:
        parser.error(
            f"--format must list formats among {list(EXPORT_FORMATS)}; "
            f"received {args.format!r}"
        )
    if args.version is not None and args.version < 1:
        parser.error(f"--version must be at least 1, not {args.version}")
    if args.quantization and "tflite" not in formats:
        parser.error(
            "--quantization applies to the tflite format only; add "
            f"--format tflite. Received: --format {args.format}"
        )
    separators = [os.sep] + ([os.altsep] if os.altsep else [])
    if args.name is not None and (
        args.name.strip() in ("", ".", "..")
        or any(separator in args.name for separator in separators)
    ):
        parser.error(
            "--name must be a model name (no path separator). Received: "
            f"--name {args.name!r}"
        )
    with _quiet_start():
        import keras

        import keras_mm
        from keras_mm.export.saved_model import version_path
        from keras_mm.utils.files import check_keras_file
        from keras_mm.utils.files import load_keras_file

    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    path = os.path.join(args.root, name)
    if args.version is not None:
        path = os.path.join(path, str(args.version))
    check_keras_file(args.model)
    if "saved_model" in formats:  # Before the model is loaded.
        version_path(path, overwrite=args.overwrite)
    model = args.model
    if keras.config.backend() == "tensorflow":
        # Loaded once for both formats. Under other backends, the exports
        # hand the file as it is to a TensorFlow process.
        model = load_keras_file(args.model)
    if "saved_model" in formats:
        written = keras_mm.export.saved_model(
            model, path, overwrite=args.overwrite
        )
        print(f"saved_model: {written}")
    if "tflite" in formats:
        written = keras_mm.export.tflite(
            model,
            os.path.join(args.root, f"{name}.tflite"),
            quantization=args.quantization,
            overwrite=args.overwrite,
        )
        print(f"tflite: {written}")
    return 0


EXPORT_FORMATS = ("saved_model", "tflite")


if __name__ == "__main__":
    raise SystemExit(main())
