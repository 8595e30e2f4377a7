"""TensorFlow where it is installed, `None` where it is not.

Model code needs only Keras, so `import keras_mm` and the builders work
without TensorFlow (a JAX or PyTorch install that feeds the model its own
arrays). The parts that handle strings, files, `tf.data` pipelines and
export need it, and call `require_tensorflow` to say so clearly.
"""

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
