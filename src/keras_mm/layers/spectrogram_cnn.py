import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.masked_average_pooling import MaskedAveragePooling
from keras_mm.utils.validation import check_integers

# One frame and one bin of zeros on each side: output `j` is centred on
# input `2 * j` whatever the input length (a "same" conv shifts with parity).
_PADDING = ((0, 0), (1, 1), (1, 1), (0, 0))


def _padded(shape):
    return tuple(
        None if size is None else size + sum(pad)
        for size, pad in zip(shape, _PADDING)
    )


@keras_mm_export
class SpectrogramCNN(keras.layers.Layer):
    """A small 2-D CNN over spectrogram frames, to tokens and a pooled vector.

    `num_layers` blocks of a 3x3 `Conv2D` with stride 2 (on inputs padded
    by one on each side), batch normalization and ReLU halve time and
    frequency each. Every remaining time step is one token: its frequency
    bands and channels are flattened and projected to `hidden_dim`. The
    pooled vector is the mean of the valid tokens.

    Masking: the frame-level `padding_mask` is subsampled with the time axis
    (token `j` of a block is valid when its centre, input `2 * j`, is),
    so a clip gives the same valid tokens whatever it is padded to. Padded
    tokens are left out of the pooled mean. A row with no valid token pools
    to zeros. Padded tokens still appear in `sequence_output`; with a
    `padding_mask`, the output's `"padding_mask"` `(batch, tokens)` marks
    the valid ones.

    Args:
        hidden_dim: int. Size of the tokens and of the pooled vector.
        num_layers: int. Stride-2 conv blocks. Defaults to `2`.
        filters: int. Channels of every conv block. Defaults to `32`.

    Call arguments:
        inputs: float tensor `(batch, frames, bins)`.
        padding_mask: bool tensor `(batch, frames)`, or `None` (all valid).

    Returns:
        `{"sequence_output": (batch, tokens, hidden_dim), "pooled_output":
        (batch, hidden_dim)}`, where `tokens = ceil(frames / 2**num_layers)`,
        and `"padding_mask"` when one was given.

    Examples:
    >>> layer = keras_mm.layers.SpectrogramCNN(hidden_dim=8, filters=4)
    >>> outputs = layer(np.zeros((2, 23, 16), "float32"))
    >>> tuple(outputs["sequence_output"].shape)
    (2, 6, 8)
    >>> tuple(outputs["pooled_output"].shape)
    (2, 8)
    """

    def __init__(self, hidden_dim, num_layers=2, filters=32, **kwargs):
        super().__init__(**kwargs)
        check_integers(
            hidden_dim=hidden_dim, num_layers=num_layers, filters=filters
        )
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.filters = filters

    def build(self, inputs_shape, padding_mask_shape=None):
        shape = (inputs_shape[0], inputs_shape[1], inputs_shape[2], 1)
        self.convs, self.norms = [], []
        for i in range(self.num_layers):
            conv = keras.layers.Conv2D(
                self.filters,
                3,
                strides=2,
                padding="valid",
                use_bias=False,
                dtype=self.dtype_policy,
                name=f"conv_{i}",
            )
            # Momentum 0.9: short runs predict with settled statistics.
            norm = keras.layers.BatchNormalization(
                momentum=0.9, dtype=self.dtype_policy, name=f"norm_{i}"
            )
            shape = _padded(shape)
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            norm.build(shape)
            self.convs.append(conv)
            self.norms.append(norm)
        self.projection = keras.layers.Dense(
            self.hidden_dim, dtype=self.dtype_policy, name="projection"
        )
        self.projection.build((shape[0], shape[1], shape[2] * shape[3]))
        self.pooling = MaskedAveragePooling(
            dtype=self.dtype_policy, name="pooling"
        )

    def call(self, inputs, padding_mask=None, training=None):
        x = inputs[..., None]
        for conv, norm in zip(self.convs, self.norms):
            x = keras.ops.pad(x, _PADDING)
            x = keras.ops.relu(norm(conv(x), training=training))
            if padding_mask is not None:
                padding_mask = padding_mask[:, ::2]
        shape = keras.ops.shape(x)
        x = keras.ops.reshape(x, (shape[0], shape[1], shape[2] * shape[3]))
        sequence = self.projection(x)
        pooled = self.pooling(sequence, padding_mask=padding_mask)
        outputs = {"sequence_output": sequence, "pooled_output": pooled}
        if padding_mask is not None:
            # Token-level padding, so fusion layers skip padded time steps.
            outputs["padding_mask"] = keras.ops.cast(padding_mask, "bool")
        return outputs

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        batch, frames = inputs_shape[0], inputs_shape[1]
        if frames is not None:
            for _ in range(self.num_layers):
                frames = (frames + 1) // 2
        shapes = {
            "sequence_output": (batch, frames, self.hidden_dim),
            "pooled_output": (batch, self.hidden_dim),
        }
        if padding_mask_shape is not None:
            shapes["padding_mask"] = (batch, frames)
        return shapes

    def compute_output_spec(self, inputs, padding_mask=None, training=None):
        # As `call` returns them: the padding mask is bool.
        shapes = self.compute_output_shape(
            inputs.shape, None if padding_mask is None else padding_mask.shape
        )
        return {
            key: keras.KerasTensor(
                shape, "bool" if key == "padding_mask" else self.compute_dtype
            )
            for key, shape in shapes.items()
        }

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_layers": self.num_layers,
                "filters": self.filters,
            }
        )
        return config
