import keras

from keras_mm.api_export import keras_mm_export


@keras_mm_export
class ImagePreprocessing(keras.layers.Layer):
    """Resizes and normalises raw pixels inside the model graph.

    Takes pixels in `[0, 255]` of any numeric dtype (`uint8` or float),
    resizes them to `image_shape` when their height or width differ, and
    computes `pixels * scale + offset`, per channel when `scale` and `offset`
    are lists (KerasHub's `ImageConverter` convention: ImageNet
    normalisation is `scale = 1 / (255 * std)`, `offset = -mean / std`).

    Args:
        image_shape: tuple of 3 ints. `(height, width, channels)` out.
        scale: float or list of floats. Defaults to `1 / 255`.
        offset: float or list of floats. Defaults to `0`.
        interpolation: str. Resize interpolation. Defaults to `"bilinear"`.

    Call arguments:
        images: `(batch, height, width, channels)` pixels.

    Returns:
        Float images of shape `(batch, *image_shape)`.

    Examples:
    >>> layer = keras_mm.layers.ImagePreprocessing((8, 8, 3))
    >>> tuple(layer(np.full((2, 16, 16, 3), 255, "uint8")).shape)
    (2, 8, 8, 3)
    """

    def __init__(
        self,
        image_shape,
        scale=1.0 / 255.0,
        offset=0.0,
        interpolation="bilinear",
        **kwargs,
    ):
        super().__init__(**kwargs)
        image_shape = tuple(image_shape)
        if len(image_shape) != 3 or not all(
            isinstance(d, int) and d > 0 for d in image_shape
        ):
            raise ValueError(
                "`image_shape` must be 3 positive integers (height, width, "
                f"channels). Received: image_shape={image_shape}"
            )
        self.image_shape = image_shape
        self.scale = scale
        self.offset = offset
        self.interpolation = interpolation

    def _check(self, images_shape):
        channels = self.image_shape[-1]
        if len(images_shape) != 4 or images_shape[-1] not in (channels, None):
            raise ValueError(
                "Images must have shape (batch, height, width, "
                f"{channels}). Received: images of shape "
                f"{tuple(images_shape)}"
            )

    def build(self, images_shape):
        self._check(images_shape)

    def call(self, images):
        self._check(images.shape)
        x = keras.ops.cast(images, self.compute_dtype)
        height, width = self.image_shape[:2]
        if tuple(x.shape[1:3]) != (height, width):
            x = keras.ops.image.resize(
                x, (height, width), interpolation=self.interpolation
            )
        scale = keras.ops.convert_to_tensor(self.scale, self.compute_dtype)
        offset = keras.ops.convert_to_tensor(self.offset, self.compute_dtype)
        return x * scale + offset

    def compute_output_shape(self, images_shape):
        return (images_shape[0], *self.image_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_shape": self.image_shape,
                "scale": self.scale,
                "offset": self.offset,
                "interpolation": self.interpolation,
            }
        )
        return config


def image_shapes(model):
    """The `image_shape` of every `ImagePreprocessing` layer in `model`, in
    layer order: the sizes its image inputs are resized to."""
    return [
        tuple(layer.image_shape)
        for layer in model._flatten_layers()
        if isinstance(layer, ImagePreprocessing)
    ]
