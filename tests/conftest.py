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


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()}"


def pytest_collection_modifyitems(config, items):
    run_large = config.getoption("--run_large")
    run_extra_large = config.getoption("--run_extra_large")
    backend = keras.backend.backend()
    for item in items:
        if "large" in item.keywords and not run_large:
            item.add_marker(pytest.mark.skip(reason="needs --run_large"))
        if "extra_large" in item.keywords and not run_extra_large:
            item.add_marker(pytest.mark.skip(reason="needs --run_extra_large"))
        if "tf_only" in item.keywords and backend != "tensorflow":
            item.add_marker(pytest.mark.skip(reason="TensorFlow backend only"))
