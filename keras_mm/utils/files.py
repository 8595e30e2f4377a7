"""Writing files and directories so that a failure, or a killed process,
leaves nothing half-written in their place."""

import glob
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


def replace_file_atomically(path, write):
    """Calls `write(temporary)` on a fresh file beside `path` (same
    extension), then moves it onto `path` with `os.replace`: a failed or
    killed write leaves the old file whole. Leftovers of a killed earlier
    write to `path` are removed first."""
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    os.makedirs(directory, exist_ok=True)
    prefix = f".{name}.writing-"
    for stale in glob.glob(os.path.join(directory, glob.escape(prefix) + "*")):
        os.remove(stale)
    handle, temporary = tempfile.mkstemp(
        prefix=prefix, suffix=os.path.splitext(name)[1], dir=directory
    )
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
    return path
