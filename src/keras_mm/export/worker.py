"""Runs an export under the TensorFlow backend, for models of other ones.

    KERAS_BACKEND=tensorflow python -m keras_mm.export.worker \\
        saved_model|tflite PATH [options] MODEL.keras

An exception is written to the file that `KERAS_MM_ERROR_FILE` names, for
the parent to raise as its own (`keras_mm.export.child_process`). With
`--serve`, it runs one export per request and stays for the next
(`child_process.run_in_worker`), so that TensorFlow and keras_mm are
imported once.
"""

import argparse
import os
import sys
import warnings


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("format", choices=["saved_model", "tflite"])
    parser.add_argument("path")
    parser.add_argument("model")
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--model-inputs", action="store_true")
    parser.add_argument("--quantization")
    parser.add_argument("--representative-data")
    args = parser.parse_args(argv)
    if os.environ.get("KERAS_BACKEND") != "tensorflow":
        raise SystemExit("Run this with KERAS_BACKEND=tensorflow.")
    from keras_mm.export.child_process import report_error
    from keras_mm.export.saved_model import saved_model
    from keras_mm.export.tflite import from_arrays
    from keras_mm.export.tflite import tflite
    from keras_mm.models.task import ExportWarning

    def show(message, category, *args, **kwargs):
        # The parent re-raises these lines as its own warnings.
        if issubclass(category, ExportWarning):
            print(f"ExportWarning: {message}", file=sys.stderr)

    warnings.showwarning = show
    try:
        if args.format == "tflite":
            data = None
            if args.representative_data:
                import numpy as np

                with np.load(args.representative_data) as arrays:
                    data = from_arrays(dict(arrays))
            tflite(
                args.model,
                args.path,
                quantization=args.quantization,
                representative_data=data,
                overwrite=args.overwrite,
            )
            return
        saved_model(
            args.model,
            args.path,
            overwrite=args.overwrite,
            raw_inputs=not args.model_inputs,
        )
    except Exception as error:
        # The parent raises it as its own, from the error file.
        report_error(error)
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    import keras

    from keras_mm.export.child_process import main_or_serve

    # A served export starts from a clear session.
    main_or_serve(main, after_call=keras.backend.clear_session)
