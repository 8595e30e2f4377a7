import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_modality_name
from keras_mm.utils.validation import split_modalities


@keras_mm_export
class QueryFusion(FusionLayer):
    """One modality's pooled features look up the tokens of the others.

    The `pooled_output` of the `query` modality (a statement, a question)
    gives `num_heads` queries. Each scores every token of every other
    modality (key: the token plus a learned position embedding, projected
    to `key_dim`) with a sigmoid rather than a softmax, so a head's weights
    are a soft mask that can select any number of tokens, one, several or
    none. Per head and per looked-up modality the layer reads two things:
    the weighted mean of the projected tokens (what was found), and the
    mask's mass, the sum of its weights (how much was found, such as a
    number of objects), as a soft one-hot over `0 ... max_count`. They are
    projected and multiplied elementwise by a projection of the query's
    pooled features, so that the next layer can compare what was found
    with what the query says; concatenated with the projected query
    features, they are projected to `hidden_dim`.

    This is the fusion to use when the answer depends on one part of the
    other input that the query names ("are *the circles* red?"): the
    features of all tokens are not averaged together, so the colour of the
    circles does not mix with the colour of the squares.

    References: question-guided attention over image regions as in
    [Stacked Attention Networks (Yang et al., 2016)](
    https://arxiv.org/abs/1511.02274); sigmoid attention weights, whose sum
    counts, as in [Zhang et al., 2018](https://arxiv.org/abs/1802.05766).

    Masking: padded tokens of a looked-up modality (its `padding_mask`) get
    weight zero. The query modality contributes only its `pooled_output`.
    With a single modality, its pooled features look up its own tokens.

    Args:
        hidden_dim: int. Size of the fused output.
        query: str or `None`. Name of the query modality; `None` takes
            `"text"` if present, else the first name in sorted order.
            Defaults to `None`.
        num_heads: int. Queries, each with its own mask. Defaults to `4`.
        key_dim: int. Size of the keys and of the values read per head.
            Defaults to `32`.
        max_count: int. Largest mass told apart by the soft one-hot;
            larger masses share its last slot. Defaults to `4`.
        position_embedding: bool. Whether to add a learned embedding of
            each token's index to the tokens before the lookup, so a head
            can select by position ("at the top"). Needs a static number
            of tokens. Defaults to `True`.

    Call arguments:
        inputs: dict keyed by modality name of dicts with
            `"sequence_output"` `(batch, tokens, dim)`, `"pooled_output"`
            `(batch, dim)` and an optional bool `"padding_mask"`
            `(batch, tokens)`.
        return_attention_scores: bool. Whether to also return the masks.
            Defaults to `False`.

    Returns:
        `(batch, hidden_dim)`, or `(fused, scores)` when
        `return_attention_scores=True`. `scores` is a dict keyed
        `"query->key"` (for example `"text->images"`) of
        `(batch, num_heads, 1, key_tokens)` weights in `[0, 1]`, the shape
        of one query token's attention, so that `keras_mm.visualize`
        draws them like cross-attention.

    Raises:
        ValueError: when `query` is not a key of `inputs`, or when
            `position_embedding=True` and a looked-up modality's number of
            tokens is not static.

    Examples:
    >>> layer = keras_mm.fusion.QueryFusion(hidden_dim=4, num_heads=2,
    ...                                     key_dim=8)
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 9, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8))},
    ... }
    >>> fused, scores = layer(inputs, return_attention_scores=True)
    >>> tuple(fused.shape), tuple(scores["text->images"].shape)
    ((2, 4), (2, 2, 1, 9))
    """

    # Output specs come from tracing `call`, which also covers
    # `return_attention_scores=True`.
    compute_output_shape = keras.layers.Layer.compute_output_shape

    def __init__(
        self,
        hidden_dim,
        query=None,
        num_heads=4,
        key_dim=32,
        max_count=4,
        position_embedding=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_integers(
            hidden_dim=hidden_dim,
            num_heads=num_heads,
            key_dim=key_dim,
            max_count=max_count,
        )
        check_modality_name(query=query)
        if not isinstance(position_embedding, bool):
            raise ValueError(
                "`position_embedding` must be a bool. Received: "
                f"position_embedding={position_embedding!r}"
            )
        self.hidden_dim = hidden_dim
        self.output_dim = hidden_dim
        self.query = query
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.max_count = max_count
        self.position_embedding = position_embedding

    def _dense(self, units, name, input_shape):
        layer = keras.layers.Dense(units, dtype=self.dtype_policy, name=name)
        layer.build(input_shape)
        return layer

    def build(self, inputs_shape):
        names = check_modalities(inputs_shape)
        query = self.query or ("text" if "text" in names else names[0])
        query, others = split_modalities(names, query, "query")
        pooled_shape = inputs_shape[query]["pooled_output"]
        units = self.num_heads * self.key_dim
        self.query_projection = self._dense(units, "query", pooled_shape)
        self.query_features = self._dense(
            self.hidden_dim, "query_features", pooled_shape
        )
        self.gate = self._dense(
            len(others) * units, "comparison_gate", pooled_shape
        )
        self.keys, self.values, self.positions, self.biases = [], [], [], []
        for m in others:
            shape = inputs_shape[m]["sequence_output"]
            self.keys.append(self._dense(units, f"{m}_key", shape))
            self.values.append(self._dense(units, f"{m}_value", shape))
            self.biases.append(
                self.add_weight(
                    shape=(self.num_heads,),
                    initializer="zeros",
                    name=f"{m}_bias",
                )
            )
            if self.position_embedding:
                if shape[1] is None:
                    raise ValueError(
                        "`QueryFusion(position_embedding=True)` needs a "
                        f"static number of tokens; '{m}' has "
                        f"sequence_output shape {tuple(shape)}. Pass "
                        "position_embedding=False."
                    )
                self.positions.append(
                    self.add_weight(
                        shape=tuple(shape[1:]),
                        initializer="zeros",
                        name=f"{m}_position_embedding",
                    )
                )
        self.found = self._dense(
            self.key_dim, "found", (None, self.key_dim + self.max_count + 1)
        )
        self.output_projection = self._dense(
            self.hidden_dim,
            "output_projection",
            (None, self.hidden_dim + len(others) * units),
        )
        self._names = (query, others)
        self.built = True

    def _split_heads(self, x):
        """`(batch, tokens, heads * key_dim)` -> `(batch, heads, tokens,
        key_dim)`."""
        shape = (-1, keras.ops.shape(x)[1], self.num_heads, self.key_dim)
        return keras.ops.transpose(keras.ops.reshape(x, shape), (0, 2, 1, 3))

    def call(self, inputs, return_attention_scores=False):
        query, others = self._names
        heads, dim = self.num_heads, self.key_dim
        pooled = inputs[query]["pooled_output"]
        queries = keras.ops.reshape(
            self.query_projection(pooled), (-1, heads, 1, dim)
        )
        # Cast after: TensorFlow's graph-mode `range` has no float16 kernel.
        slots = keras.ops.cast(
            keras.ops.arange(self.max_count + 1), self.compute_dtype
        )
        found, scores = [], {}
        for i, m in enumerate(others):
            tokens = inputs[m]["sequence_output"]
            if self.position_embedding:
                tokens = tokens + keras.ops.cast(
                    self.positions[i], tokens.dtype
                )
            keys = self._split_heads(self.keys[i](tokens))
            values = self._split_heads(self.values[i](tokens))
            logits = keras.ops.sum(queries * keys, axis=-1) / dim**0.5
            bias = keras.ops.cast(self.biases[i], logits.dtype)
            weights = keras.ops.sigmoid(logits + bias[None, :, None])
            mask = inputs[m].get("padding_mask")
            if mask is not None:
                mask = keras.ops.cast(mask, weights.dtype)
                weights = weights * mask[:, None, :]
            mass = keras.ops.sum(weights, axis=-1)  # (batch, heads)
            read = keras.ops.sum(weights[..., None] * values, axis=2)
            # The mean over the selected tokens; +1 keeps it finite when a
            # head selects nothing (its mass then says so).
            read = read / (mass[..., None] + 1.0)
            count = keras.ops.relu(
                1.0
                - keras.ops.abs(
                    keras.ops.minimum(mass, self.max_count)[..., None] - slots
                )
            )
            both = self.found(keras.ops.concatenate([read, count], axis=-1))
            found.append(keras.ops.reshape(both, (-1, heads * dim)))
            scores[f"{query}->{m}"] = weights[:, :, None, :]
        compared = keras.ops.concatenate(found, axis=-1) * self.gate(pooled)
        fused = self.output_projection(
            keras.ops.concatenate(
                [self.query_features(pooled), compared], axis=-1
            )
        )
        if return_attention_scores:
            return fused, scores
        return fused

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "query": self.query,
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "max_count": self.max_count,
                "position_embedding": self.position_embedding,
            }
        )
        return config
