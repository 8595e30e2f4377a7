"""What a task's `fit`, `evaluate` and `predict` do when they fail: the
error reaches the user as keras_mm's own message, and the model stays
usable for the next call."""

import functools
import re

import keras

from keras_mm.data.streaming import read_errors

# An error raised while `tf.data` traces a preprocessor carries the
# autograph frames before its own message:
#     in user code:
#
#         File ".../word_tokenizer.py", line 85, in split  *
#             raise ValueError(
#
#         ValueError: Text input must be strings. ...
_USER_CODE = re.compile(r"^in user code:.*\n\n    (?:\w+\.)*(\w+): (.*)$", re.S)


def own_message(error):
    """The message of `error` without the `in user code:` frames that
    `tf.data` puts before it; `None` when it has none."""
    found = _USER_CODE.match(str(error))
    if found is None or found.group(1) != type(error).__name__:
        return None
    return re.sub(r"\n    ", "\n", found.group(2)).strip()


class _VariableValues:
    """The values of a model's variables before a call, to put back those
    that a failed call left empty.

    Keras' JAX trainer takes the values out of the variables while an
    epoch runs (to save memory) and puts them back at its end; an error in
    between, a step that cannot be traced, leaves the model without
    weights, and its next call fails with `'NoneType' object is not
    callable`. The values kept here are references, not copies, and the
    ones a step has since consumed (donated buffers) are not used."""

    def __init__(self, model):
        self.model = model
        self.values = []
        if keras.backend.backend() != "jax":
            return
        variables = list(model.variables)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            variables += list(optimizer.variables)
        seen = set()
        for variable in variables + list(model.metrics_variables):
            if id(variable) not in seen:
                seen.add(id(variable))
                self.values.append((variable, variable._value))

    def restore(self):
        if not self.values:
            return
        model = self.model
        if getattr(model, "_jax_state", None) and not getattr(
            model, "_jax_state_synced", True
        ):
            model.jax_state_sync()  # The steps that ran before the error.
        for variable, value in self.values:
            if (
                variable._value is None
                and value is not None
                and not value.is_deleted()
            ):
                variable._value = value
        model._jax_state = None
        model._jax_state_synced = True


def clear_failures(method):
    """Decorates a model method (`fit`, `evaluate`, `predict`) so that its
    errors are keras_mm's own: a file that cannot be read is the clear
    `ValueError` it was (not TensorFlow's wrapper), an error of the data
    pipeline loses the `in user code:` frames, and the model keeps its
    weights for the next call."""

    @functools.wraps(method)
    def wrapper(model, *args, **kwargs):
        values = _VariableValues(model)
        try:
            with read_errors():
                return method(model, *args, **kwargs)
        except (ValueError, TypeError) as error:
            values.restore()
            message = own_message(error)
            if message is None:
                raise
            raise type(error)(message) from None
        except BaseException:
            values.restore()
            raise

    return wrapper
