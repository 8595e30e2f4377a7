"""Fresh `keras.Input`s shaped like existing symbolic tensors, and the
layer that takes a model's input."""

import keras


def inputs_like(tensors, name=None):
    """Returns new `keras.Input`s with the shapes, dtypes and names of
    `tensors` (a `KerasTensor` or a dict of them, as `model.input` is).

    Args:
        tensors: a `KerasTensor` or a (nested) dict of them.
        name: str or `None`. A name for a single input; dict entries keep
            their own names.
    """
    if isinstance(tensors, dict):
        return {key: inputs_like(value) for key, value in tensors.items()}
    return keras.Input(
        batch_shape=tensors.shape,
        dtype=tensors.dtype,
        name=name or tensors.name,
    )


def consumer(model, tensor):
    """The layer of functional `model` that takes the symbolic `tensor` (a
    leaf of `model.input`, or a dict of them), or `None`."""
    leaves = keras.tree.flatten(tensor)
    for layer in model.layers:
        for node in layer._inbound_nodes:
            if any(t is leaf for t in node.input_tensors for leaf in leaves):
                return layer
    return None
