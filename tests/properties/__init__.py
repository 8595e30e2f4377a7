"""Property-based tests: random inputs, with the same examples on every run.

`settings(n)` is the profile of every property here: `n` examples drawn
from a seed that the test's own code fixes (`derandomize`), so a failure
reproduces on any machine, with no example database and no deadline
(TensorFlow's first call of an op takes longer than the rest).
"""

import hypothesis


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
