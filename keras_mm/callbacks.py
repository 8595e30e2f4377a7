"""Training callbacks."""

import numbers

import keras

from keras_mm.api_export import keras_mm_export
from keras_mm.optimizers import Adam
from keras_mm.optimizers import check_learning_rate_multipliers


def _check_schedule(schedule):
    if not isinstance(schedule, dict) or not schedule:
        raise ValueError(
            "`schedule` must be a non-empty dict mapping an epoch (int >= 0, "
            "0-based) to a dict of path prefix to learning-rate multiplier, "
            "e.g. {3: {'image_encoder': 0.1}}. "
            f"Received: schedule={schedule!r}"
        )
    checked = {}
    for epoch, multipliers in schedule.items():
        if (
            isinstance(epoch, bool)
            or not isinstance(epoch, numbers.Integral)
            or epoch < 0
        ):
            raise ValueError(
                "Each key of `schedule` must be an epoch, an int >= 0 "
                f"(0-based). Received: {epoch!r}"
            )
        checked[int(epoch)] = check_learning_rate_multipliers(
            multipliers, name=f"schedule[{epoch}]"
        )
        if not checked[int(epoch)]:
            raise ValueError(
                f"`schedule[{epoch}]` must name at least one prefix, e.g. "
                f"{{'image_encoder': 0.1}}. Received: {multipliers!r}"
            )
    return dict(sorted(checked.items()))


def _print_msg(message):
    if keras.config.is_interactive_logging_enabled():
        print(message)
    else:
        from absl import logging

        logging.info(message)


@keras_mm_export
class UnfreezeEncoders(keras.callbacks.Callback):
    """Unfreezes encoders in stages, by raising their learning rates.

    The usual recipe for pretrained encoders: train the new fusion layers
    and head first with the encoders frozen, then let the encoders learn,
    at a small learning rate and later a larger one. Compile with
    `keras_mm.optimizers.Adam` and a multiplier of 0 for each frozen
    encoder, e.g. `learning_rate_multipliers={"image_encoder": 0.0}`, and
    pass this callback to `fit`. At the start of each epoch in `schedule`
    it calls `optimizer.set_learning_rate_multiplier` for each prefix there.
    The change needs no recompiling.

    While its multiplier is 0 an encoder is frozen, but unlike
    `trainable=False` it still runs in training mode (dropout is active and
    batch normalization updates its moving statistics), and its gradients
    are still computed. To freeze batch-norm statistics as well, set
    `trainable=False` on those layers before compiling.

    On `fit(..., initial_epoch=k)` (resuming), the stages of epochs up to
    `k` are applied at the start of epoch `k`.

    Args:
        schedule: dict. Epoch (int, 0-based: the epoch at whose start the
            change happens) to a dict of path prefix to multiplier, as in
            `keras_mm.optimizers.Adam`'s `learning_rate_multipliers`.
        verbose: int. `1` prints one line when a stage starts, `0` (the
            default, to keep `fit`'s output clean) prints nothing.

    Raises:
        ValueError: at the start of `fit`, when the model's optimizer is not
            a `keras_mm.optimizers.Adam`, or a prefix matches no variable.

    Examples:
    >>> images = keras.Input((3,))
    >>> encoder = keras.Model(
    ...     images, keras.layers.Dense(4, name="proj")(images),
    ...     name="image_encoder")
    >>> inputs = keras.Input((3,))
    >>> model = keras_mm.models.PipelineModel(
    ...     inputs, keras.layers.Dense(1, name="head")(encoder(inputs)))
    >>> model.compile(
    ...     optimizer=keras_mm.optimizers.Adam(
    ...         1e-3, learning_rate_multipliers={"image_encoder": 0.0}),
    ...     loss="mse")
    >>> unfreeze = keras_mm.callbacks.UnfreezeEncoders(
    ...     {1: {"image_encoder": 0.1}, 2: {"image_encoder": 1.0}},
    ...     verbose=1)
    >>> _ = model.fit(np.ones((4, 3)), np.zeros((4, 1)), epochs=3,
    ...               callbacks=[unfreeze], verbose=0)
    Epoch 2: UnfreezeEncoders: learning-rate multiplier image_encoder=0.1
    Epoch 3: UnfreezeEncoders: learning-rate multiplier image_encoder=1.0
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = _check_schedule(schedule)
        if verbose not in (0, 1):
            raise ValueError(
                f"`verbose` must be 0 or 1. Received: verbose={verbose!r}"
            )
        self.verbose = int(verbose)
        self._applied_until = -1

    def _optimizer(self):
        optimizer = getattr(self.model, "optimizer", None)
        # A `LossScaleOptimizer` (mixed_float16) wraps ours.
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        if not isinstance(inner, Adam):
            kind = type(inner).__module__ + "." + type(inner).__name__
            raise ValueError(
                "`UnfreezeEncoders` needs the model compiled with "
                "`keras_mm.optimizers.Adam`, whose learning-rate multipliers "
                "it changes, e.g. `model.compile(optimizer="
                "keras_mm.optimizers.Adam(1e-3, learning_rate_multipliers="
                "{'image_encoder': 0.0}), loss=...)`. "
                f"Received: an optimizer of type {kind}"
            )
        return inner

    def on_train_begin(self, logs=None):
        prefixes = {p for stage in self.schedule.values() for p in stage}
        self._optimizer()._check_prefixes(
            sorted(prefixes), "`schedule`", self.model
        )
        self._applied_until = -1

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self._optimizer()
        for stage, multipliers in self.schedule.items():
            if not self._applied_until < stage <= epoch:
                continue
            for prefix, value in multipliers.items():
                optimizer.set_learning_rate_multiplier(prefix, value)
            if self.verbose:
                changes = ", ".join(
                    f"{prefix}={value}" for prefix, value in multipliers.items()
                )
                _print_msg(
                    f"Epoch {epoch + 1}: UnfreezeEncoders: learning-rate "
                    f"multiplier {changes}"
                )
        self._applied_until = max(self._applied_until, epoch)

    def get_config(self):
        return {
            "schedule": {
                epoch: dict(multipliers)
                for epoch, multipliers in self.schedule.items()
            },
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # JSON turns the epoch keys into strings.
        config["schedule"] = {
            int(epoch): multipliers
            for epoch, multipliers in config["schedule"].items()
        }
        return cls(**config)
