import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.fusion.fusion_layer import FusionLayer
from keras_mm.layers.masked_average_pooling import MaskedAveragePooling
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_modalities
from keras_mm.utils.validation import check_modality_name
from keras_mm.utils.validation import check_rate
from keras_mm.utils.validation import split_modalities


@keras_mm_export
class FiLMFusion(FusionLayer):
    """Modulates one modality's tokens with the other modalities' features.

    The tokens of the `conditioned` modality are projected to `hidden_dim`.
    The `pooled_output`s of the other modalities (sorted by name) are
    concatenated and a `Dense` layer turns them into a per-channel scale
    `gamma` and shift `beta`. The tokens become
    `relu((1 + gamma) * tokens + beta)`, are mean pooled over the valid
    tokens and passed through dropout. With a single modality, it is
    conditioned on its own pooled features.

    Reference: [FiLM (Perez et al., 2018)](https://arxiv.org/abs/1709.07871).

    Masking: the `padding_mask` of the conditioned modality keeps its
    padded tokens out of the pooled mean. The other modalities contribute
    only their `pooled_output`.

    Args:
        hidden_dim: int. Size of the fused output.
        conditioned: str or `None`. Name of the modality whose tokens are
            modulated; `None` takes the first name in sorted order.
            Defaults to `None`.
        dropout: float. Dropout rate on the fused output. Defaults to
            `0.0`.

    Call arguments:
        inputs: dict keyed by modality name of dicts with
            `"sequence_output"` `(batch, tokens, dim)`, `"pooled_output"`
            `(batch, dim)` and an optional bool `"padding_mask"`
            `(batch, tokens)`. Each modality may have its own `dim` and
            `tokens`.
        training: bool. Whether dropout is active.

    Returns:
        `(batch, hidden_dim)`.

    Raises:
        ValueError: when `conditioned` is not a key of `inputs`.

    Examples:
    >>> layer = keras_mm.fusion.FiLMFusion(hidden_dim=4, conditioned="text")
    >>> inputs = {
    ...     "images": {"sequence_output": np.ones((2, 3, 6)),
    ...                "pooled_output": np.ones((2, 6))},
    ...     "text": {"sequence_output": np.ones((2, 5, 8)),
    ...              "pooled_output": np.ones((2, 8))},
    ... }
    >>> tuple(layer(inputs).shape)
    (2, 4)
    """

    def __init__(self, hidden_dim, conditioned=None, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        check_integers(hidden_dim=hidden_dim)
        check_modality_name(conditioned=conditioned)
        check_rate(dropout=dropout)
        self.hidden_dim = hidden_dim
        self.output_dim = hidden_dim
        self.conditioned = conditioned
        self.dropout = dropout
        self.pooling = MaskedAveragePooling(
            dtype=self.dtype_policy, name="pooling"
        )
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )

    def _split(self, names):
        """The conditioned modality and the conditioning ones."""
        target = self.conditioned or sorted(names)[0]
        return split_modalities(names, target, "conditioned")

    def build(self, inputs_shape):
        check_modalities(inputs_shape)
        target, sources = self._split(inputs_shape)
        self.token_projection = keras.layers.Dense(
            self.hidden_dim, dtype=self.dtype_policy, name="token_projection"
        )
        self.token_projection.build(inputs_shape[target]["sequence_output"])
        self.film_generator = keras.layers.Dense(
            2 * self.hidden_dim,
            kernel_initializer="zeros",
            dtype=self.dtype_policy,
            name="film_generator",
        )
        total = sum(inputs_shape[m]["pooled_output"][-1] for m in sources)
        self.film_generator.build((None, total))
        self.built = True

    def call(self, inputs, training=None):
        target, sources = self._split(inputs)
        tokens = self.token_projection(inputs[target]["sequence_output"])
        condition = keras.ops.concatenate(
            [inputs[m]["pooled_output"] for m in sources], axis=-1
        )
        gamma, beta = keras.ops.split(self.film_generator(condition), 2, -1)
        tokens = keras.ops.relu(
            (1.0 + gamma[:, None, :]) * tokens + beta[:, None, :]
        )
        mask = inputs[target].get("padding_mask")
        pooled = self.pooling(tokens, padding_mask=mask)
        return self.dropout_layer(pooled, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "conditioned": self.conditioned,
                "dropout": self.dropout,
            }
        )
        return config
