"""Writes tests/durations.json from the output of `bash .ci/test
--durations=0`: the seconds each test file took under each backend.

    bash .ci/test --durations=0 > test.log 2>&1
    .venv/bin/python .ci/durations.py test.log

`tests/conftest.py` sends the slowest files to the xdist workers first, so
that the short ones fill in behind them. A stale table costs balance, not
correctness: a file it does not know runs last.
"""

import collections
import json
import os
import re
import sys

LINE = re.compile(r"^([\d.]+)s (?:call|setup|teardown)\s+(tests/[^:\s]+)")
BACKEND = re.compile(r"^=== KERAS_BACKEND=(\w+) ===")


def main(log):
    seconds = collections.defaultdict(collections.Counter)
    backend = None
    with open(log) as file:
        for line in file:
            match = BACKEND.match(line)
            if match:
                backend = match.group(1)
            match = LINE.match(line)
            if match and backend:
                seconds[backend][match.group(2)] += float(match.group(1))
    table = {
        backend: {
            path: round(total, 1) for path, total in files.most_common()
        }
        for backend, files in sorted(seconds.items())
    }
    path = os.path.join(os.path.dirname(__file__), "..", "tests")
    with open(os.path.join(path, "durations.json"), "w") as file:
        json.dump(table, file, indent=1)
        file.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
