import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.preprocessing_layer import PreprocessingLayer


@keras_mm_export
class MultimodalPreprocessor(PreprocessingLayer):
    """Runs one preprocessor per input key, and passes other keys through.

    Args:
        preprocessors: dict. Input key (`"text"`, `"audio"`, ...) to the
            preprocessing layer of that key's encoder.

    Call arguments:
        x: dict of raw inputs.

    Returns:
        The dict with each preprocessed key replaced by its preprocessor's
        output (a dict such as `{"token_ids", "padding_mask"}`).

    Examples:
    >>> vocab = ["[PAD]", "[UNK]", "[START]", "[END]", "red"]
    >>> preprocessor = keras_mm.layers.MultimodalPreprocessor(
    ...     {"text": keras_mm.layers.WordTokenizer(vocab, 3)})
    >>> preprocessor({"text": ["red"], "images": np.zeros((1, 2, 2, 3))}
    ...              )["text"]["token_ids"]
    array([[4, 0, 0]], dtype=int32)
    """

    def __init__(self, preprocessors, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(preprocessors, dict):
            raise ValueError(
                "`preprocessors` must be a dict of input key to layer. "
                f"Received: preprocessors={preprocessors!r}"
            )
        self.preprocessors = dict(preprocessors)

    def call(self, x, y=None, sample_weight=None):
        if not isinstance(x, dict):
            raise ValueError(
                "Inputs must be a dict keyed by input name, with keys "
                f"{sorted(self.preprocessors)}. Received: {type(x).__name__}"
            )
        x = dict(x)
        for key, preprocessor in self.preprocessors.items():
            if key in x:
                x[key] = preprocessor(x[key])
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config["preprocessors"] = {
            key: keras.layers.serialize(layer)
            for key, layer in self.preprocessors.items()
        }
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["preprocessors"] = {
            key: keras.layers.deserialize(layer)
            for key, layer in config["preprocessors"].items()
        }
        return cls(**config)
