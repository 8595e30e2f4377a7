"""Runs the `>>>` examples of every public docstring, as doctests."""

import doctest
import importlib
import pkgutil

import keras
import numpy as np
import pytest

import keras_mm

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(keras_mm.__path__, "keras_mm.")
)


# Once, under JAX: the examples document; the tests of each module run
# them on both backends.
@pytest.mark.one_backend
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    keras.utils.set_random_seed(0)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    )
    globs = {"np": np, "keras": keras, "keras_mm": keras_mm}
    for test in finder.find(module, globs=globs):
        if test.name.split(".")[-1].startswith("_"):
            continue
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring examples failed"
