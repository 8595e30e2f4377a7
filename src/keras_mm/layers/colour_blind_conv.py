import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.utils.validation import check_integers


@keras_mm_export
class ColourBlindConv2D(keras.layers.Layer):
    """One 2-D convolution applied to each colour channel alone, then the
    maximum over the channels.

    Every channel of the image goes through the same kernels, as if it were
    a grey image, and each output keeps the strongest response of the
    channels. An edge gives the same features whatever its colour, so the
    layers above it see outlines, not colours: a network built on it finds
    a blue circle as a circle though it only saw red and yellow ones.
    `cnn_shape_colour_small` pairs it with a separate colour stream.

    Args:
        filters: int. Number of kernels.
        kernel_size: int. Height and width of the kernels.
        strides: int. Defaults to `1`.
        use_bias: bool. Defaults to `True`.

    Call arguments:
        inputs: `(batch, height, width, channels)`.

    Returns:
        `(batch, ceil(height / strides), ceil(width / strides), filters)`
        ("same" padding).

    Examples:
    >>> layer = keras_mm.layers.ColourBlindConv2D(4, 3, strides=2)
    >>> red = np.zeros((1, 8, 8, 3), "float32"); red[:, 2:6, 2:6, 0] = 1
    >>> blue = np.roll(red, 2, axis=-1)
    >>> np.allclose(layer(red), layer(blue))
    True
    """

    def __init__(
        self, filters, kernel_size, strides=1, use_bias=True, **kwargs
    ):
        super().__init__(**kwargs)
        check_integers(
            filters=filters, kernel_size=kernel_size, strides=strides
        )
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.use_bias = use_bias
        self.conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=use_bias,
            dtype=self.dtype_policy,
            name="conv",
        )

    def build(self, inputs_shape):
        self.conv.build((None, *inputs_shape[1:3], 1))
        self.built = True

    def call(self, inputs):
        height, width, channels = inputs.shape[1:]
        # Channels into the batch: (batch * channels, height, width, 1).
        grey = keras.ops.reshape(
            keras.ops.transpose(inputs, (0, 3, 1, 2)), (-1, height, width, 1)
        )
        features = self.conv(grey)
        features = keras.ops.reshape(
            features, (-1, channels, *features.shape[1:])
        )
        return keras.ops.max(features, axis=1)

    def compute_output_shape(self, inputs_shape):
        size = [
            None if s is None else -(-s // self.strides)
            for s in inputs_shape[1:3]
        ]
        return (inputs_shape[0], *size, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "use_bias": self.use_bias,
            }
        )
        return config
