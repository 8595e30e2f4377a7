"""Reading and writing model files: a clear error for a file that is not
what it should be, and writes that a failure, or a killed process, leaves
nothing half-written in place of."""

import ctypes
import errno
import glob
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import zipfile
import zlib

# === Reading ===


def check_keras_file(path):
    """Raises a `ValueError` unless `path` is a `.keras` archive (or a
    legacy `.h5` file, or a remote path, which Keras checks itself).

    The message says what was received: a missing file, a directory, a
    file of another format, an empty file, or a corrupt one (not a zip
    archive, or one without the `config.json` of a saved model), with its
    size. Keras itself says "File not found" for all of these.

    Returns:
        str, `path`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(
            "A model file must be given as a path (str). "
            f"Received: {type(path).__name__}"
        )
    path = os.fspath(path)
    if "://" in path:  # Remote: Keras copies it and checks it.
        return path
    if not os.path.exists(path):
        raise ValueError(
            f"No such model file: {path!r}. Pass the path of a `.keras` "
            "file that `model.save` wrote."
        )
    if os.path.isdir(path):
        if os.path.isfile(os.path.join(path, "config.json")):
            return path  # A model saved with `zipped=False`.
        raise ValueError(
            f"The model file {path!r} is a directory, not a `.keras` "
            f"archive (it holds {_listing(os.listdir(path))})."
        )
    extension = os.path.splitext(path)[1].lower()
    if extension in (".h5", ".hdf5"):
        return path  # Keras' legacy format; h5py says what is wrong.
    size = os.path.getsize(path)
    if extension != ".keras":
        raise ValueError(
            f"The model file {path!r} is not a `.keras` archive: its name "
            f"ends in {extension or 'no extension'!r} ({size} bytes). Pass "
            "a file that `model.save('NAME.keras')` wrote."
        )
    if size == 0:
        raise ValueError(
            f"The model file {path!r} is empty (0 bytes), not a `.keras` "
            "archive. An interrupted save can leave such a file: save the "
            "model again."
        )
    with open(path, "rb") as file:  # Unreadable: Python's own error.
        head = file.read(8)
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(
            f"The model file {path!r} is corrupt or not a `.keras` archive "
            f"({size} bytes, starting with {head!r}): a `.keras` file is a "
            f"zip archive, and this one does not open as one ({error}). It "
            "may be truncated: save the model again."
        ) from None
    if "config.json" not in names:
        raise ValueError(
            f"The model file {path!r} is a zip archive of {size} bytes but "
            "not a `.keras` archive: it holds no config.json (it holds "
            f"{_listing(names)})."
        )
    return path


def load_keras_file(path, **kwargs):
    """`keras.saving.load_model(path, **kwargs)` after `check_keras_file`,
    with a `ValueError` naming the file for an archive whose contents are
    damaged."""
    import keras

    check_keras_file(path)
    try:
        return keras.saving.load_model(path, **kwargs)
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise ValueError(
            f"The model file {os.fspath(path)!r} is corrupt: a part of the "
            f"`.keras` archive does not read back ({error}). Save the model "
            "again."
        ) from None


def _listing(names, limit=5):
    names = sorted(names)
    if not names:
        return "nothing"
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{names[:limit]}{more}"


# === Writing ===

_STAGING_PREFIX = ".staging-"
# `.staging-NAME-HOST-PID-RANDOM`: NAME is the path being written, HOST and
# PID the writer's; neither HOST nor RANDOM (`tempfile`'s) holds a "-".
_STAGING_NAME = re.compile(
    r"^\.staging-(?P<name>.+)-(?P<host>[A-Za-z0-9_.]*)-(?P<pid>\d+)"
    r"-(?P<random>[a-z0-9_]+)$"
)
# A staging directory left untouched this long is stale whoever wrote it
# (its writer on another host, or a pid that was reused).
STALE_AFTER_SECONDS = 3600


def _host():
    return re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())


def staging_prefix(path):
    """The name prefix of `write_atomically`'s staging directories for
    `path`, in the directory of `path`."""
    name = os.path.basename(os.path.abspath(path))
    return f"{_STAGING_PREFIX}{name}-{_host()}-{os.getpid()}-"


def _is_alive(pid):
    """Whether process `pid` of this host runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Another user's.
        pass
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_stale(match, staging):
    try:
        changed = max(
            os.stat(p).st_mtime
            for p in (staging, *glob.glob(os.path.join(staging, "*")))
        )
    except OSError:  # Gone meanwhile.
        return False
    if time.time() - changed > STALE_AFTER_SECONDS:
        return True
    if os.name == "nt" or match["host"] != _host():
        return False  # Its writer's pid means nothing here.
    pid = int(match["pid"])
    return pid != os.getpid() and not _is_alive(pid)


