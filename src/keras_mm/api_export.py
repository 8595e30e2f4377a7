"""Registration of public classes, so `.keras` files load without
`custom_objects` in safe mode."""

import keras


def keras_mm_export(cls):
    """Registers `cls` as serializable under the `keras_mm>` package."""
    return keras.saving.register_keras_serializable(package="keras_mm")(cls)
