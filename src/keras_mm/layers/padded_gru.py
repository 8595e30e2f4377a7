import keras
from keras import ops

from keras_mm.api_export import keras_mm_export


def _take_steps(x, index):
    """`x[b, index[b, t]]` for `x` `(batch, steps, features)` and `index`
    `(batch, steps)`: one flat row gather, which costs less on TensorFlow
    than `ops.take_along_axis` (an index per element)."""
    batch, steps = ops.shape(x)[0], ops.shape(x)[1]
    rows = ops.arange(batch, dtype="int32")[:, None] * steps + index
    flat = ops.reshape(x, (-1, x.shape[-1]))
    return ops.reshape(
        ops.take(flat, ops.reshape(rows, (-1,)), axis=0), ops.shape(x)
    )


@keras_mm_export
class PaddedGRU(keras.layers.GRU):
    """`keras.layers.GRU` for right-padded sequences, run without a mask.

    A masked Keras RNN selects between old and new states at every step,
    which on JAX nearly doubles the cost of a GRU. When the mask is a
    padding mask (`True` on a prefix of each row), the padding cannot reach
    the valid steps of a forward GRU, so this layer runs it unmasked; a
    backward GRU (`go_backwards=True`, as `keras.layers.Bidirectional`
    makes) gets each row with its padding rolled to the front, so that it
    reads the padding last, and its outputs rolled back. The outputs then
    equal `keras.layers.GRU`'s with the mask (padded steps included), with
    `return_sequences=True` and no returned state; otherwise the layer runs
    masked, as `keras.layers.GRU` does. Weights and config are the GRU's.

    A mask that is not a padding prefix gives other results.

    Args: those of `keras.layers.GRU`.

    Examples:
    >>> layer = keras.layers.Bidirectional(
    ...     keras_mm.layers.PaddedGRU(4, return_sequences=True))
    >>> mask = np.array([[True, True, True], [True, False, False]])
    >>> tuple(layer(np.ones((2, 3, 5), "float32"), mask=mask).shape)
    (2, 3, 8)
    """

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if mask is None or not self.return_sequences or self.return_state:
            return super().call(sequences, initial_state, mask, training)
        steps = ops.shape(sequences)[1]
        mask = ops.cast(mask, "bool")
        lengths = ops.sum(ops.cast(mask, "int32"), axis=1, keepdims=True)
        times = ops.arange(steps, dtype="int32")[None, :]
        if not self.go_backwards:
            outputs = super().call(sequences, initial_state, None, training)
            if self.zero_output_for_mask:
                return ops.where(mask[..., None], outputs, 0.0)
            # Keras repeats the last valid output over the padding (zeros
            # when a row has none).
            last = _take_steps(
                outputs, ops.maximum(ops.minimum(times, lengths - 1), 0)
            )
            return ops.where((lengths > 0)[..., None], last, 0.0)
        # Roll each row right by its padding (padding first, read last);
        # the outputs, in reading order, then need the same roll.
        roll = (times + lengths) % steps
        shifted = _take_steps(sequences, roll)
        outputs = super().call(shifted, initial_state, None, training)
        outputs = _take_steps(outputs, roll)
        # Reading order: the padding comes first, where Keras gives zeros.
        return ops.where(ops.flip(mask, axis=1)[..., None], outputs, 0.0)
