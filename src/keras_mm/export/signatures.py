"""Serving functions of a task, as TensorFlow signatures.

`serving_functions(task)` reads the task's serving contract
(`keras_mm.models.Task.serving_signatures`) and returns `{signature name:
(function, input signature)}` for a task of the TensorFlow backend, adding
an `encoded_images` variant (JPEG, PNG, GIF or BMP bytes instead of
pixels) of every signature that takes images of a fixed size.
"""

import contextlib

import keras

from keras_mm.models.task import Task
from keras_mm.utils.tf_utils import tf

# Requests of these signatures send images as encoded JPEG, PNG, GIF or
# BMP bytes instead of pixels.
ENCODED_IMAGES = "encoded_images"


def check_task(model):
    """Raises a `ValueError` unless `model` is a keras_mm task."""
    if not isinstance(model, Task):
        raise ValueError(
            "keras_mm's export takes a task: a model from "
            "`keras_mm.build_classifier`, `build_captioner` or "
            "`build_speech_recognizer` (a `keras_mm.models.Task`), or the "
            "path of one saved as `.keras`. Received: "
            f"{type(model).__name__}"
        )


def tensor_specs(specs):
    """`keras.KerasTensor` specs -> `tf.TensorSpec`s, same structure."""
    return keras.tree.map_structure(
        lambda t: tf.TensorSpec(t.shape, t.dtype, t.name), specs
    )


def _slice_update(inputs, start_indices, updates):
    """`keras.ops.slice_update` with core TensorFlow ops: the update padded
    to the input's shape, and a select over its region."""
    inputs = tf.convert_to_tensor(inputs)
    updates = tf.cast(tf.convert_to_tensor(updates), inputs.dtype)
    rank = len(start_indices)
    starts = [tf.cast(start, "int32") for start in start_indices]
    input_shape, update_shape = tf.shape(inputs), tf.shape(updates)
    paddings = tf.stack(
        [
            tf.stack([starts[i], input_shape[i] - starts[i] - update_shape[i]])
            for i in range(rank)
        ]
    )
    region = None
    for i in range(rank):
        positions = tf.range(input_shape[i])
        inside = (positions >= starts[i]) & (
            positions < starts[i] + update_shape[i]
        )
        inside = tf.reshape(inside, [-1 if j == i else 1 for j in range(rank)])
        region = inside if region is None else region & inside
    return tf.where(region, tf.pad(updates, paddings), inputs)


@contextlib.contextmanager
def core_slice_updates():
    """While open, `keras.ops.slice_update` writes with core TensorFlow ops.

    The TensorFlow backend writes it as `XlaDynamicUpdateSlice`, which only
    XLA runs: a stock TF Serving (XLA's CPU JIT off by default) refuses a
    graph that holds it. The cached decoding loops write with it (the
    samplers' next tokens, KerasHub's key/value caches), so the serving
    functions are traced under this.
    """
    original = keras.ops.slice_update
    keras.ops.slice_update = _slice_update
    try:
        yield
    finally:
        keras.ops.slice_update = original


def _decode_images(encoded, spec):
    """A `(batch,)` string tensor of encoded images -> float pixels of the
    spec's size (resized, bilinear, when an image has another size)."""
    height, width, channels = spec.shape[1:]

    def decode(data):
        image = tf.io.decode_image(
            data, channels=channels, expand_animations=False
        )
        image.set_shape((None, None, channels))
        # Bilinear resizing to the image's own size returns it unchanged.
        # (A `tf.cond` that skipped it for such images ran its other
        # branch's `ensure_shape` on every image inside `map_fn`, so
        # images of any other size were refused.)
        return tf.image.resize(tf.cast(image, "float32"), (height, width))

    return tf.map_fn(
        decode,
        encoded,
        fn_output_signature=tf.TensorSpec((height, width, channels)),
    )


def _images(specs):
    """The keys of uint8 image inputs, or `[]` when one has no fixed size
    (or the specs are nested: the model's own inputs)."""
    if not all(isinstance(s, tf.TensorSpec) for s in specs.values()):
        return []
    keys = [k for k, s in specs.items() if s.dtype == tf.uint8]
    if any(None in specs[k].shape[1:] for k in keys):
        return []
    return keys


def _with_encoded_images(function, specs, keys):
    encoded_specs = {
        key: tf.TensorSpec((None,), tf.string, key) if key in keys else spec
        for key, spec in specs.items()
    }

    def serve(inputs):
        inputs = dict(inputs)
        for key in keys:
            inputs[key] = _decode_images(inputs[key], specs[key])
        return function(inputs)

    return serve, encoded_specs


def _checking_shapes(function, specs):
    """`function`, after an `ensure_shape` of each input against its spec.

    A signature called with tensors (as TF Serving and the signatures of
    `tf.saved_model.load` call it) checks their dtypes but not their
    shapes: images without their batch axis aborted the process in a
    oneDNN convolution, and images of another size were answered."""

    def serve(inputs):
        inputs = tf.nest.map_structure(
            lambda x, spec: tf.ensure_shape(x, spec.shape), inputs, specs
        )
        return function(inputs)

    return serve


def serving_functions(model, raw_inputs=True):
    """`{signature name: (function, input signature dict)}` of a task.

    The task's own signatures (`serving_default`, and a classifier's
    `without_KEY` ones), each with an `encoded_images` variant
    (`encoded_images_without_KEY`) when it takes images of a fixed size.
    Each function first checks its inputs' shapes against the signature.
    """
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            "Serving functions are TensorFlow graphs: call this under the "
            "TensorFlow backend (`keras_mm.export.saved_model` does this "
            "for you from any backend)."
        )
    check_task(model)
    functions = {}
    for name, (function, specs) in model.serving_signatures(
        raw_inputs=raw_inputs
    ).items():
        specs = tensor_specs(specs)
        functions[name] = (_checking_shapes(function, specs), specs)
        keys = _images(specs)
        if keys:
            suffix = "" if name == "serving_default" else f"_{name}"
            encoded, encoded_specs = _with_encoded_images(function, specs, keys)
            functions[ENCODED_IMAGES + suffix] = (
                _checking_shapes(encoded, encoded_specs),
                encoded_specs,
            )
    return functions
