"""`keras_mm.encoders.image`: pixels to image tokens and a pooled vector."""

import keras
import keras_hub

from keras_mm.encoders.encoder import Encoder
from keras_mm.encoders.image_architectures import ARCHITECTURES
from keras_mm.encoders.image_architectures import NORMALIZATION
from keras_mm.encoders.presets import is_preset
from keras_mm.encoders.presets import load_preset
from keras_mm.layers.image_preprocessing import ImagePreprocessing
from keras_mm.layers.masked_average_pooling import MaskedAveragePooling


def _normalization(mean_std):
    """(mean, std) on [0, 1] pixels -> (scale, offset) on [0, 255]."""
    if mean_std is None:
        return 1.0 / 255.0, 0.0
    mean, std = mean_std
    scale = [1.0 / (255.0 * s) for s in std]
    offset = [-m / s for m, s in zip(mean, std)]
    return scale, offset


def _preset_normalization(preset):
    """The scale and offset of a preset's image converter, if it has one."""
    try:
        converter = keras_hub.layers.ImageConverter.from_preset(preset)
    except Exception:
        return _normalization(NORMALIZATION["resnet_50"])
    scale = converter.scale if converter.scale is not None else 1.0
    offset = converter.offset if converter.offset is not None else 0.0
    return scale, offset


def image_outputs(features, name):
    """Backbone features (map, tokens or vector) -> the encoder output dict."""
    rank = len(features.shape)
    if rank == 4:
        sequence = keras.layers.Reshape(
            (-1, features.shape[-1]), name=f"{name}_tokens"
        )(features)
    elif rank == 3:
        sequence = features
    elif rank == 2:
        sequence = keras.layers.Reshape(
            (1, features.shape[-1]), name=f"{name}_tokens"
        )(features)
    else:
        raise ValueError(
            "An image backbone must output a feature map (B, H, W, D), "
            f"tokens (B, N, D) or a vector (B, D). Received: {features.shape}"
        )
    pooled = MaskedAveragePooling(name=f"{name}_pooling")(sequence)
    return {"sequence_output": sequence, "pooled_output": pooled}


def image(
    backbone="cnn_small",
    image_shape=(224, 224, 3),
    trainable=True,
    name="image_encoder",
):
    """Builds an image encoder: raw pixels to image tokens and a pooled vector.

    The encoder takes `images`, pixels in `[0, 255]` (`uint8` or float) of
    shape `(batch, height, width, channels)`, resizes them to `image_shape`
    and normalises them in the graph, runs a backbone, and returns
    `{"sequence_output": (batch, tokens, dim), "pooled_output": (batch,
    dim)}`: a feature map's cells become tokens, and the pooled vector is
    their mean.

    Args:
        backbone: str or `keras.Model`. One of:
            - a built-in architecture, randomly initialised, that works
              offline: `"cnn_small"` (tiny, trains on a CPU in minutes),
              `"cnn_shape_colour_small"` (the same, with shape features
              blind to colour and colour features apart: objects in
              colour-shape pairs never seen in training are still
              found by their shape), `"resnet_18"`, `"resnet_50"`,
              `"efficientnet_b0"`, `"mobilenet_v3_small"`, `"vit_tiny"`;
            - a KerasHub preset name such as `"resnet_50_imagenet"`
              (downloads on first use) or a `kaggle://` / `hf://` URI;
            - a local preset directory, written by
              `keras_hub.models.Backbone.save_to_preset(directory)`;
            - any Keras model from images to features, such as a KerasCV
              backbone or a `keras.applications` model built with
              `include_top=False`. It gets images scaled to `[0, 1]`.
        image_shape: tuple of 3 ints. Input size of the backbone; images of
            other sizes are resized to it. Defaults to `(224, 224, 3)`.
        trainable: bool. `False` freezes the encoder. Defaults to `True`.
        name: str. Defaults to `"image_encoder"`.

    Returns:
        A `keras_mm.encoders.Encoder`.

    Raises:
        ValueError: for an unknown name, or a preset that cannot be loaded
            (the message names the offline alternatives), or images whose
            rank or channel count differ from `image_shape`.

    Examples:
    >>> encoder = keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3))
    >>> encoder.predict(np.zeros((2, 48, 48, 3), "uint8"),
    ...                 verbose=0)["sequence_output"].shape
    (2, 4, 64)

    With pretrained weights, on a machine that can download them:

    ```python
    encoder = keras_mm.encoders.image("resnet_50_imagenet", trainable=False)
    ```
    """
    image_shape = tuple(image_shape)
    scale, offset = 1.0 / 255.0, 0.0
    if isinstance(backbone, str):
        key = backbone
        if key in ARCHITECTURES:
            scale, offset = _normalization(NORMALIZATION[key])
            backbone = ARCHITECTURES[key](image_shape)
        elif is_preset(key):
            backbone = load_preset(
                keras_hub.models.Backbone.from_preset,
                key,
                sorted(ARCHITECTURES),
            )
            scale, offset = _preset_normalization(key)
        else:
            raise ValueError(
                f"Unknown image encoder '{key}'. Allowed: a built-in "
                f"architecture ({', '.join(sorted(ARCHITECTURES))}), a "
                "KerasHub preset name (e.g. 'resnet_50_imagenet'; see "
                "`keras_hub.models.Backbone.presets`), a local preset "
                "directory, or a Keras model object."
            )
    elif not isinstance(backbone, keras.layers.Layer):
        raise ValueError(
            "`backbone` must be a name, a preset or a Keras model. "
            f"Received: backbone={backbone!r}"
        )
    images = keras.Input(shape=(None, None, image_shape[-1]), name="images")
    x = ImagePreprocessing(
        image_shape, scale=scale, offset=offset, name="image_preprocessing"
    )(images)
    outputs = image_outputs(backbone(x), name)
    network = keras.Model(images, outputs, name=f"{name}_network")
    encoder = Encoder(network, name=name)
    encoder.trainable = trainable
    return encoder
