"""Learning-rate schedules whose length is the `fit` call that uses them."""

import math
import numbers

import keras

from keras_mm.api_export import keras_mm_export


@keras_mm_export
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warm-up to `peak`, then a cosine decay to zero.

    The warm-up lasts `warmup_steps`, or a tenth of the run if that is
    shorter; the decay reaches zero at the last step of the run. The run
    is `total_steps` steps from `start_step`. `fit` of every keras_mm task
    sets both for you, to the optimizer's step count when `fit` starts and
    to that call's epochs times its batches per epoch, so each `fit` warms
    up and decays once, whatever its number of epochs. Where the number of
    batches is unknown (a dataset of unknown length without
    `steps_per_epoch`), the rate stays at `peak` after the warm-up.

    Args:
        peak: float > 0. The learning rate at the end of the warm-up.
        warmup_steps: int >= 0. Defaults to `200`.
        total_steps: int > 0 or `None`. Defaults to `None` (set by `fit`).
        start_step: int >= 0. Defaults to `0` (set by `fit`).

    Examples:
    >>> schedule = keras_mm.schedules.WarmupCosineDecay(
    ...     1e-3, warmup_steps=10, total_steps=100)
    >>> [round(float(schedule(step)), 6) for step in (0, 9, 55, 100)]
    [0.0001, 0.001, 0.0005, 0.0]
    """

    def __init__(self, peak, warmup_steps=200, total_steps=None, start_step=0):
        if (
            isinstance(peak, bool)
            or not isinstance(peak, numbers.Real)
            or not math.isfinite(peak)
            or peak <= 0
        ):
            raise ValueError(
                f"`peak` must be a finite number > 0. Received: peak={peak!r}"
            )
        for name, value, low in (
            ("warmup_steps", warmup_steps, 0),
            ("start_step", start_step, 0),
            ("total_steps", 1 if total_steps is None else total_steps, 1),
        ):
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Integral)
                or value < low
            ):
                raise ValueError(
                    f"`{name}` must be an int >= {low}"
                    + (" or None" if name == "total_steps" else "")
                    + f". Received: {name}={value!r}"
                )
        self.peak = float(peak)
        self.warmup_steps = int(warmup_steps)
        self.total_steps = None if total_steps is None else int(total_steps)
        self.start_step = int(start_step)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32") - self.start_step
        warmup = self.warmup_steps
        if self.total_steps is not None:
            warmup = min(warmup, self.total_steps // 10)
        rising = self.peak * keras.ops.minimum(1.0, (step + 1) / max(warmup, 1))
        if self.total_steps is None:
            return rising
        span = max(self.total_steps - warmup, 1)
        progress = keras.ops.clip((step - warmup) / span, 0.0, 1.0)
        falling = self.peak * 0.5 * (1.0 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < warmup, rising, falling)

    def get_config(self):
        return {
            "peak": self.peak,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
            "start_step": self.start_step,
        }


def span_fit(model, steps):
    """Fits the model's `WarmupCosineDecay`, if it has one, to a `fit` of
    `steps` steps (`None` if unknown) that starts now. Clears the model's
    compiled train step when the span changes, since the span is part of
    it. Returns whether it changed."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    # Keras keeps the schedule itself here; `learning_rate` is its value.
    schedule = getattr(optimizer, "_learning_rate", None)
    if not isinstance(schedule, WarmupCosineDecay):
        return False
    span = (int(keras.ops.convert_to_numpy(optimizer.iterations)), steps)
    if (schedule.start_step, schedule.total_steps) == span:
        return False
    schedule.start_step, schedule.total_steps = span
    model.train_function = None
    return True
