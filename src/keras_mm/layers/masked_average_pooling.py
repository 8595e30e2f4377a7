import keras

from keras_mm.api_export import keras_mm_export


@keras_mm_export
class MaskedAveragePooling(keras.layers.Layer):
    """Mean over the tokens that `padding_mask` keeps.

    Unlike `keras.layers.GlobalAveragePooling1D`, a row whose mask keeps no
    token (an empty string, a silent clip cut to nothing) pools to zeros
    instead of NaN.

    Call arguments:
        inputs: `(batch, tokens, dim)`.
        padding_mask: bool `(batch, tokens)` or `None` (all tokens kept).

    Returns:
        `(batch, dim)`.

    Examples:
    >>> layer = keras_mm.layers.MaskedAveragePooling()
    >>> outputs = layer(np.ones((2, 3, 4)), padding_mask=np.array(
    ...     [[True, True, False], [False, False, False]]))
    >>> keras.ops.convert_to_numpy(outputs)[:, 0]
    array([1., 0.], dtype=float32)
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Consumes a Keras mask attached to `inputs`, outputs none.
        self.supports_masking = True

    def compute_mask(self, inputs, mask=None):
        return None

    def call(self, inputs, padding_mask=None):
        if padding_mask is None:
            return keras.ops.mean(inputs, axis=1)
        mask = keras.ops.cast(padding_mask, inputs.dtype)[..., None]
        total = keras.ops.sum(inputs * mask, axis=1)
        count = keras.ops.maximum(keras.ops.sum(mask, axis=1), 1.0)
        return total / count

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None):
        return (inputs_shape[0], inputs_shape[-1])
