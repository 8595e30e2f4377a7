import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.base.pipeline_model import PipelineModel
from keras_mm.utils.inputs import inputs_like


@keras_mm_export
class Encoder(PipelineModel):
    """One modality's raw inputs to `{"sequence_output", "pooled_output"}`.

    `keras_mm.encoders.image`, `text` and `audio` return an `Encoder`. It
    wraps `network`, a functional model from model inputs (pixels, token
    ids, waveforms) to the two features, and an optional `preprocessor` that
    turns raw inputs (strings, waveforms of any length) into those model
    inputs in the data pipeline. `predict` takes raw inputs; calling the
    encoder inside a model takes model inputs, as `network` does.

    Args:
        network: `keras.Model`. Maps model inputs to a dict with
            `"sequence_output"` `(B, N, D)` and `"pooled_output"` `(B, D)`.
        preprocessor: `keras_mm.layers.PreprocessingLayer` or `None`.

    Examples:
    >>> encoder = keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3))
    >>> features = encoder.predict(np.zeros((2, 32, 32, 3), "uint8"),
    ...                            verbose=0)
    >>> features["pooled_output"].shape
    (2, 64)
    """

    def __init__(self, network, preprocessor=None, **kwargs):
        # === Layers ===
        self.network = network
        self.preprocessor = preprocessor

        # === Functional Model ===
        inputs = inputs_like(network.input)
        outputs = network(inputs)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    @property
    def hidden_dim(self):
        """Size of the last axis of both outputs."""
        return self.network.output["pooled_output"].shape[-1]

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "network": keras.layers.serialize(self.network),
            "preprocessor": keras.layers.serialize(self.preprocessor)
            if self.preprocessor is not None
            else None,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["network"] = keras.layers.deserialize(config["network"])
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.layers.deserialize(
                config["preprocessor"]
            )
        return cls(**config)
