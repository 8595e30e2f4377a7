"""Random-initialised image backbones, by name.

`ARCHITECTURES` maps a name to a builder `(image_shape) -> keras.Model`. The
model takes float images `(B, H, W, C)` that are already normalised (see
`NORMALIZATION`) and returns a feature map `(B, h, w, D)` for the CNNs or
tokens `(B, N, D)` for the ViT. Every builder passes `image_shape` to the
backbone, so the spatial shapes are static, as export needs.

`cnn_small` is our own small CNN that trains from scratch on a CPU in
minutes; `cnn_shape_colour_small` is the same with shape and colour kept
apart, for scenes whose objects come in new colour-shape combinations.
The others are KerasHub backbone classes built with the exact configs of
KerasHub's ImageNet presets, minus the pretrained weights:

- `resnet_18`: preset `resnet_18_imagenet`, from `timm/resnet18.a1_in1k`;
- `resnet_50`: preset `resnet_50_imagenet`, from `timm/resnet50.a1_in1k`;
- `efficientnet_b0`: preset `efficientnet_b0_ra_imagenet`, from
  `timm/efficientnet_b0.ra_in1k`;
- `mobilenet_v3_small`: preset `mobilenet_v3_small_100_imagenet`, from
  `timm/mobilenetv3_small_100.lamb_in1k`;
- `vit_tiny`: ViT-Ti/16 (timm `vit_tiny_patch16_224`). KerasHub has no ViT-Ti
  preset; the `keras_hub.models.ViTBackbone` is the class of its ViT-B/L/H
  presets.

The configs are those that KerasHub's timm converters produce (keras-hub
`keras_hub/src/utils/timm/convert_{resnet,efficientnet,mobilenet}.py`,
called by `tools/checkpoint_conversion/convert_*_checkpoints.py`). At
224x224, counting the moving statistics of batch normalisation as `count_params`
does, `resnet_18` has 11,186,112 parameters, `resnet_50` 23,561,152 and
`mobilenet_v3_small` 939,120: the `params` of the presets' metadata.
`efficientnet_b0` has 4,049,564, of which 4,007,548 trainable; with a
1000-class head that is timm's 5,288,548, the figure of its preset.
`vit_tiny` has 5,524,416; with a 1000-class head, timm's 5,717,416.

Examples:
>>> from keras_mm.encoders import image_architectures
>>> image_architectures.names()[:3]
['cnn_shape_colour_small', 'cnn_small', 'efficientnet_b0']
>>> model = image_architectures.ARCHITECTURES["cnn_small"]((32, 32, 3))
>>> model.output.shape
(None, 2, 2, 64)
>>> image_architectures.NORMALIZATION["resnet_50"][0]
(0.485, 0.456, 0.406)
"""

import numbers

import keras
import keras_hub

from keras_mm.layers.colour_blind_conv import ColourBlindConv2D

# Per-channel (mean, std) of pixels scaled to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The "inception" normalisation, to [-1, 1].
HALF_MEAN = (0.5, 0.5, 0.5)
HALF_STD = (0.5, 0.5, 0.5)

CNN_SMALL_FILTERS = (32, 64, 64, 64)
COLOUR_FILTERS = 16

# hub:`keras_hub/src/utils/timm/convert_resnet.py` for "resnet18"/"resnet50".
RESNET_18_CONFIG = {
    "input_conv_filters": [64],
    "input_conv_kernel_sizes": [7],
    "stackwise_num_filters": [64, 128, 256, 512],
    "stackwise_num_blocks": [2, 2, 2, 2],
    "stackwise_num_strides": [1, 2, 2, 2],
    "block_type": "basic_block",
    "use_pre_activation": False,
}
RESNET_50_CONFIG = {
    **RESNET_18_CONFIG,
    "stackwise_num_blocks": [3, 4, 6, 3],
    "block_type": "bottleneck_block",
}

