"""Loads a `.keras` file or a preset under this process' backend and
writes its outputs: the other-backend half of
`TestCase.run_cross_backend_test`.

    python -m tests.cross_backend_load MODEL INPUTS.npz OUTPUTS.npz MODE

With `--serve`, it stays for the next load (`run_in_worker`), so that the
backend and keras_mm are imported once per test process.
"""

import keras
import numpy as np

import keras_mm
from keras_mm.export.child_process import main_or_serve


def main(argv):
    model_path, inputs_path, outputs_path, mode = argv
    if mode == "preset":
        model = keras_mm.models.Task.from_preset(model_path)
        mode = "predict"
    else:
        model = keras.saving.load_model(model_path, safe_mode=True)
    with np.load(inputs_path) as data:
        inputs = {key: data[key] for key in data.files}
    if list(inputs) == ["__single__"]:
        inputs = inputs["__single__"]
    elif mode == "predict":
        inputs = {
            k: v.tolist() if v.dtype.kind == "U" else v
            for k, v in inputs.items()
        }
    if mode == "predict":
        if isinstance(inputs, np.ndarray) and inputs.dtype.kind == "U":
            inputs = inputs.tolist()
        outputs = model.predict(inputs, verbose=0)
    else:
        outputs = keras.tree.map_structure(
            keras.ops.convert_to_numpy, model(inputs)
        )
    if not isinstance(outputs, dict):
        outputs = {"__single__": outputs}
    np.savez(outputs_path, __class__=type(model).__name__, **outputs)


if __name__ == "__main__":
    main_or_serve(main, after_call=keras.backend.clear_session)
