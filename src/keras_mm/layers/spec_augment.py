import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.utils.validation import check_integers


@keras_mm_export
class SpecAugment(keras.layers.Layer):
    """Masks random bands of time frames and frequency bins while training.

    Each call in training draws, for every example, `num_time_masks` bands
    of `0` to `max_time_mask` consecutive frames and `num_freq_masks` bands
    of `0` to `max_freq_mask` consecutive bins, and sets them to the mean of
    that example's features. Outside training the layer is the identity.
    Widths are capped at the size of their axis. Padded frames may be
    masked like any other; the padding mask passes by the layer unchanged.

    Reference:
    - [Park et al., 2019](https://arxiv.org/abs/1904.08779)

    Args:
        num_time_masks: int. Time bands per example. Defaults to `2`.
        max_time_mask: int. Most frames in a time band. Defaults to `10`.
        num_freq_masks: int. Frequency bands per example. Defaults to `2`.
        max_freq_mask: int. Most bins in a frequency band. Defaults to `8`.
        seed: int or `None`. Seed of the random masks. Defaults to `None`.

    Call arguments:
        inputs: float tensor `(batch, frames, bins)`.
        training: bool. Masks only when `True`.

    Returns:
        A tensor of the shape and dtype of `inputs`.

    Examples:
    >>> layer = keras_mm.layers.SpecAugment(max_time_mask=4, seed=1)
    >>> features = np.random.rand(2, 20, 16).astype("float32")
    >>> masked = keras.ops.convert_to_numpy(layer(features, training=True))
    >>> bool((masked == features).all())
    False
    >>> unchanged = keras.ops.convert_to_numpy(layer(features))
    >>> bool((unchanged == features).all())
    True
    """

    def __init__(
        self,
        num_time_masks=2,
        max_time_mask=10,
        num_freq_masks=2,
        max_freq_mask=8,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_integers(
            minimum=0,
            num_time_masks=num_time_masks,
            max_time_mask=max_time_mask,
            num_freq_masks=num_freq_masks,
            max_freq_mask=max_freq_mask,
        )
        self.num_time_masks = num_time_masks
        self.max_time_mask = max_time_mask
        self.num_freq_masks = num_freq_masks
        self.max_freq_mask = max_freq_mask
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def _bands(self, batch, size, num_masks, max_width):
        """Bool `(batch, size)`: `True` inside one of `num_masks` bands."""
        ops = keras.ops
        positions = ops.cast(ops.arange(size), "float32")[None, :]
        size = ops.cast(size, "float32")
        masked = ops.zeros((batch, 1), "bool")
        for _ in range(num_masks):
            draw = keras.random.uniform((2, batch, 1), seed=self.seed_generator)
            width = ops.floor(draw[0] * (ops.minimum(max_width, size) + 1))
            start = ops.floor(draw[1] * (size - width + 1))
            band = (positions >= start) & (positions < start + width)
            masked = masked | band
        return masked

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = keras.ops.shape(inputs)
        time = self._bands(
            shape[0], shape[1], self.num_time_masks, self.max_time_mask
        )
        freq = self._bands(
            shape[0], shape[2], self.num_freq_masks, self.max_freq_mask
        )
        masked = time[:, :, None] | freq[:, None, :]
        mean = keras.ops.mean(inputs, axis=(1, 2), keepdims=True)
        return keras.ops.where(masked, mean, inputs)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_time_masks": self.num_time_masks,
                "max_time_mask": self.max_time_mask,
                "num_freq_masks": self.num_freq_masks,
                "max_freq_mask": self.max_freq_mask,
                "seed": self.seed,
            }
        )
        return config
