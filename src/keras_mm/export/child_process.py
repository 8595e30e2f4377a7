"""Steps run in a child process (an export under the TensorFlow backend, a
check in a TensorFlow-only process), whose errors are raised in the parent
as the child raised them.

The child writes its exception to the JSON file that the environment
variable `KERAS_MM_ERROR_FILE` names (`report_error`); the parent raises
the same builtin exception type with the same message (`run`), so that a
call fails alike whether it ran in this process or in a child. The
child's log stays out of the message.
"""

import atexit
import builtins
import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
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
        return _check(result, error_file, what, on_result)


def run_in_worker(command, args, what, env=None, on_result=None):
    """Runs `command + args` (a list, e.g. `[python, "-m", MODULE]`) as
    `run` does, but in a child process that stays for the next call of
    `command`; returns a `subprocess.CompletedProcess` whose `stderr` holds
    the call's stdout and stderr.

    `command + ["--serve"]` must call `serve(main)`, where `main(args)` is
    what `command + args` runs. The worker is started on the first call
    (and again when `env`, default this process', changes, or after it
    died), runs one call at a time in the caller's working directory, and
    exits with this process, or after `IDLE_SECONDS` without a call.
    Errors are raised as `run` raises them; a call interrupted here
    (`KeyboardInterrupt`) stops the worker.
    """
    env = dict(os.environ if env is None else env)
    with _WORKERS_LOCK, tempfile.TemporaryDirectory() as tmp:
        error_file = os.path.join(tmp, "error.json")
        log = os.path.join(tmp, "call.log")
        request = {"args": list(args), "cwd": os.getcwd(), "log": log}
        request["error_file"] = error_file
        # A worker that has just left, idle, read no request: run it again.
        for _ in range(2):
            worker = _worker(tuple(command), env)
            returncode = worker.call(request)
            if returncode is not None or worker.process.returncode != 0:
                break
        output = ""
        if os.path.exists(log):
            with open(log, errors="replace") as file:
                output = file.read()
        if returncode is None:  # It died in the call.
            returncode = worker.process.returncode
            output += worker.last_words
        result = subprocess.CompletedProcess(
            [*command, *args], returncode, "", output
        )
        return _check(result, error_file, what, on_result)


def _check(result, error_file, what, on_result):
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


# A worker leaves after this many seconds without a call, giving back its
# memory (TensorFlow and a model take a few hundred MB).
IDLE_SECONDS = 300
_WORKERS = {}
_WORKERS_LOCK = threading.Lock()


class _Worker:
    """One `COMMAND --serve` child: JSON requests on its stdin, JSON
    replies on its stdout, each call's output in the call's log, and the
    rest (`last_words` once it is gone) in a log of its own."""

    def __init__(self, command, env):
        self.env = env
        self._log = tempfile.NamedTemporaryFile(
            prefix="keras_mm-worker-", suffix=".log"
        )
        self.process = subprocess.Popen(
            [*command, "--serve"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            # Ctrl-C in a terminal interrupts the caller, which stops it.
            start_new_session=True,
        )

    def call(self, request):
        """Sends `request`; returns the call's exit status, or `None` when
        the worker is gone (then it is stopped)."""
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            reply = self.process.stdout.readline()
        except BrokenPipeError:
            reply = ""
        except BaseException:  # Interrupted: its call cannot be finished.
            self.stop(kill=True)
            raise
        if not reply:
            with open(self._log.name, errors="replace") as file:
                self.last_words = file.read()  # An import error, say.
            self.stop()
            return None
        return json.loads(reply)["returncode"]

    def stop(self, kill=False):
        for command, worker in list(_WORKERS.items()):
            if worker is self:
                del _WORKERS[command]
        with contextlib.suppress(OSError):
            self.process.stdin.close()  # It leaves at the end of its input.
        try:
            self.process.wait(timeout=0 if kill else 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()
        self._log.close()


def _worker(command, env):
    """The running worker of `command` with `env`; a new one for another
    `env` or when it has left."""
    worker = _WORKERS.get(command)
    if worker is not None and (
        worker.env != env or worker.process.poll() is not None
    ):
        worker.stop()
        worker = None
    if worker is None:
        worker = _WORKERS[command] = _Worker(command, env)
    return worker


@atexit.register
def stop_workers():
    """Stops every worker (at exit, or to free their memory now)."""
    for worker in list(_WORKERS.values()):
        worker.stop()


def main_or_serve(main, after_call=None):
    """What a worker script runs as `__main__`: with `--serve` alone,
    `serve(main, after_call)`; else `main(sys.argv[1:])`, once."""
    if sys.argv[1:] == ["--serve"]:
        serve(main, after_call)
    else:
        main(sys.argv[1:])


def serve(main, after_call=None):
    """The worker side of `run_in_worker`: reads requests from stdin and
    runs `main(args)` for each, then `after_call()` if given (to clear
    state the next call must not see), until stdin ends or `IDLE_SECONDS`
    pass without one. Between calls, output goes to stderr."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    while _request_arrives():
        line = sys.stdin.readline()
        if not line:
            return
        returncode = _serve_call(main, json.loads(line))
        if after_call is not None:
            after_call()
        replies.write(json.dumps({"returncode": returncode}) + "\n")
        replies.flush()


def _request_arrives():
    """Waits up to `IDLE_SECONDS` for a request; whether one came. (On
    Windows, whose `select` takes sockets only, it waits without end.)"""
    if os.name == "nt":
        return True
    return bool(select.select([sys.stdin], [], [], IDLE_SECONDS)[0])


def _serve_call(main, request):
    """Runs one request as its own process would: in its directory, with
    its error file, stdout and stderr in its log; returns the exit status."""
    os.chdir(request["cwd"])
    os.environ[ERROR_FILE_VARIABLE] = request["error_file"]
    saved = os.dup(1), os.dup(2)
    with open(request["log"], "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            main(request["args"])
            returncode = 0
        except SystemExit as exit:
            returncode = exit.code
            if not isinstance(returncode, int):
                if returncode is not None:
                    print(returncode, file=sys.stderr)
                returncode = 0 if returncode is None else 1
        except Exception:
            traceback.print_exc()
            returncode = 1
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            for fd, copy in zip((1, 2), saved):
                os.dup2(copy, fd)
                os.close(copy)
    return returncode