# hub:`keras_hub/src/utils/timm/convert_efficientnet.py` for
# "efficientnet_b0": its `base_kwargs` updated with `VARIANT_MAP["b0"]`.
EFFICIENTNET_B0_CONFIG = {
    "stackwise_width_coefficients": [1.0] * 7,
    "stackwise_depth_coefficients": [1.0] * 7,
    "stackwise_kernel_sizes": [3, 3, 5, 3, 5, 5, 3],
    "stackwise_num_repeats": [1, 2, 2, 3, 3, 4, 1],
    "stackwise_input_filters": [32, 16, 24, 40, 80, 112, 192],
    "stackwise_output_filters": [16, 24, 40, 80, 112, 192, 320],
    "stackwise_expansion_ratios": [1, 6, 6, 6, 6, 6, 6],
    "stackwise_squeeze_and_excite_ratios": [0.25] * 7,
    "stackwise_strides": [1, 2, 2, 2, 1, 2, 1],
    "stackwise_block_types": ["v1"] * 7,
    "min_depth": None,
    "include_stem_padding": True,
    "use_depth_divisor_as_min_depth": True,
    "cap_round_filter_decrease": True,
    "stem_conv_padding": "valid",
    "batch_norm_momentum": 0.9,
    "batch_norm_epsilon": 1e-5,
    "dropout": 0,
    "projection_activation": None,
}

# hub:`keras_hub/src/utils/timm/convert_mobilenet.py` for
# "mobilenetv3_small_100".
MOBILENET_V3_SMALL_CONFIG = {
    "stackwise_num_blocks": [2, 3, 2, 3],
    "stackwise_expansion": [
        [72, 88],
        [96, 240, 240],
        [120, 144],
        [288, 576, 576],
    ],
    "stackwise_num_filters": [
        [24, 24],
        [40, 40, 40],
        [48, 48],
        [96, 96, 96],
    ],
    "stackwise_kernel_size": [[3, 3], [5, 5, 5], [5, 5], [5, 5, 5]],
    "stackwise_num_strides": [[2, 1], [2, 1, 1], [1, 1], [2, 1, 1]],
    "stackwise_se_ratio": [
        [None, None],
        [0.25, 0.25, 0.25],
        [0.25, 0.25],
        [0.25, 0.25, 0.25],
    ],
    "stackwise_activation": [
        ["relu", "relu"],
        ["hard_swish", "hard_swish", "hard_swish"],
        ["hard_swish", "hard_swish"],
        ["hard_swish", "hard_swish", "hard_swish"],
    ],
    "stackwise_padding": [[1, 1], [2, 2, 2], [2, 2], [2, 2, 2]],
    "output_num_filters": 1024,
    "input_num_filters": 16,
    "depthwise_filters": 16,
    "depthwise_stride": 2,
    "depthwise_residual": False,
    "squeeze_and_excite": 0.5,
    "last_layer_filter": 576,
    "input_activation": "hard_swish",
    "output_activation": "hard_swish",
}

# ViT-Ti/16 (Touvron et al. 2021, "Training data-efficient image
# transformers", table 1; timm `vit_tiny_patch16_224`), in the argument names
# of hub:`keras_hub/src/utils/transformers/convert_vit.py`.
VIT_TINY_CONFIG = {
    "num_layers": 12,
    "num_heads": 3,
    "hidden_dim": 192,
    "mlp_dim": 768,
    "dropout_rate": 0.0,
    "attention_dropout": 0.0,
    "use_mha_bias": True,
}
VIT_PATCH_SIZES = (16, 8, 4, 2, 1)


def _check_image_shape(image_shape):
    image_shape = tuple(image_shape)
    if len(image_shape) != 3 or not all(
        isinstance(size, numbers.Integral) and size > 0 for size in image_shape
    ):
        raise ValueError(
            "`image_shape` must be three positive integers "
            "`(height, width, channels)`. Received: "
            f"image_shape={image_shape}"
        )
    return tuple(int(size) for size in image_shape)


def _conv_block(x, filters, name, conv=None, strides=2):
    """A 3x3 convolution (or `conv`), batch norm and ReLU."""
    if conv is None:
        conv = keras.layers.Conv2D(
            filters,
            3,
            strides=strides,
            padding="same",
            use_bias=False,
            name=f"{name}_conv",
        )
    x = conv(x)
    # Momentum 0.9, not Keras' 0.99: short CPU runs (a few hundred steps)
    # otherwise predict with moving statistics still near their initial
    # values, far from the training-mode ones.
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def cnn_small(image_shape):
    """A four-block CNN that trains from scratch on a CPU.

    Each block is a 3x3 stride-2 `Conv2D`, `BatchNormalization` and ReLU,
    with 32, 64, 64 and 64 filters, so a 64x64 image becomes a 4x4x64 map
    (about 93k parameters). Use it for small datasets and quick runs.

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.

    Returns:
        A functional `keras.Model` named `"cnn_small"` from `"images"`
        `(B, H, W, C)` to `(B, ceil(H / 16), ceil(W / 16), 64)`.
    """
    image_shape = _check_image_shape(image_shape)
    inputs = keras.Input(shape=image_shape, name="images")
    x = inputs
    for i, filters in enumerate(CNN_SMALL_FILTERS):
        x = _conv_block(x, filters, f"conv_block_{i}")
    return keras.Model(inputs, x, name="cnn_small")


