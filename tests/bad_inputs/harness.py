"""The bad-input corpus: one line per case.

Each module under `tests/bad_inputs/` lists its cases per entry point
and runs them all with one test:

    PREDICT = [
        raises("nan pixels", lambda m: m.predict(nan_images), ValueError,
               "non-finite", "row 0"),
        works("one row", lambda m: m.predict(one_image),
              lambda out: out.shape == (1, 3)),
    ]

    @pytest.mark.parametrize("case", corpus(predict=PREDICT, fit=FIT))
    def test_bad_input(case, model):
        run_case(case, model)

`raises` cases must raise `error` with every word in the message (case
folded) and never a TensorFlow, JAX or optree error in its place; `works`
cases must return an output that `check` accepts; `warns` cases must work
and warn; `exits` cases (commands:
`lambda env: keras_mm_cli.main([...])`) must exit with status 2 and write
one line naming `words` to stderr, without a traceback.
"""

import contextlib
import io

import pytest


def corpus(**groups):
    """The cases of each named group (an entry point: `fit=[...]`,
    `predict=[...]`) as one list, each case named `"group: case"`."""
    return [
        pytest.param(*case.values, id=f"{group}: {case.id}")
        for group, cases in groups.items()
        for case in cases
    ]


def strings(rows):
    """A `works` check: a list of `rows` str (captions, transcripts)."""
    return lambda out: (
        isinstance(out, list)
        and len(out) == rows
        and all(isinstance(item, str) for item in out)
    )


def raises(name, call, error, *words):
    """A case whose `call(*fixtures)` must raise `error` naming `words`."""
    return pytest.param(("raises", call, error, words), id=name)


def works(name, call, check):
    """A case whose `call(*fixtures)` must return a result `check` accepts."""
    return pytest.param(("works", call, check, ()), id=name)


def warns(name, call, warning, *words):
    """A case whose `call(*fixtures)` must work and warn `warning`, naming
    `words`."""
    return pytest.param(("warns", call, warning, words), id=name)


def exits(name, call, *words):
    """A case whose `call(*fixtures)` must exit with status 2, writing one
    line that names `words` to stderr."""
    return pytest.param(("exits", call, 2, words), id=name)


# Exceptions that mean the input went through unchecked, deep into a
# backend or a tree library.
_DEEP_MODULES = ("tensorflow", "jax", "jaxlib", "optree", "numpy")


def run_case(case, *fixtures):
    kind, call, expected, words = case
    if kind == "exits":
        _run_exit_case(call, expected, words, fixtures)
        return
    if kind == "works":
        result = call(*fixtures)
        assert expected(result), f"unexpected result: {result!r}"
        return
    if kind == "warns":
        with pytest.warns(expected) as caught:
            call(*fixtures)
        messages = " ".join(str(w.message) for w in caught).casefold()
        missing = [w for w in words if w.casefold() not in messages]
        assert not missing, f"warning lacks {missing}: {messages}"
        return
    with pytest.raises(Exception) as info:
        call(*fixtures)
    error = info.value
    module = type(error).__module__.split(".")[0]
    assert module not in _DEEP_MODULES, (
        f"raised {type(error).__module__}.{type(error).__name__} from deep "
        f"in a library, not a clear error: {error}"
    )
    assert isinstance(error, expected), (
        f"expected {expected.__name__}, got {type(error).__name__}: {error}"
    )
    message = str(error).casefold()
    missing = [w for w in words if w.casefold() not in message]
    assert not missing, f"message lacks {missing}: {error}"
    assert "in user code" not in message, f"traceback frames leak: {error}"


def _run_exit_case(call, code, words, fixtures):
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), pytest.raises(SystemExit) as info:
        call(*fixtures)
    text = stderr.getvalue()
    assert info.value.code == code, (
        f"exit status {info.value.code}, not {code}: {text}"
    )
    lines = text.splitlines()
    assert len(lines) == 1, f"{len(lines)} lines on stderr, not one: {text}"
    assert "Traceback" not in text, f"a traceback on stderr: {text}"
    message = text.casefold()
    missing = [w for w in words if w.casefold() not in message]
    assert not missing, f"stderr lacks {missing}: {text}"
