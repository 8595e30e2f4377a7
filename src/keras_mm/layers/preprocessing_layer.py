import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.utils.tf_utils import require_tensorflow
from keras_mm.utils.tf_utils import tf
from keras_mm.utils.tf_utils import to_numpy
from keras_mm.utils.tf_utils import to_tf


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
