import keras
import keras_hub

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_rate


@keras_mm_export
class TokenFusion(FusionLayer):
    """MMBT-style fusion: one transformer over the tokens of all modalities.

    Every modality's `sequence_output` is projected to `hidden_dim` and a
    learned modality-type embedding is added to its tokens. A learned
    `[CLS]`-like token is put in front of the concatenated tokens (sorted
    order of the modality names), and the sequence runs through
    `num_layers` `keras_hub.layers.TransformerEncoder` blocks (feedforward
    width `2 * hidden_dim`). The output is the final state of the `[CLS]`
    token. No position embedding is added: the encoders' tokens are
    expected to carry their own positions.

    Reference: [MMBT (Kiela et al., 2019)](https://arxiv.org/abs/1909.02950).

    Masking: the modalities' `padding_mask`s (all tokens valid where absent)
    are concatenated behind an always-valid `[CLS]` entry and passed to the
    transformer, so padded tokens are never attended to and the values under
    the mask do not change the output.

    Args:
        hidden_dim: int. Size of the tokens and of the fused output. Must be
            divisible by `num_heads`.
        num_heads: int. Attention heads. Defaults to `4`.
        num_layers: int. Transformer blocks. Defaults to `1`.
        dropout: float. Dropout rate inside the transformer blocks. Defaults
            to `0.0`.

    Call arguments:
        inputs: dict keyed by modality name of dicts with
            `"sequence_output"` `(batch, tokens, dim)`, `"pooled_output"`
            `(batch, dim)` and an optional bool `"padding_mask"`
            `(batch, tokens)`. Each modality may have its own `dim` and
            `tokens`.
        training: bool. Whether dropout is active.

    Returns:
        `(batch, hidden_dim)`.

    Examples:
    >>> layer = keras_mm.fusion.TokenFusion(hidden_dim=4, num_heads=2)
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 3, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8))},
    ... }
    >>> tuple(layer(inputs).shape)
    (2, 4)
    """

    def __init__(
        self, hidden_dim, num_heads=4, num_layers=1, dropout=0.0, **kwargs
    ):
        super().__init__(**kwargs)
        check_integers(
            hidden_dim=hidden_dim, num_heads=num_heads, num_layers=num_layers
        )
        if hidden_dim % num_heads:
            raise ValueError(
                "`hidden_dim` must be divisible by `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        check_rate(dropout=dropout)
        self.hidden_dim = hidden_dim
        self.output_dim = hidden_dim
        self.num_heads = num_heads
        self.num_layers = num_layers
        self.dropout = dropout

    def build(self, inputs_shape):
        check_modalities(inputs_shape)
        modalities = sorted(inputs_shape)
        self.projections = []
        for m in modalities:
            projection = keras.layers.Dense(
                self.hidden_dim, dtype=self.dtype_policy, name=f"{m}_projection"
            )
            projection.build(inputs_shape[m]["sequence_output"])
            self.projections.append(projection)
        self.modality_embeddings = self.add_weight(
            shape=(len(modalities), self.hidden_dim),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="modality_embeddings",
        )
        self.cls_token = self.add_weight(
            shape=(self.hidden_dim,),
            initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            name="cls_token",
        )
        self.transformer_layers = []
        for i in range(self.num_layers):
            layer = keras_hub.layers.TransformerEncoder(
                intermediate_dim=2 * self.hidden_dim,
                num_heads=self.num_heads,
                dropout=self.dropout,
                dtype=self.dtype_policy,
                name=f"transformer_layer_{i}",
            )
            layer.build((None, None, self.hidden_dim))
            self.transformer_layers.append(layer)
        self.built = True

    def call(self, inputs, training=None):
        modalities = sorted(inputs)
        tokens, masks = [], []
        for j, m in enumerate(modalities):
            x = self.projections[j](inputs[m]["sequence_output"])
            embedding = keras.ops.cast(self.modality_embeddings[j], x.dtype)
            tokens.append(x + embedding)
            mask = inputs[m].get("padding_mask")
            if mask is None:
                mask = keras.ops.ones(keras.ops.shape(x)[:2], "bool")
            masks.append(keras.ops.cast(mask, "bool"))
        first = tokens[0][:, :1, :]
        cls = keras.ops.zeros_like(first) + keras.ops.cast(
            self.cls_token, first.dtype
        )
        x = keras.ops.concatenate([cls] + tokens, axis=1)
        cls_mask = keras.ops.ones_like(masks[0][:, :1])
        mask = keras.ops.concatenate([cls_mask] + masks, axis=1)
        for layer in self.transformer_layers:
            x = layer(x, padding_mask=mask, training=training)
        return x[:, 0, :]

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "num_layers": self.num_layers,
                "dropout": self.dropout,
            }
        )
        return config
