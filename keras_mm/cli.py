"""The `keras-mm` command."""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="keras-mm", description="Multimodal deep learning with Keras 3."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="train a small image+text model on generated data"
    )
    demo.add_argument("--num-samples", type=int, default=2000)
    demo.add_argument("--epochs", type=int, default=8)
    demo.add_argument("--output-dir", default="savedmodels/demo")
    args = parser.parse_args(argv)
    if args.command == "demo":
        from keras_mm import demo as demo_module

        demo_module.run(args.num_samples, args.epochs, args.output_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
