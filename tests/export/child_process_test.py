"""Workers that stay for the next call (`child_process.run_in_worker`):
one process for many calls, errors raised as the child raised them, and
a new process when the last one died, left idle or had another
environment."""

import os
import re
import signal
import sys
import time

import pytest

from keras_mm.export import child_process
from tests.test_case import TestCase

# A worker that imports only the protocol (by path: no Keras to load).
# A call writes its process id and working directory to the file given,
# then runs the statement given.
WORKER = """
import importlib.util, os, sys
spec = importlib.util.spec_from_file_location("c", os.environ["PROTOCOL"])
child = importlib.util.module_from_spec(spec)
spec.loader.exec_module(child)
child.IDLE_SECONDS = float(os.environ.get("IDLE", "60"))

def main(args):
    output, statement = args
    with open(output, "w") as file:
        file.write(f"{os.getpid()} {os.getcwd()}")
    print("a line of the log")
    try:
        exec(statement)
    except Exception as error:
        child.report_error(error)
        raise

if sys.argv[1:] == ["--serve"]:
    child.serve(main)
"""


@pytest.mark.backend_independent
class RunInWorkerTest(TestCase):
    def setUp(self):
        super().setUp()
        self.command = [sys.executable, "-c", WORKER]
        self.env = dict(os.environ, PROTOCOL=child_process.__file__)
        self.output = os.path.join(self.get_temp_dir(), "output")
        self.addCleanup(self.stop)

    def stop(self):
        worker = child_process._WORKERS.get(tuple(self.command))
        if worker is not None:
            worker.stop()

    def call(self, statement="pass", env=None):
        """Runs `statement` in the worker; returns (process id, working
        directory, the call's log)."""
        result = child_process.run_in_worker(
            self.command,
            [self.output, statement],
            "The call",
            env=env or self.env,
        )
        with open(self.output) as file:
            pid, cwd = file.read().split(" ", 1)
        return int(pid), cwd, result.stderr

    def test_one_process_serves_calls_in_the_callers_directory(self):
        pid, cwd, log = self.call()
        self.assertNotEqual(pid, os.getpid())
        self.assertEqual(log, "a line of the log\n")
        directory = self.get_temp_dir()
        self.addCleanup(os.chdir, os.getcwd())
        os.chdir(directory)
        second, cwd, _ = self.call("print('more')")
        self.assertEqual(second, pid)
        self.assertEqual(os.path.realpath(cwd), os.path.realpath(directory))

    def test_errors_are_raised_and_the_worker_stays(self):
        pid, _, _ = self.call()
        with self.assertRaisesRegex(KeyError, "^'key'$"):
            self.call("{}['key']")
        with self.assertRaisesRegex(RuntimeError, "exit status 2"):
            self.call("raise SystemExit(2)")
        self.assertEqual(self.call()[0], pid)

    def test_a_dead_worker_is_replaced(self):
        pid, _, _ = self.call()
        with self.assertRaisesRegex(
            RuntimeError, "The call failed \\(exit status 3\\)"
        ) as caught:
            self.call("os._exit(3)")
        # The call's log holds what it wrote before it died.
        log = re.search(r"/\S*keras_mm-child-\w+\.log", str(caught.exception))
        self.addCleanup(os.remove, log[0])
        with open(log[0]) as file:
            self.assertEqual(file.read(), "a line of the log\n")
        self.assertNotEqual(self.call()[0], pid)

    def test_another_environment_gets_another_worker(self):
        pid, _, _ = self.call()
        other, _, _ = self.call(env=dict(self.env, SETTING="1"))
        self.assertNotEqual(other, pid)

    def test_an_idle_worker_leaves_and_the_next_call_starts_another(self):
        env = dict(self.env, IDLE="0.2")
        pid, _, _ = self.call(env=env)
        worker = child_process._WORKERS[tuple(self.command)]
        deadline = time.time() + 30
        while worker.process.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        self.assertEqual(worker.process.returncode, 0)
        self.assertNotEqual(self.call(env=env)[0], pid)

    def test_an_interrupted_call_stops_the_worker(self):
        pid, _, _ = self.call()

        def interrupt(*_):
            raise KeyboardInterrupt

        self.addCleanup(
            signal.signal,
            signal.SIGALRM,
            signal.signal(signal.SIGALRM, interrupt),
        )
        signal.setitimer(signal.ITIMER_REAL, 0.5)
        with self.assertRaises(KeyboardInterrupt):
            self.call("import time; time.sleep(60)")
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)
        self.assertNotEqual(self.call()[0], pid)
