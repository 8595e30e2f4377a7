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
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    raise SystemExit(main())
