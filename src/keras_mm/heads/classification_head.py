import keras

from keras_mm.api_export import keras_mm_export


@keras_mm_export
class ClassificationHead(keras.layers.Layer):
    """Dropout, a hidden layer and the output layer of a classifier.

    The output layer always runs in float32, so probabilities and losses
    stay stable under a mixed precision policy.

    Args:
        num_classes: int or `None`. Classes; `None` for a regression head
            with one linear output.
        activation: str or `None`. `"softmax"` (one class per example),
            `"sigmoid"` (multi-label) or `None` (logits, or regression).
            Defaults to `"softmax"`.
        hidden_dim: int or `None`. Size of a hidden layer before the
            output, or `None` for none. Defaults to `None`.
        dropout: float. Dropout rate on the input. Defaults to `0.0`.
        hidden_activation: str. Activation of the hidden layer, any Keras
            activation name. Defaults to `"relu"`. Try `"gelu"` when one
            part of a task stays at chance while another is learned: ReLU
            units that the first-learned part drives negative can stop
            learning for good (see the fusion section of BENCHMARKS.md).

    Call arguments:
        inputs: `(batch, features)`.

    Returns:
        `(batch, num_classes)` probabilities or logits, or `(batch, 1)`.

    Examples:
    >>> head = keras_mm.heads.ClassificationHead(3)
    >>> tuple(head(np.ones((2, 8))).shape)
    (2, 3)
    """

    def __init__(
        self,
        num_classes,
        activation="softmax",
        hidden_dim=None,
        dropout=0.0,
        hidden_activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        try:
            keras.activations.get(hidden_activation)
        except ValueError:
            raise ValueError(
                "`hidden_activation` must be a Keras activation name such as "
                f"'gelu' or 'relu'. Received: hidden_activation="
                f"{hidden_activation!r}"
            ) from None
        if num_classes is not None and (
            not isinstance(num_classes, int) or num_classes < 1
        ):
            raise ValueError(
                "`num_classes` must be a positive integer, or None for "
                f"regression. Received: num_classes={num_classes!r}"
            )
        if activation not in ("softmax", "sigmoid", None):
            raise ValueError(
                "`activation` must be 'softmax', 'sigmoid' or None. "
                f"Received: activation={activation!r}"
            )
        if num_classes is None and activation is not None:
            raise ValueError(
                "A regression head (num_classes=None) has no activation. "
                f"Received: activation={activation!r}"
            )
        self.num_classes = num_classes
        self.activation = activation
        self.hidden_dim = hidden_dim
        self.dropout = dropout
        self.hidden_activation = hidden_activation
        self.dropout_layer = keras.layers.Dropout(
            dropout, dtype=self.dtype_policy, name="dropout"
        )
        self.hidden = (
            keras.layers.Dense(
                hidden_dim,
                activation=hidden_activation,
                dtype=self.dtype_policy,
                name="hidden",
            )
            if hidden_dim
            else None
        )
        self.output_dense = keras.layers.Dense(
            num_classes or 1,
            activation=activation,
            dtype="float32",
            name="output",
        )

    def build(self, inputs_shape):
        shape = inputs_shape
        if self.hidden is not None:
            self.hidden.build(shape)
            shape = (shape[0], self.hidden_dim)
        self.output_dense.build(shape)

    def call(self, inputs, training=None):
        x = self.dropout_layer(inputs, training=training)
        if self.hidden is not None:
            x = self.hidden(x)
        return self.output_dense(x)

    def compute_output_shape(self, inputs_shape):
        return (inputs_shape[0], self.num_classes or 1)

    def compute_output_spec(self, inputs):
        # The output layer computes in float32 under any dtype policy
        # (`mixed_bfloat16` too), so probabilities and losses keep float32.
        return keras.KerasTensor(
            self.compute_output_shape(inputs.shape), dtype="float32"
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "activation": self.activation,
                "hidden_dim": self.hidden_dim,
                "dropout": self.dropout,
                "hidden_activation": self.hidden_activation,
            }
        )
        return config
