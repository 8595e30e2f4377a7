import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Building a model under JAX compiles one random initialiser per weight
# shape (most of the build time of a CNN backbone), and every test compiles
# its steps; JAX's persistent cache shares those compilations between
# tests and runs. Set in the environment, before JAX is imported, so that
# the processes the tests start (notebook kernels, the other backend's
# loads, benchmark children) share it too.
os.environ.setdefault(
    "JAX_COMPILATION_CACHE_DIR",
    os.path.expanduser("~/.cache/keras_mm/jax_compilation"),
)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")
# Unbounded (JAX's eviction scans every entry on each write, and fails on
# entries written without it): delete the directory to reclaim the space.

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run_large", action="store_true", default=False)
    parser.addoption("--run_extra_large", action="store_true", default=False)


def pytest_configure(config):
    keras.config.disable_traceback_filtering()


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    run_large = config.getoption("--run_large")
    run_extra_large = config.getoption("--run_extra_large")
    backend = keras.backend.backend()
    if backend != "jax":
        # Run once, in the JAX suite: tests of code that runs no model
        # (datasets, metrics, the import graph, argument parsing), and the
        # notebooks (JAX is their default backend) and benchmark smoke
        # tests, whose library calls other tests cover on both backends.
        once = [
            item
            for item in items
            if "backend_independent" in item.keywords
            or "one_backend" in item.keywords
        ]
        if once:
            config.hook.pytest_deselected(items=once)
            items[:] = [item for item in items if item not in once]
    # Slowest files first: with `--dist loadfile --no-loadscope-reorder`
    # the xdist workers take whole files in this order, so the short files
    # fill in behind the long ones instead of a long one starting last.
    # The sort is stable: each file's tests keep their order.
    seconds = file_durations(backend)
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::")[0], 0))
    for item in items:
        if "large" in item.keywords and not run_large:
            item.add_marker(pytest.mark.skip(reason="needs --run_large"))
        if "extra_large" in item.keywords and not run_extra_large:
            item.add_marker(pytest.mark.skip(reason="needs --run_extra_large"))
        if "tf_only" in item.keywords and backend != "tensorflow":
            item.add_marker(pytest.mark.skip(reason="TensorFlow backend only"))


def file_durations(backend):
    """Seconds per test file under `backend`, from `tests/durations.json`
    (written by `.ci/durations.py`); empty when the file is missing."""
    path = os.path.join(os.path.dirname(__file__), "durations.json")
    if not os.path.exists(path):
        return {}
    with open(path) as file:
        return json.load(file).get(backend, {})
