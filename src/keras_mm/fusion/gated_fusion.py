import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_rate


@keras_mm_export
class GatedFusion(FusionLayer):
    """Weights each modality's projected features by a learned gate.

    Each modality's `pooled_output` is projected to `hidden_dim` with a
    `tanh` `Dense` layer. A `Dense` layer over the concatenated projections
    gives one gate logit per modality and sample; the gates are a softmax
    over modalities (`gate="softmax"`, weights sum to one) or independent
    sigmoids (`gate="sigmoid"`). The output is the gated sum of the
    projections, followed by dropout. Modalities are taken in sorted order
    of their names.

    Reference: [Arevalo et al., 2017](https://arxiv.org/abs/1702.01992),
    gated multimodal units.

    Masking: only `pooled_output` is read, so padding masks are ignored
    (the encoders already pooled over their valid tokens).

    Args:
        hidden_dim: int. Size of the fused output.
        gate: str. `"softmax"` or `"sigmoid"`. Defaults to `"softmax"`.
        dropout: float. Dropout rate on the fused output. Defaults to
            `0.0`.

    Call arguments:
        inputs: dict keyed by modality name of dicts with
            `"sequence_output"` `(batch, tokens, dim)`, `"pooled_output"`
            `(batch, dim)` and an optional bool `"padding_mask"`
            `(batch, tokens)`. Each modality may have its own `dim`.
        training: bool. Whether dropout is active.

    Returns:
        `(batch, hidden_dim)`.

    Examples:
    >>> layer = keras_mm.fusion.GatedFusion(hidden_dim=4, gate="sigmoid")
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 3, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8))},
    ... }
    >>> tuple(layer(inputs).shape)
    (2, 4)
    """

    def __init__(self, hidden_dim, gate="softmax", dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_integers(hidden_dim=hidden_dim)
        if gate not in ("softmax", "sigmoid"):
            raise ValueError(
                "`gate` must be 'softmax' or 'sigmoid'. "
                f"Received: gate={gate!r}"
            )
        check_rate(dropout=dropout)
        self.hidden_dim = hidden_dim
        self.output_dim = hidden_dim
        self.gate = gate
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def build(self, inputs_shape):
        check_modalities(inputs_shape)
        modalities = sorted(inputs_shape)
        self.projections = []
        for m in modalities:
            projection = keras.layers.Dense(
                self.hidden_dim,
                activation="tanh",
                dtype=self.dtype_policy,
                name=f"{m}_projection",
            )
            projection.build((None, inputs_shape[m]["pooled_output"][-1]))
            self.projections.append(projection)
        self.gate_dense = keras.layers.Dense(
            len(modalities), dtype=self.dtype_policy, name="gate"
        )
        self.gate_dense.build((None, self.hidden_dim * len(modalities)))
        self.built = True

    def call(self, inputs, training=None):
        modalities = sorted(inputs)
        projected = [
            projection(inputs[m]["pooled_output"])
            for m, projection in zip(modalities, self.projections)
        ]
        logits = self.gate_dense(keras.ops.concatenate(projected, axis=-1))
        logits = keras.ops.cast(logits, "float32")
        if self.gate == "softmax":
            gates = keras.ops.softmax(logits, axis=-1)
        else:
            gates = keras.ops.sigmoid(logits)
        gates = keras.ops.cast(gates, projected[0].dtype)
        stacked = keras.ops.stack(projected, axis=1)
        fused = keras.ops.sum(stacked * gates[..., None], axis=1)
        return self.dropout_layer(fused, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "gate": self.gate,
                "dropout": self.dropout,
            }
        )
        return config
