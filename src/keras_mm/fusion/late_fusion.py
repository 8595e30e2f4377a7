import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_rate


@keras_mm_export
class LateFusion(FusionLayer):
    """One classifier per modality, combined by learned softmax weights.

    Unlike the other fusion layers, `LateFusion` returns **logits**
    `(batch, num_classes)`, not a fused feature vector: it is a fusion and
    a classification head in one, and no further head should follow it.
    Each modality's `pooled_output` goes through its own head (an optional
    `Dense(hidden_dim, "relu")` and dropout, then `Dense(num_classes)`).
    The per-modality logits are averaged with weights `softmax(w)`, where
    `w` holds one learned scalar per modality (initialised to zeros, so the
    start is a plain mean). Modalities are taken in sorted order of their
    names.

    Reference: late (decision-level) fusion, as surveyed in
    [Baltrusaitis et al., 2018](https://arxiv.org/abs/1705.09406).

    Masking: only `pooled_output` is read, so padding masks are ignored
    (the encoders already pooled over their valid tokens).

    The logits follow the layer's dtype policy (`bfloat16` under
    `mixed_bfloat16`); apply the final activation and the loss in float32.

    Args:
        num_classes: int. Number of output logits.
        hidden_dim: int or `None`. Width of the hidden layer of each head;
            `None` for a linear head. Defaults to `None`.
        dropout: float. Dropout rate before each head's output layer.
            Defaults to `0.0`.

    Call arguments:
        inputs: dict keyed by modality name of dicts with
            `"sequence_output"` `(batch, tokens, dim)`, `"pooled_output"`
            `(batch, dim)` and an optional bool `"padding_mask"`
            `(batch, tokens)`. Each modality may have its own `dim`.
        training: bool. Whether dropout is active.

    Returns:
        Logits `(batch, num_classes)`.

    Examples:
    >>> layer = keras_mm.fusion.LateFusion(num_classes=3, hidden_dim=4)
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 3, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8))},
    ... }
    >>> tuple(layer(inputs).shape)
    (2, 3)
    """

    def __init__(self, num_classes, hidden_dim=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_integers(num_classes=num_classes)
        if hidden_dim is not None:
            check_integers(hidden_dim=hidden_dim)
        check_rate(dropout=dropout)
        self.num_classes = num_classes
        self.output_dim = num_classes
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def build(self, inputs_shape):
        check_modalities(inputs_shape)
        modalities = sorted(inputs_shape)
        self.hidden_layers, self.logits_layers = [], []
        for m in modalities:
            dim = inputs_shape[m]["pooled_output"][-1]
            if self.hidden_dim is not None:
                hidden = keras.layers.Dense(
                    self.hidden_dim,
                    activation="relu",
                    dtype=self.dtype_policy,
                    name=f"{m}_hidden",
                )
                hidden.build((None, dim))
                self.hidden_layers.append(hidden)
                dim = self.hidden_dim
            logits = keras.layers.Dense(
                self.num_classes, dtype=self.dtype_policy, name=f"{m}_logits"
            )
            logits.build((None, dim))
            self.logits_layers.append(logits)
        self.modality_weights = self.add_weight(
            shape=(len(modalities),),
            initializer="zeros",
            name="modality_weights",
        )
        self.built = True

    def call(self, inputs, training=None):
        modalities = sorted(inputs)
        logits = []
        for j, m in enumerate(modalities):
            x = inputs[m]["pooled_output"]
            if self.hidden_layers:
                x = self.hidden_layers[j](x)
            x = self.dropout_layer(x, training=training)
            logits.append(self.logits_layers[j](x))
        weights = keras.ops.softmax(
            keras.ops.cast(self.modality_weights, "float32"), axis=-1
        )
        weights = keras.ops.cast(weights, logits[0].dtype)
        stacked = keras.ops.stack(logits, axis=1)
        return keras.ops.sum(stacked * weights[None, :, None], axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
            }
        )
        return config
