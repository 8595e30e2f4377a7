"""Optimizers with a learning-rate multiplier per part of the model."""

import math
import numbers
import weakref

import keras
import numpy as np

from keras_mm.api_export import keras_mm_export


def check_learning_rate_multipliers(
    multipliers, name="learning_rate_multipliers"
):
    """Returns `multipliers` (a dict of path prefix to a number >= 0, or
    `None`) as a new dict of str to float; raises a `ValueError` otherwise."""
    if multipliers is None:
        return {}
    if not isinstance(multipliers, dict):
        raise ValueError(
            f"`{name}` must be a dict mapping a path prefix (str) to a "
            "learning-rate multiplier (a number >= 0), e.g. "
            f"{{'image_encoder': 0.1}}. Received: {name}={multipliers!r}"
        )
    return {
        _check_prefix(prefix, f"Each key of `{name}`"): _check_multiplier(
            value, f"{name}[{prefix!r}]"
        )
        for prefix, value in multipliers.items()
    }


def _check_prefix(prefix, what):
    if not isinstance(prefix, str) or not prefix.strip("/"):
        raise ValueError(
            f"{what} must be a non-empty str, a path prefix such as "
            f"'image_encoder'. Received: {prefix!r}"
        )
    return prefix


def _check_multiplier(value, name):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"`{name}` must be a finite number >= 0 (0 freezes the "
            "variables, 1 keeps the learning rate). "
            f"Received: {name}={value!r}"
        )
    return float(value)


def _matches(prefix, path):
    prefix = prefix.strip("/")
    return path == prefix or path.startswith(prefix + "/")


def _layer_paths(model):
    """Maps `id(variable)` to its layer path in `model`: the names of the
    nested models and layers that hold it, then its own name."""
    paths = {}

    def visit(layer, prefix):
        for variable in layer.trainable_variables:
            paths[id(variable)] = prefix + variable.name  # Deepest wins.
        for sublayer in layer._flatten_layers(
            include_self=False, recursive=False
        ):
            visit(sublayer, f"{prefix}{sublayer.name}/")

    if model is not None:
        visit(model, "")
    return paths


def _variable_paths(model, variables):
    """For each variable, its candidate paths: its layer path in `model`
    (when known) and its `variable.path`."""
    layer_paths = _layer_paths(model)
    return tuple(
        tuple(
            dict.fromkeys(
                path
                for path in (
                    layer_paths.get(id(variable)),
                    getattr(variable, "path", variable.name),
                )
                if path
            )
        )
        for variable in variables
    )


def _resolve(variable_paths, multipliers, argument):
    """The multiplier of each variable (the longest matching prefix wins,
    1.0 when none does); raises if a prefix matches no variable."""
    unmatched = [
        prefix
        for prefix in multipliers
        if not any(
            _matches(prefix, path) for paths in variable_paths for path in paths
        )
    ]
    if unmatched:
        names = sorted(
            {path.split("/")[0] for paths in variable_paths for path in paths}
        )
        shown = ", ".join(repr(n) for n in names[:12])
        if len(names) > 12:
            shown += f", ... ({len(names)} in all)"
        raise ValueError(
            f"{argument} has prefixes that match no trainable variable: "
            f"{unmatched}. A prefix matches a variable's layer path (the "
            "names of the nested models and layers that hold it, e.g. "
            "'image_encoder/conv/kernel') or its `variable.path`, at a "
            f"'/' boundary. Top-level names available: {shown or 'none'}. "
            "(Layers with `trainable=False` give the optimizer no "
            "variables.)"
        )
    values = []
    for paths in variable_paths:
        longest, value = -1, 1.0
        for prefix, multiplier in multipliers.items():
            size = len(prefix.strip("/"))
            if size > longest and any(_matches(prefix, p) for p in paths):
                longest, value = size, multiplier
        values.append(value)
    return values


