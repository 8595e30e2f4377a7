import os

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import pytest  # noqa: E402


def pytest_addoption(parser):
    parser.addoption("--run_large", action="store_true", default=False)
    parser.addoption("--run_extra_large", action="store_true", default=False)


def pytest_configure(config):
    keras.config.disable_traceback_filtering()
    if keras.backend.backend() == "jax":
        # Building a model under JAX compiles one random initialiser per
        # weight shape (most of the build time of a CNN backbone); the
        # persistent cache shares those compilations between tests and runs.
        import jax

        cache = os.path.expanduser("~/.cache/keras_mm/jax_compilation")
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


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
    for item in items:
        if "large" in item.keywords and not run_large:
            item.add_marker(pytest.mark.skip(reason="needs --run_large"))
        if "extra_large" in item.keywords and not run_extra_large:
            item.add_marker(pytest.mark.skip(reason="needs --run_extra_large"))
        if "tf_only" in item.keywords and backend != "tensorflow":
            item.add_marker(pytest.mark.skip(reason="TensorFlow backend only"))
