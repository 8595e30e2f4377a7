"""Writing a directory so that a failure leaves nothing half-written."""

import os
import shutil
import tempfile


def write_atomically(path, write, overwrite=False):
    """Calls `write(directory)` on a fresh path beside `path`, then moves
    it to `path` (SavedModel versions, presets): a failed write leaves
    nothing, and an existing `path` is replaced only once the new one is
    complete."""
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=parent)
    try:
        target = os.path.join(staging, "artifact")
        write(target)
        if os.path.exists(path):
            if not overwrite:
                raise ValueError(f"{path} appeared during the export.")
            old = os.path.join(staging, "replaced")
            os.rename(path, old)
        os.rename(target, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