@keras_mm_export
class Adam(keras.optimizers.Adam):
    """Adam with a learning-rate multiplier per part of the model.

    `learning_rate_multipliers` maps a path prefix to a multiplier: each
    variable learns at `learning_rate` times the multiplier of the longest
    prefix that matches it, or at `learning_rate` when none does. A
    multiplier of 0 freezes the variables (weight decay is scaled too);
    a small one fine-tunes a pretrained encoder gently.

    A prefix matches at a `/` boundary, against a variable's layer path
    (the names of the nested models and layers that hold it, e.g.
    `"image_encoder/conv_block_0_conv/kernel"`; the names of the encoders of
    `keras_mm.build_classifier` are `"image_encoder"`, `"text_encoder"` and
    `"audio_encoder"`) or against its `variable.path`. Layer paths are known
    when the optimizer is compiled into a `keras_mm` model (any
    `keras_mm.models.PipelineModel`, such as the builders' models, which
    call `optimizer.set_model(model)` in `compile`), or after
    `optimizer.set_model(model)`; otherwise only `variable.path` is
    matched, which leaves out the names of nested functional models.
    Every prefix must match a trainable variable when the optimizer is
    built, otherwise a `ValueError` lists the names there are.

    The multipliers live in an optimizer variable, so
    `set_learning_rate_multiplier` (for example from a callback's
    `on_epoch_begin`, see `keras_mm.callbacks.UnfreezeEncoders`) changes
    them during `fit` without recompiling. Under JAX the change takes effect
    at the next epoch, when `fit` reads its state from the variables again.
    Change multipliers with that method, not by editing the
    `learning_rate_multipliers` dict.

    Unlike `trainable=False`, a frozen part still gets gradients, its
    Adam moment estimates keep updating (so unfreezing starts smoothly),
    and it runs in training mode (dropout, batch-norm statistics).

    Args:
        learning_rate: float or `keras.optimizers.schedules`
            schedule. Defaults to `0.001`.
        beta_1: float. Defaults to `0.9`.
        beta_2: float. Defaults to `0.999`.
        epsilon: float. Defaults to `1e-7`.
        amsgrad: bool. Defaults to `False`.
        learning_rate_multipliers: dict or `None`. Path prefix (str) to a
            multiplier (number >= 0). Defaults to `None` (all 1).
        **kwargs: the other arguments of `keras.optimizers.Adam`
            (`weight_decay`, `clipnorm`, `name`, ...).

    Examples:
    >>> images = keras.Input((3,))
    >>> encoder = keras.Model(
    ...     images, keras.layers.Dense(4, name="proj")(images),
    ...     name="image_encoder")
    >>> inputs = keras.Input((3,))
    >>> model = keras_mm.models.PipelineModel(
    ...     inputs, keras.layers.Dense(1, name="head")(encoder(inputs)))
    >>> optimizer = keras_mm.optimizers.Adam(
    ...     1e-2, learning_rate_multipliers={"image_encoder": 0.0})
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> kernel = keras.ops.convert_to_numpy(encoder.weights[0].value)
    >>> _ = model.fit(np.ones((4, 3)), np.zeros((4, 1)), verbose=0)
    >>> after = keras.ops.convert_to_numpy(encoder.weights[0].value)
    >>> bool(np.all(after == kernel))
    True
    >>> optimizer.set_learning_rate_multiplier("image_encoder", 0.1)
    >>> optimizer.learning_rate_multipliers
    {'image_encoder': 0.1}
    """

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        learning_rate_multipliers=None,
        **kwargs,
    ):
        multipliers = check_learning_rate_multipliers(learning_rate_multipliers)
        super().__init__(
            learning_rate=learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            **kwargs,
        )
        self.learning_rate_multipliers = multipliers

    def build(self, var_list):
        if self.built:
            return
        self._variable_paths = _variable_paths(self._model(), var_list)
        values = _resolve(
            self._variable_paths,
            self.learning_rate_multipliers,
            "`learning_rate_multipliers`",
        )
        super().build(var_list)

        def initializer(shape, dtype=None):
            return keras.ops.convert_to_tensor(
                np.asarray(values, "float32").reshape(shape), dtype
            )

        self._multipliers = self.add_variable(
            shape=(len(values),),
            initializer=initializer,
            dtype="float32",
            name="learning_rate_multipliers",
        )

    def set_model(self, model):
        """Tells the optimizer the model it trains, so prefixes can match
        layer paths. `keras_mm` models call it in `compile`."""
        self._model_ref = weakref.ref(model) if model is not None else None

    def _model(self):
        ref = getattr(self, "_model_ref", None)
        return ref() if ref is not None else None

    def set_learning_rate_multiplier(self, prefix, value):
        """Sets the multiplier of the variables under `prefix`.

        Also records it in `learning_rate_multipliers` (and so in
        `get_config`). Once the optimizer is built, `prefix` must match a
        trainable variable.

        Args:
            prefix: str. A path prefix such as `"image_encoder"`.
            value: float. The multiplier, >= 0.
        """
        _check_prefix(prefix, "`prefix`")
        value = _check_multiplier(value, "value")
        multipliers = dict(self.learning_rate_multipliers)
        multipliers[prefix] = value
        if self.built:
            _resolve(self._variable_paths, {prefix: value}, "`prefix`")
            values = _resolve(
                self._variable_paths,
                multipliers,
                "`learning_rate_multipliers`",
            )
            self._multipliers.assign(np.asarray(values, "float32"))
        self.learning_rate_multipliers = multipliers

    def _check_prefixes(self, prefixes, argument, model):
        """Raises unless every prefix matches a trainable variable of
        `model` (the optimizer may not be built yet: the TensorFlow backend
        builds it when it first traces the train step)."""
        if self.built:
            paths = self._variable_paths
        else:
            paths = _variable_paths(model, model.trainable_variables)
        _resolve(paths, dict.fromkeys(prefixes, 1.0), argument)

    def update_step(self, gradient, variable, learning_rate):
        # On TensorFlow `variable` is the backing `tf.Variable`; the index
        # lookup accepts both.
        multiplier = self._multipliers[self._get_variable_index(variable)]
        learning_rate = keras.ops.multiply(
            keras.ops.cast(learning_rate, variable.dtype),
            keras.ops.cast(multiplier, variable.dtype),
        )
        if self.weight_decay is not None and self._use_weight_decay(variable):
            # Decoupled weight decay with the scaled learning rate, so that
            # a multiplier of 0 also stops the decay. This replaces Keras'
            # `_apply_weight_decay`, which uses the base learning rate.
            decay = keras.ops.cast(self.weight_decay, variable.dtype)
            self.assign_sub(
                variable,
                keras.ops.multiply(variable, decay * learning_rate),
            )
        super().update_step(gradient, variable, learning_rate)

    def _apply_weight_decay(self, variables):
        return  # Done in `update_step`, per variable.

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multipliers"] = dict(
            self.learning_rate_multipliers
        )
        return config
