"""Steps run in a child process (an export under the TensorFlow backend, a
check in a TensorFlow-only process), whose errors are raised in the parent
as the child raised them.

The child writes its exception to the JSON file that the environment
variable `KERAS_MM_ERROR_FILE` names (`report_error`); the parent raises
the same builtin exception type with the same message (`run`), so that a
call fails alike whether it ran in this process or in a child. The
child's log stays out of the message.
"""

import builtins
import json
import os
import subprocess
import tempfile
import traceback

ERROR_FILE_VARIABLE = "KERAS_MM_ERROR_FILE"


def report_error(error):
    """Writes `error` (type, message, arguments, traceback) to the file
    that `KERAS_MM_ERROR_FILE` names, if it names one."""
    path = os.environ.get(ERROR_FILE_VARIABLE)
    if not path:
        return
    record = {
        "module": type(error).__module__,
        "type": type(error).__qualname__,
        # The nearest builtin class: `ValueError` for a
        # `json.JSONDecodeError`, `Exception` for a TensorFlow error.
        "builtin": next(
            cls.__name__
            for cls in type(error).__mro__
            if cls.__module__ == "builtins"
        ),
        "message": str(error),
        "traceback": "".join(traceback.format_exception(error))[-4000:],
    }
    try:
        json.dumps(list(error.args))
        record["args"] = list(error.args)
    except (TypeError, ValueError):
        pass
    if isinstance(error, OSError):
        record["errno"] = error.errno
        record["strerror"] = error.strerror
        for name in ("filename", "filename2"):
            value = getattr(error, name)
            record[name] = os.fsdecode(value) if value is not None else None
    with open(path, "w") as file:
        json.dump(record, file)


def rebuild_error(record):
    """The exception that `record` (from `report_error`) describes: the
    same builtin type with the same message (for an exception of another
    module, its nearest builtin class, if more precise than `Exception`),
    or `None` when there is none or it does not rebuild to the same
    message."""
    exact = record.get("module") == "builtins"
    name = record.get("type") if exact else record.get("builtin")
    cls = getattr(builtins, name or "", None)
    if not (
        isinstance(cls, type)
        and issubclass(cls, Exception)
        and cls is not Exception
    ):
        return None
    try:
        if not exact:
            error = cls(record["message"])
        elif issubclass(cls, OSError) and record.get("errno") is not None:
            args = [record["errno"], record.get("strerror")]
            if record.get("filename") is not None or record.get("filename2"):
                args.append(record.get("filename"))
            if record.get("filename2") is not None:
                args += [None, record["filename2"]]
            error = cls(*args)
        elif "args" in record:
            error = cls(*record["args"])
        else:
            error = cls(record["message"])
    except Exception:  # A constructor of other arguments.
        return None
    return error if str(error) == record["message"] else None


def run(command, what, env=None, on_result=None):
    """Runs `command` (a list), with `env` (default: this process'), and
    returns its `subprocess.CompletedProcess`; stdout and stderr are
    captured as text. `on_result`, if given, is called with it first,
    whether the child failed or not.

    When it fails, raises the child's exception as it reported it (see
    `report_error`): the same builtin type and message, its traceback as
    the cause. A `ValueError: MESSAGE` line on stderr (the protocol of the
    scripts that stand alone) is raised as that `ValueError`. Anything
    else raises a `RuntimeError` that names `what` and a log file holding
    the child's stderr.
    """
    with tempfile.TemporaryDirectory() as tmp:
        error_file = os.path.join(tmp, "error.json")
        env = dict(os.environ if env is None else env)
        env[ERROR_FILE_VARIABLE] = error_file
        result = subprocess.run(
            command, env=env, capture_output=True, text=True
        )
        if on_result is not None:
            on_result(result)
        if not result.returncode:
            return result
        record = None
        if os.path.isfile(error_file):
            try:
                with open(error_file) as file:
                    record = json.load(file)
            except ValueError:
                record = None
    if isinstance(record, dict):
        cause = RuntimeError(
            f"{what}: the child process' traceback:\n"
            + record.get("traceback", "")
        )
        error = rebuild_error(record)
        if error is not None:
            raise error from cause
        raise RuntimeError(
            f"{what} raised {record.get('module')}.{record.get('type')}: "
            f"{record.get('message')} (the child process' log: "
            f"{_write_log(result)})"
        ) from cause
    errors = [
        line[len("ValueError: ") :]
        for line in result.stderr.splitlines()
        if line.startswith("ValueError: ")
    ]
    if errors:
        raise ValueError(errors[-1])
    lines = result.stderr.strip().splitlines()
    raise RuntimeError(
        f"{what} failed (exit status {result.returncode}) with no error "
        f"reported; its log is {_write_log(result)}"
        + (f". Its last line: {lines[-1][:300]}" if lines else "")
    )


def _write_log(result):
    """Writes a child's stdout and stderr to a new file; returns its path."""
    handle, path = tempfile.mkstemp(prefix="keras_mm-child-", suffix=".log")
    with os.fdopen(handle, "w") as file:
        file.write(result.stdout or "")
        file.write(result.stderr or "")
    return path
