"""Prints the pip requirements that pin keras_mm's main dependencies at the
lowest versions that `pyproject.toml` allows, one per line, for `.ci/lowest`:

    python .ci/lowest_pins.py   # keras==3.15, keras-hub==0.32, ...
"""

import os
import re
import sys

# The libraries whose floors the README states as the supported versions.
NAMES = ("keras", "keras-hub", "tensorflow", "jax", "pillow")
REQUIREMENT = re.compile(r'"([A-Za-z0-9_.-]+)(\[[a-z,]+\])?>=([0-9.]+)"')


def lowest_pins(pyproject_text):
    """`name[extras]==floor` for each of `NAMES`, from the `>=` floors in
    `pyproject_text` (the highest where a name has several). Raises a
    `ValueError` naming any of `NAMES` that has no floor."""
    floors = {}
    for name, extras, floor in REQUIREMENT.findall(pyproject_text):
        name = name.lower()
        if name not in NAMES:
            continue
        version = tuple(int(part) for part in floor.split("."))
        if name not in floors or version > floors[name][0]:
            floors[name] = (version, f"{name}{extras}=={floor}")
    missing = [name for name in NAMES if name not in floors]
    if missing:
        raise ValueError(
            f"pyproject.toml gives no `>=` floor for {missing}; each of "
            f"{list(NAMES)} needs one."
        )
    return [floors[name][1] for name in NAMES]


if __name__ == "__main__":
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with open(os.path.join(root, "pyproject.toml")) as file:
        sys.stdout.write("\n".join(lowest_pins(file.read())) + "\n")