def remove_stale_staging(directory):
    """Removes the staging directories of `write_atomically` in
    `directory` whose writer was killed: its process is gone (same host),
    or nothing in it changed for `STALE_AFTER_SECONDS`. Other files,
    and the staging of writers that still run, are left alone.

    A writer killed between moving an old version aside and moving the new
    one in (where no atomic exchange exists) left the old one in its
    staging directory: it is moved back first, if nothing took its place.

    Returns:
        list of the removed directories' paths.
    """
    removed = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        match = _STAGING_NAME.match(entry)
        staging = os.path.join(directory, entry)
        if not match or not _is_stale(match, staging):
            continue
        replaced = os.path.join(staging, "replaced")
        target = os.path.join(directory, match["name"])
        if os.path.isdir(replaced) and not os.path.lexists(target):
            try:
                os.rename(replaced, target)
            except OSError:
                pass
        shutil.rmtree(staging, ignore_errors=True)
        if not os.path.lexists(staging):
            removed.append(staging)
    return removed


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_renameat2 = []  # The libc function, looked up once ([None]: none).


def exchange(first, second):
    """Swaps two existing paths in one atomic step, with Linux'
    `renameat2(RENAME_EXCHANGE)`: at every moment each path holds either
    its old or its new entry.

    Returns:
        bool, `False` where the system cannot (not Linux, a libc or file
        system without it); an `OSError` for other failures.
    """
    if not _renameat2:
        function = None
        if sys.platform.startswith("linux"):
            try:
                function = ctypes.CDLL(None, use_errno=True).renameat2
                function.argtypes = [
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_int,
                    ctypes.c_char_p,
                    ctypes.c_uint,
                ]
                function.restype = ctypes.c_int
            except (OSError, AttributeError):
                function = None
        _renameat2.append(function)
    function = _renameat2[0]
    if function is None:
        return False
    if not function(
        _AT_FDCWD,
        os.fsencode(first),
        _AT_FDCWD,
        os.fsencode(second),
        _RENAME_EXCHANGE,
    ):
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # This kernel or file system cannot exchange.
    raise OSError(code, os.strerror(code), first, None, second)


def write_atomically(path, write, overwrite=False):
    """Calls `write(directory)` on a fresh path beside `path`, then moves
    it to `path` (SavedModel versions, presets): a failed or killed write
    leaves nothing in place of `path`, and an existing `path` is replaced
    only once the new one is complete, without a moment where `path` is
    missing.

    The write happens in a hidden staging directory beside `path`,
    `.staging-NAME-HOST-PID-RANDOM`; the staging directories that killed
    writers left in that directory are removed first (see
    `remove_stale_staging`).

    An existing `path` is replaced by exchanging it with the new directory
    in one atomic rename (`renameat2(RENAME_EXCHANGE)`), then removing the
    old one. The other ways out all leave a gap or change the layout:
    `os.rename` does not replace a non-empty directory, so the old one
    must first move aside (`path` missing in between), and a symlink
    swapped with `os.replace` makes the version a link to a hidden
    directory, which copies of the tree (`gsutil rsync`, `COPY` in a
    Dockerfile) do not keep. Where no exchange exists (not Linux, or a
    file system without it), the old one moves aside and the new one in,
    two renames apart.
    """
    path = os.path.abspath(os.fspath(path))
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    remove_stale_staging(parent)
    staging = tempfile.mkdtemp(prefix=staging_prefix(path), dir=parent)
    try:
        target = os.path.join(staging, "artifact")
        write(target)
        if not os.path.lexists(path):
            os.rename(target, path)
        elif not overwrite:
            raise ValueError(f"{path} appeared during the export.")
        elif not exchange(target, path):
            os.rename(path, os.path.join(staging, "replaced"))
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
