"""Several devices: variable layouts for `keras.distribution.ModelParallel`.

`keras.distribution.DataParallel` needs nothing from keras_mm: set it and
build any task. To also split the weights over devices, `ModelParallel`
takes a `keras.distribution.LayoutMap` from variable paths to layouts;
`layout_map` writes one for any model.
"""

import re

import keras


def layout_map(model, device_mesh, model_dim_name="model"):
    """A `keras.distribution.LayoutMap` that splits `model`'s weight
    matrices over the `model_dim_name` axis of `device_mesh`.

    Every floating-point variable of rank 2 or more (the kernels of dense,
    attention and convolution layers, embedding tables, a ViT's class
    token) is split on its last axis that the number of devices on that
    axis divides; the others (biases, normalisation weights, variables no
    axis of which divides evenly) are copied to every device. XLA adds the
    communication the split needs, so the model computes what it computes
    on one device; each device holds about `1 / devices` of the weights.

    The map is keyed by the variables' paths, and `ModelParallel` lays out
    each variable when it is created: build the model once without a
    distribution (its weights are only read for their paths and shapes),
    make the map, set the distribution, then build the model again with
    the same builder, so that its layers get the same names. Name the
    layers and the model: automatic names (`dense_3`, and a
    `keras.Sequential`'s own name, which is in its paths) change from one
    build to the next, and their variables are then copied, not split.
    `variable.value.sharding` shows how each was laid out.

    Args:
        model: a built `keras.Model` (any task, or any Keras model).
        device_mesh: `keras.distribution.DeviceMesh` with an axis named
            `model_dim_name`, e.g. `DeviceMesh((2, 2), ["batch", "model"],
            devices)`.
        model_dim_name: str. The mesh axis that splits the weights.
            Defaults to `"model"`.

    Returns:
        A `keras.distribution.LayoutMap` for
        `keras.distribution.ModelParallel(layout_map=...,
        batch_dim_name=...)`.

    Examples:
    >>> model = keras.Sequential([keras.Input((6,)),
    ...     keras.layers.Dense(4, name="hidden"),
    ...     keras.layers.Dense(3, name="output")], name="mlp")
    >>> mesh = keras.distribution.DeviceMesh(
    ...     (1, 1), ["batch", "model"], keras.distribution.list_devices()[:1])
    >>> layouts = keras_mm.distribution.layout_map(model, mesh)
    >>> layouts["mlp/hidden/kernel"].axes, layouts["mlp/output/kernel"].axes
    ((None, 'model'), (None, 'model'))

    On 8 devices, 2 for the batch and 4 splitting the weights (`build` is
    a function that builds the model, e.g. with `keras_mm.build_classifier`):

    ```python
    mesh = keras.distribution.DeviceMesh(
        (2, 4), ["batch", "model"], keras.distribution.list_devices())
    layouts = keras_mm.distribution.layout_map(build(), mesh)
    keras.distribution.set_distribution(keras.distribution.ModelParallel(
        layout_map=layouts, batch_dim_name="batch"))
    model = build()  # Its weights are created split.
    model.fit(...)
    ```
    """
    if not isinstance(model, keras.Model) or not model.built:
        raise ValueError(
            "`model` must be a built `keras.Model`. Received: "
            f"{type(model).__name__}"
            + ("" if not isinstance(model, keras.Model) else " (not built)")
        )
    names = list(device_mesh.axis_names)
    if model_dim_name not in names:
        raise ValueError(
            f"`model_dim_name` must name an axis of `device_mesh`, one of "
            f"{names}. Received: model_dim_name={model_dim_name!r}"
        )
    devices = device_mesh.shape[names.index(model_dim_name)]
    split = {}
    for variable in model.variables:
        shape = tuple(variable.shape)
        if len(shape) < 2 or not keras.backend.is_float_dtype(variable.dtype):
            continue
        for axis in reversed(range(len(shape))):
            if shape[axis] % devices == 0 and shape[axis] >= devices:
                axes = [None] * len(shape)
                axes[axis] = model_dim_name
                split.setdefault(variable.path, tuple(axes))
                break
    layouts = keras.distribution.LayoutMap(device_mesh)
    for path, axes in split.items():
        # Keys are regular expressions: each path matches only itself.
        layouts[re.escape(path)] = axes
    return layouts
