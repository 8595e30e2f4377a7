"""TensorFlow where it is installed, `None` where it is not.

Model code needs only Keras, so `import keras_mm` and the builders work
without TensorFlow (a JAX or PyTorch install that feeds the model its own
arrays). The parts that handle strings, files, `tf.data` pipelines and
export need it, and call `require_tensorflow` to say so clearly.
"""

import keras
import numpy as np

try:
    import tensorflow as tf
except ImportError:
    tf = None


def require_tensorflow(feature, alternative=""):
    """Raises an `ImportError` naming `feature` when TensorFlow is missing;
    `alternative` is a sentence on how to do without."""
    if tf is None:
        raise ImportError(
            f"{feature} needs TensorFlow, which runs keras_mm's string, file "
            "and data-pipeline work on every backend, but it is not "
            "installed. Install it with `pip install keras-mm[tensorflow]`."
            + (f" {alternative}" if alternative else "")
        )


def is_dataset(x):
    """Whether `x` is a `tf.data.Dataset` (never, without TensorFlow)."""
    return tf is not None and isinstance(x, tf.data.Dataset)


def to_tf(x):
    """Converts raw inputs to `tf.Tensor`s, keeping dict and tuple structure.

    A list is one array-like input (a batch of strings, or of waveforms of
    different lengths, which become a `tf.RaggedTensor`); a tuple or a dict
    holds several inputs.
    """
    if x is None or isinstance(x, (tf.Tensor, tf.RaggedTensor)):
        return x
    if isinstance(x, dict):
        return {key: to_tf(value) for key, value in x.items()}
    if isinstance(x, tuple):
        return tuple(to_tf(value) for value in x)
    if isinstance(x, str):
        return tf.convert_to_tensor([x])
    if isinstance(x, list) and x and hasattr(x[0], "__len__"):
        rows = [np.asarray(row) for row in x]
        if rows[0].dtype.kind not in "USO" and len({r.shape for r in rows}) > 1:
            return tf.ragged.stack([tf.convert_to_tensor(r) for r in rows])
    if keras.ops.is_tensor(x):
        x = keras.ops.convert_to_numpy(x)
    return tf.convert_to_tensor(x)


def to_numpy(x):
    """Converts TensorFlow outputs to NumPy arrays (lists for ragged)."""
    if isinstance(x, dict):
        return {key: to_numpy(value) for key, value in x.items()}
    if isinstance(x, tuple):
        return tuple(to_numpy(value) for value in x)
    if isinstance(x, tf.RaggedTensor):
        return x.to_list()
    if isinstance(x, tf.Tensor):
        return x.numpy()
    return x