def cnn_shape_colour_small(image_shape):
    """`cnn_small` blind to colour, beside a stream that sees only colour.

    The shape stream is `cnn_small` whose first convolution is a
    `keras_mm.layers.ColourBlindConv2D`: the same kernels on each colour
    channel, the strongest response kept, so an outline gives the same
    features in any colour. Each later block is followed by a 3x3
    stride-1 block of the same width (`shape_block_{i}_refine`), which
    fine detail such as the letters of a small word needs: trained to
    name the word in 48-pixel scenes, the encoder reads it right 0.998 of
    the time with them and at most 0.79 without (BENCHMARKS.md). The
    colour stream is a 1x1 convolution (16 filters, ReLU), max-pooled to
    the same grid. Each cell of the output
    concatenates the two, so shape and colour stay apart up to the fusion:
    trained on red and yellow circles, the network finds a blue circle as
    a circle, where `cnn_small`, which can learn "blue, so not a circle",
    often does not.

    Scope: an inductive bias for images whose labels combine colour and
    shape as separate factors (the built-in scenes, coloured symbols,
    diagrams). Its shape stream sees no colour and its colour stream sees
    one pixel at a time, so on natural images, where colour and texture
    mean things together, use `cnn_small`, `resnet_18` or a pretrained
    backbone.

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.

    Returns:
        A functional `keras.Model` named `"cnn_shape_colour_small"` from
        `"images"` `(B, H, W, C)` to `(B, ceil(H / 16), ceil(W / 16), 80)`:
        64 shape features, then 16 colour features.
    """
    image_shape = _check_image_shape(image_shape)
    inputs = keras.Input(shape=image_shape, name="images")
    first = ColourBlindConv2D(
        CNN_SMALL_FILTERS[0],
        3,
        strides=2,
        use_bias=False,
        name="shape_block_0_conv",
    )
    x = _conv_block(inputs, None, "shape_block_0", conv=first)
    for i, filters in enumerate(CNN_SMALL_FILTERS[1:], start=1):
        x = _conv_block(x, filters, f"shape_block_{i}")
        x = _conv_block(x, filters, f"shape_block_{i}_refine", strides=1)
    colour = keras.layers.Conv2D(
        COLOUR_FILTERS, 1, activation="relu", name="colour_conv"
    )(inputs)
    colour = keras.layers.MaxPooling2D(
        2 ** len(CNN_SMALL_FILTERS), padding="same", name="colour_pool"
    )(colour)
    outputs = keras.layers.Concatenate(name="shape_and_colour")([x, colour])
    return keras.Model(inputs, outputs, name="cnn_shape_colour_small")


def resnet_18(image_shape):
    """ResNet-18 (`keras_hub.models.ResNetBackbone`, basic blocks).

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.

    Returns:
        A `keras_hub.models.ResNetBackbone` from `(B, H, W, C)` to a
        `(B, H / 32, W / 32, 512)` feature map (sides rounded up).
    """
    return keras_hub.models.ResNetBackbone(
        **RESNET_18_CONFIG,
        image_shape=_check_image_shape(image_shape),
        name="resnet_18",
    )


def resnet_50(image_shape):
    """ResNet-50 (`keras_hub.models.ResNetBackbone`, bottleneck blocks).

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.

    Returns:
        A `keras_hub.models.ResNetBackbone` from `(B, H, W, C)` to a
        `(B, H / 32, W / 32, 2048)` feature map (sides rounded up).
    """
    return keras_hub.models.ResNetBackbone(
        **RESNET_50_CONFIG,
        image_shape=_check_image_shape(image_shape),
        name="resnet_50",
    )


