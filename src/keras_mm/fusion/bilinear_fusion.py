import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_rate


@keras_mm_export
class BilinearFusion(FusionLayer):
    """Low-rank bilinear pooling (MFB) of the pooled features.

    Each modality's `pooled_output` is projected to `hidden_dim * rank`.
    The projections are multiplied elementwise (a rank-`rank` factorisation
    of a bilinear, or with three modalities trilinear, interaction), passed
    through dropout and sum pooled over groups of `rank`, giving
    `hidden_dim` values. Power normalisation `sign(z) * sqrt(|z|)` and L2
    normalisation follow. Modalities are taken in sorted order of their
    names; with a single modality, its projection is pooled alone.

    Reference: [MFB (Yu et al., 2017)](https://arxiv.org/abs/1708.01471).

    Masking: only `pooled_output` is read, so padding masks are ignored
    (the encoders already pooled over their valid tokens).

    The normalisations run in float32; the output follows the layer's
    compute dtype.

    Args:
        hidden_dim: int. Size of the fused output.
        rank: int. Rank of the factorisation (MFB's `k`). Defaults to `4`.
        dropout: float. Dropout rate on the elementwise product. Defaults
            to `0.0`.

    Call arguments:
        inputs: dict keyed by modality name of dicts with
            `"sequence_output"` `(batch, tokens, dim)`, `"pooled_output"`
            `(batch, dim)` and an optional bool `"padding_mask"`
            `(batch, tokens)`. Each modality may have its own `dim`.
        training: bool. Whether dropout is active.

    Returns:
        `(batch, hidden_dim)`, each row of unit L2 norm (or zero).

    Examples:
    >>> layer = keras_mm.fusion.BilinearFusion(hidden_dim=4, rank=2)
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 3, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8))},
    ... }
    >>> tuple(layer(inputs).shape)
    (2, 4)
    """

    def __init__(self, hidden_dim, rank=4, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_integers(hidden_dim=hidden_dim, rank=rank)
        check_rate(dropout=dropout)
        self.hidden_dim = hidden_dim
        self.output_dim = hidden_dim
        self.rank = rank
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def build(self, inputs_shape):
        check_modalities(inputs_shape)
        self.projections = []
        for m in sorted(inputs_shape):
            projection = keras.layers.Dense(
                self.hidden_dim * self.rank,
                dtype=self.dtype_policy,
                name=f"{m}_projection",
            )
            projection.build((None, inputs_shape[m]["pooled_output"][-1]))
            self.projections.append(projection)
        self.built = True

    def call(self, inputs, training=None):
        modalities = sorted(inputs)
        z = None
        for m, projection in zip(modalities, self.projections):
            x = projection(inputs[m]["pooled_output"])
            z = x if z is None else z * x
        z = self.dropout_layer(z, training=training)
        dtype = z.dtype
        z = keras.ops.cast(z, "float32")
        z = keras.ops.reshape(z, (-1, self.hidden_dim, self.rank))
        z = keras.ops.sum(z, axis=-1)
        z = keras.ops.sign(z) * keras.ops.sqrt(keras.ops.abs(z) + 1e-8)
        norm = keras.ops.sqrt(keras.ops.sum(z * z, axis=-1, keepdims=True))
        z = z / keras.ops.maximum(norm, 1e-12)
        return keras.ops.cast(z, dtype)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "rank": self.rank,
                "dropout": self.dropout,
            }
        )
        return config
