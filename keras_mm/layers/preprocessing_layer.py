import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf


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


@keras_mm_export
class PreprocessingLayer(keras.layers.Layer):
    """Base class of layers that turn raw inputs into model inputs.

    A preprocessing layer runs TensorFlow ops, so that it can be mapped over
    a `tf.data.Dataset` under any Keras backend (JAX included) and can be
    exported inside a TensorFlow graph. Called eagerly, it takes Python
    lists, NumPy arrays or tensors and returns NumPy arrays. Subclasses
    implement `call(x, y=None, sample_weight=None)` and return
    `keras.utils.pack_x_y_sample_weight(x, y, sample_weight)`, so labels pass
    through (or are made, for sequence models). It holds no weights.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def __call__(self, x, y=None, sample_weight=None, **kwargs):
        require_tensorflow(f"`{type(self).__name__}`")
        eager = tf.executing_eagerly()
        if eager:
            x, y, sample_weight = to_tf((x, y, sample_weight))
        with tf.device("cpu"):
            outputs = self.call(x, y=y, sample_weight=sample_weight, **kwargs)
        return to_numpy(outputs) if eager else outputs

    def call(self, x, y=None, sample_weight=None):
        raise NotImplementedError
