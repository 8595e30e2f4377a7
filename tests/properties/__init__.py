"""Property-based tests: random inputs, with the same examples on every run.

`settings(n)` is the profile of every property here: `n` examples drawn
from a seed that the test's own code fixes (`derandomize`), so a failure
reproduces on any machine, with no example database and no deadline
(TensorFlow's first call of an op takes longer than the rest).
"""

from unittest import mock

import hypothesis
import keras

from tests import test_case


def settings(max_examples):
    """The `hypothesis.settings` of one property: `max_examples` examples."""
    return hypothesis.settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=False,
        suppress_health_check=[
            hypothesis.HealthCheck.too_slow,
            hypothesis.HealthCheck.data_too_large,
            hypothesis.HealthCheck.large_base_example,
        ],
    )


class TestCase(test_case.TestCase):
    """`tests.test_case.TestCase`, whose `clear_session` skips the garbage
    collection (half a second a test): the properties build their layers
    once a class and make no models to free."""

    def setUp(self):
        clear_session = keras.backend.clear_session
        with mock.patch.object(
            keras.backend,
            "clear_session",
            lambda: clear_session(free_memory=False),
        ):
            super().setUp()
