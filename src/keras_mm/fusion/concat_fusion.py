import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_rate


@keras_mm_export
class ConcatFusion(FusionLayer):
    """Concatenates the pooled features of every modality, then projects.

    The simplest fusion: the `pooled_output` of each modality, taken in
    sorted order of the modality names, is concatenated, passed through
    dropout and projected to `hidden_dim` by a `Dense` layer.

    Reference: the concat fusion of TorchMultimodal
    (`torchmultimodal/modules/fusions/concat_fusion.py`).

    Masking: only `pooled_output` is read, so padding masks are ignored
    (the encoders already pooled over their valid tokens).

    Args:
        hidden_dim: int. Size of the fused output.
        dropout: float. Dropout rate on the concatenated features. Defaults
            to `0.0`.

    Call arguments:
        inputs: dict keyed by modality name (for example `"images"`,
            `"text"`, `"audio"`) of dicts with `"sequence_output"`
            `(batch, tokens, dim)`, `"pooled_output"` `(batch, dim)` and an
            optional bool `"padding_mask"` `(batch, tokens)`. Each modality
            may have its own `dim` and `tokens`.
        training: bool. Whether dropout is active.

    Returns:
        `(batch, hidden_dim)`.

    Examples:
    >>> layer = keras_mm.fusion.ConcatFusion(hidden_dim=4)
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 3, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8))},
    ... }
    >>> tuple(layer(inputs).shape)
    (2, 4)
    """

    def __init__(self, hidden_dim, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_integers(hidden_dim=hidden_dim)
        check_rate(dropout=dropout)
        self.hidden_dim = hidden_dim
        self.output_dim = hidden_dim
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def build(self, inputs_shape):
        check_modalities(inputs_shape)
        total = sum(
            inputs_shape[m]["pooled_output"][-1] for m in sorted(inputs_shape)
        )
        self.projection = keras.layers.Dense(
            self.hidden_dim, dtype=self.dtype_policy, name="projection"
        )
        self.projection.build((None, total))
        self.built = True

    def call(self, inputs, training=None):
        pooled = [inputs[m]["pooled_output"] for m in sorted(inputs)]
        x = keras.ops.concatenate(pooled, axis=-1)
        x = self.dropout_layer(x, training=training)
        return self.projection(x)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "dropout": self.dropout})
        return config
