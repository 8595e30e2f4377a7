"""The `keras-mm` command."""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-mm", description="Multimodal deep learning with Keras 3."
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
    args = parser.parse_args(argv)
    if args.command == "export":
        return _export(parser, args)
    if args.command == "demo":
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
    if not os.path.isfile(args.model):
        parser.error(f"no such model file: {args.model}")
    if args.version is not None and args.version < 1:
        parser.error(f"--version must be at least 1, not {args.version}")
    import keras

    import keras_mm

    name = args.name or os.path.splitext(os.path.basename(args.model))[0]
    path = os.path.join(args.root, name)
    if args.version is not None:
        path = os.path.join(path, str(args.version))
    model = args.model
    if keras.config.backend() == "tensorflow":
        # Loaded once for both formats. Under other backends, the exports
        # hand the file as it is to a TensorFlow process.
        model = keras.saving.load_model(args.model)
    try:
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
    except ValueError as error:
        parser.error(str(error))
    return 0


EXPORT_FORMATS = ("saved_model", "tflite")


if __name__ == "__main__":
    raise SystemExit(main())