def efficientnet_b0(image_shape):
    """EfficientNet-B0 (`keras_hub.models.EfficientNetBackbone`).

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.

    Returns:
        A `keras_hub.models.EfficientNetBackbone` from `(B, H, W, C)` to a
        `(B, H / 32, W / 32, 1280)` feature map (sides rounded up).
    """
    # EfficientNetBackbone spells the argument `input_shape`.
    return keras_hub.models.EfficientNetBackbone(
        **EFFICIENTNET_B0_CONFIG,
        input_shape=_check_image_shape(image_shape),
        name="efficientnet_b0",
    )


def mobilenet_v3_small(image_shape):
    """MobileNetV3-Small 1.0 (`keras_hub.models.MobileNetBackbone`).

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.

    Returns:
        A `keras_hub.models.MobileNetBackbone` from `(B, H, W, C)` to a
        `(B, H / 32, W / 32, 576)` feature map (sides rounded up).
    """
    return keras_hub.models.MobileNetBackbone(
        **MOBILENET_V3_SMALL_CONFIG,
        image_shape=_check_image_shape(image_shape),
        name="mobilenet_v3_small",
    )


def vit_patch_size(image_shape):
    """The patch size `vit_tiny` uses for `image_shape`.

    This is the largest of 16, 8, 4, 2 and 1 that divides both sides and
    leaves at least two patches per side: 16 for 224x224, 64x64 and 32x32;
    8 for 24x24 and 16x16; 4 for 28x28 (MNIST). The fallback is 1.

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.

    Returns:
        int.
    """
    height, width, _ = _check_image_shape(image_shape)
    for patch_size in VIT_PATCH_SIZES:
        if (
            height % patch_size == 0
            and width % patch_size == 0
            and min(height, width) >= 2 * patch_size
        ):
            return patch_size
    return 1


def vit_tiny(image_shape, patch_size=None):
    """ViT-Ti (`keras_hub.models.ViTBackbone`): 12 layers of width 192.

    The patch size is 16 (ViT-Ti/16) where the image allows it and smaller
    otherwise; see `vit_patch_size`.

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)`.
        patch_size: int or `None`. Overrides `vit_patch_size(image_shape)`.
            Must divide both sides. Defaults to `None`.

    Returns:
        A `keras_hub.models.ViTBackbone` from `(B, H, W, C)` to
        `(B, 1 + (H / p) * (W / p), 192)` tokens, the class token first.
    """
    image_shape = _check_image_shape(image_shape)
    if patch_size is None:
        patch_size = vit_patch_size(image_shape)
    return keras_hub.models.ViTBackbone(
        **VIT_TINY_CONFIG,
        image_shape=image_shape,
        patch_size=patch_size,
        name="vit_tiny",
    )


ARCHITECTURES = {
    "cnn_small": cnn_small,
    "cnn_shape_colour_small": cnn_shape_colour_small,
    "resnet_18": resnet_18,
    "resnet_50": resnet_50,
    "efficientnet_b0": efficientnet_b0,
    "mobilenet_v3_small": mobilenet_v3_small,
    "vit_tiny": vit_tiny,
}

# The normalisation of each family's KerasHub image converter, as
# `(mean, std)` per channel on pixels in [0, 1]. The timm-converted presets
# (ResNet, EfficientNet, MobileNet) take the checkpoint's `pretrained_cfg`,
# the ImageNet statistics for all three (hub:`utils/timm/preset_loader.py`
# `load_image_converter`). The ViT presets take the Hugging Face
# `ViTImageProcessor` of google/vit-*, mean and std 0.5
# (hub:`tools/checkpoint_conversion/convert_vit_checkpoints.py`), which is
# also what timm uses for `vit_tiny_patch16_224`. `None` means pixels / 255.
NORMALIZATION = {
    "cnn_small": None,
    "cnn_shape_colour_small": None,
    "resnet_18": (IMAGENET_MEAN, IMAGENET_STD),
    "resnet_50": (IMAGENET_MEAN, IMAGENET_STD),
    "efficientnet_b0": (IMAGENET_MEAN, IMAGENET_STD),
    "mobilenet_v3_small": (IMAGENET_MEAN, IMAGENET_STD),
    "vit_tiny": (HALF_MEAN, HALF_STD),
}


def names():
    """The sorted names of `ARCHITECTURES`.

    Returns:
        list of str.
    """
    return sorted(ARCHITECTURES)
