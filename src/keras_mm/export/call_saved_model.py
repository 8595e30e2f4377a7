"""Calls one signature of a SavedModel, importing only TensorFlow.

    python call_saved_model.py SAVED_MODEL SIGNATURE INPUTS.npz OUTPUTS.npz

This file stands alone (it is run by path, not imported), so that the
process that checks an export is what a server is: TensorFlow, no Keras
code of ours. String inputs are NumPy unicode arrays; string outputs come
back as unicode arrays too. With `--serve`, it calls one signature per
request and stays for the next (`child_process.run_in_worker`).
"""

import sys

import numpy as np
import tensorflow as tf


def check_request(function, inputs):
    """Raises a `ValueError` that says what to change when `inputs` do not
    match the signature's names, dtypes or shapes."""
    specs = function.structured_input_signature[1]
    if set(inputs) != set(specs):
        raise ValueError(
            f"The signature takes inputs {sorted(specs)}. Received: "
            f"{sorted(inputs)}"
        )
    for key, spec in specs.items():
        value = inputs[key]
        if value.dtype != spec.dtype or not spec.shape.is_compatible_with(
            value.shape
        ):
            raise ValueError(
                f"Input '{key}' must be {spec.dtype.name} of shape "
                f"{tuple(spec.shape)} (None: any size). Received: "
                f"{value.dtype.name} of shape {tuple(value.shape)}. "
                + (
                    "Send pixels as uint8 in [0, 255] at this size."
                    if spec.dtype == tf.uint8
                    else "Convert it before the request."
                )
            )


def main(path, signature, inputs_file, outputs_file):
    signatures = tf.saved_model.load(path).signatures
    if signature not in signatures:
        raise ValueError(
            f"{path} has no signature '{signature}'; it has "
            f"{sorted(signatures)}."
        )
    function = signatures[signature]
    with np.load(inputs_file) as data:
        inputs = {key: tf.constant(data[key]) for key in data.files}
    check_request(function, inputs)
    outputs = {}
    for key, value in function(**inputs).items():
        value = value.numpy()
        if value.dtype == object:
            value = np.array([v.decode("utf-8") for v in value.ravel()])
        outputs[key] = value
    np.savez(outputs_file, **outputs)


def run(argv):
    """`main(*argv)`; a bad request exits with a `ValueError: ...` line."""
    try:
        main(*argv)
    except ValueError as error:
        print(f"ValueError: {error}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    # The sibling file, alone: it imports no Keras code of ours.
    from child_process import main_or_serve

    main_or_serve(run)
