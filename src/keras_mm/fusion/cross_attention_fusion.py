import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.layers.masked_average_pooling import MaskedAveragePooling
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_rate


def _padding_mask(features):
    """The bool `(batch, tokens)` mask of one modality, all `True` if none."""
    mask = features.get("padding_mask")
    if mask is None:
        tokens = features["sequence_output"]
        return keras.ops.ones(keras.ops.shape(tokens)[:2], "bool")
    return keras.ops.cast(mask, "bool")


@keras_mm_export
class CrossAttentionFusion(FusionLayer):
    """Each modality's tokens attend to the tokens of the other modalities.

    Every modality's `sequence_output` is projected to `hidden_dim`. Each of
    `num_layers` blocks then updates every modality at once: its tokens are
    the queries of a multi-head attention whose keys and values are the
    tokens of all the other modalities, concatenated (residual connection
    and layer normalization), followed by a two-layer feedforward network
    of width `2 * hidden_dim` (residual connection and layer
    normalization). The updated tokens of each modality are mean pooled
    over its valid tokens; the pooled vectors, in sorted order of the
    modality names, are concatenated and projected to `hidden_dim`. With a
    single modality, its tokens attend to themselves.

    Reference: the co-attention blocks of
    [ViLBERT (Lu et al., 2019)](https://arxiv.org/abs/1908.02265).

    Masking: a modality's `padding_mask` marks its valid tokens. Padded
    tokens are never attended to (they get zero attention weight as keys)
    and never pooled, so the values under the mask do not change the
    output. Padded query tokens are computed but dropped by the pooling.
    A modality without `padding_mask` has all its tokens valid.

    Args:
        hidden_dim: int. Size of the projected tokens and of the fused
            output. Must be divisible by `num_heads`.
        num_heads: int. Attention heads. Defaults to `4`.
        num_layers: int. Cross-attention blocks. Defaults to `1`.
        dropout: float. Dropout rate of the attention weights and of the
            residual branches. Defaults to `0.0`.

    Call arguments:
        inputs: dict keyed by modality name of dicts with
            `"sequence_output"` `(batch, tokens, dim)`, `"pooled_output"`
            `(batch, dim)` and an optional bool `"padding_mask"`
            `(batch, tokens)`. Each modality may have its own `dim` and
            `tokens`.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Whether to also return the attention
            weights of the last block. Defaults to `False`.

    Returns:
        `(batch, hidden_dim)`, or `(fused, scores)` when
        `return_attention_scores=True`. `scores` is a dict keyed
        `"query->key"` (for example `"text->images"`) of
        `(batch, num_heads, query_tokens, key_tokens)` weights. With three
        modalities the softmax runs over both other modalities together, so
        the two blocks of one query sum to one.

    Examples:
    >>> layer = keras_mm.fusion.CrossAttentionFusion(hidden_dim=4,
    ...                                              num_heads=2)
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 3, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8)),
    ...              "padding_mask": np.array([[True] * 5, [True] * 2
    ...                                        + [False] * 3])},
    ... }
    >>> fused, scores = layer(inputs, return_attention_scores=True)
    >>> tuple(fused.shape)
    (2, 4)
    >>> {key: tuple(value.shape) for key, value in scores.items()}
    {'images->text': (2, 2, 3, 5), 'text->images': (2, 2, 5, 3)}
    """

    # Keras' own default: output specs come from tracing `call`, which also
    # covers `return_attention_scores=True`.
    compute_output_shape = keras.layers.Layer.compute_output_shape

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
        self.pooling = MaskedAveragePooling(
            dtype=self.dtype_policy, name="pooling"
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def _dense(self, units, name, activation=None):
        return keras.layers.Dense(
            units, activation=activation, dtype=self.dtype_policy, name=name
        )

    def build(self, inputs_shape):
        check_modalities(inputs_shape)
        modalities = sorted(inputs_shape)
        hidden = self.hidden_dim
        self.projections = []
        for m in modalities:
            projection = self._dense(hidden, f"{m}_projection")
            projection.build(inputs_shape[m]["sequence_output"])
            self.projections.append(projection)
        token_shape = (None, None, hidden)
        # blocks[i][j]: the sublayers of block i for modality j.
        self.blocks = []
        for i in range(self.num_layers):
            block = []
            for m in modalities:
                attention = keras.layers.MultiHeadAttention(
                    num_heads=self.num_heads,
                    key_dim=hidden // self.num_heads,
                    dropout=self.dropout,
                    dtype=self.dtype_policy,
                    name=f"{m}_cross_attention_{i}",
                )
                attention.build(token_shape, token_shape)
                attention_norm = keras.layers.LayerNormalization(
                    dtype=self.dtype_policy, name=f"{m}_attention_norm_{i}"
                )
                intermediate = self._dense(
                    2 * hidden, f"{m}_intermediate_{i}", activation="gelu"
                )
                output = self._dense(hidden, f"{m}_output_{i}")
                norm = keras.layers.LayerNormalization(
                    dtype=self.dtype_policy, name=f"{m}_output_norm_{i}"
                )
                attention_norm.build(token_shape)
                intermediate.build(token_shape)
                output.build((None, None, 2 * hidden))
                norm.build(token_shape)
                block.append(
                    [attention, attention_norm, intermediate, output, norm]
                )
            self.blocks.append(block)
        self.output_projection = self._dense(hidden, "output_projection")
        self.output_projection.build((None, hidden * len(modalities)))
        self.built = True

    def call(self, inputs, training=None, return_attention_scores=False):
        modalities = sorted(inputs)
        masks = [_padding_mask(inputs[m]) for m in modalities]
        states = [
            projection(inputs[m]["sequence_output"])
            for m, projection in zip(modalities, self.projections)
        ]
        scores = {}
        for block in self.blocks:
            new_states = []
            for j, layers in enumerate(block):
                attention, attention_norm, intermediate, output, norm = layers
                others = [k for k in range(len(modalities)) if k != j]
                others = others or [j]
                keys = keras.ops.concatenate(
                    [states[k] for k in others], axis=1
                )
                key_mask = keras.ops.concatenate(
                    [masks[k] for k in others], axis=1
                )
                query_ones = keras.ops.ones_like(masks[j])[:, :, None]
                attention_mask = keras.ops.logical_and(
                    query_ones, key_mask[:, None, :]
                )
                attended, weights = attention(
                    states[j],
                    keys,
                    attention_mask=attention_mask,
                    return_attention_scores=True,
                    training=training,
                )
                x = attention_norm(
                    states[j] + self.dropout_layer(attended, training=training)
                )
                y = output(intermediate(x))
                x = norm(x + self.dropout_layer(y, training=training))
                new_states.append(x)
                start = 0
                for k in others:
                    size = keras.ops.shape(states[k])[1]
                    name = f"{modalities[j]}->{modalities[k]}"
                    scores[name] = weights[..., start : start + size]
                    start = start + size
            states = new_states
        pooled = [
            self.pooling(state, padding_mask=mask)
            for state, mask in zip(states, masks)
        ]
        fused = self.output_projection(keras.ops.concatenate(pooled, axis=-1))
        if return_attention_scores:
            return fused, scores
        return fused

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
