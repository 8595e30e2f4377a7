"""Model files: clear errors for files that are not `.keras` archives, and
staged writes that never leave a version missing or half-written."""

import contextlib
import os
import subprocess
import sys
import threading
import time
import zipfile
from unittest import mock

import pytest

from keras_mm.utils import files
from keras_mm.utils.files import check_keras_file
from keras_mm.utils.files import exchange
from keras_mm.utils.files import remove_stale_staging
from keras_mm.utils.files import staging_prefix
from keras_mm.utils.files import write_atomically
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent


def write_version(content):
    """A `write` for `write_atomically`: a directory holding one file."""

    def write(target):
        os.makedirs(target)
        with open(os.path.join(target, "saved_model.pb"), "w") as file:
            file.write(content)

    return write


def read_version(path):
    with open(os.path.join(path, "saved_model.pb")) as file:
        return file.read()


def dead_pid():
    """The pid of a process that has ended (and was reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


class CheckKerasFileTest(TestCase):
    def write(self, name, data):
        path = os.path.join(self.get_temp_dir(), name)
        with open(path, "wb") as file:
            file.write(data)
        return path

    def test_says_what_is_wrong_with_the_file(self):
        missing = os.path.join(self.get_temp_dir(), "gone.keras")
        with self.assertRaisesRegex(ValueError, "No such model file"):
            check_keras_file(missing)
        with self.assertRaisesRegex(ValueError, r"empty \(0 bytes\)"):
            check_keras_file(self.write("empty.keras", b""))
        with self.assertRaisesRegex(ValueError, "corrupt.*1000 bytes"):
            check_keras_file(self.write("noise.keras", os.urandom(1000)))
        with self.assertRaisesRegex(ValueError, "ends in '.txt'"):
            check_keras_file(self.write("model.txt", b"text"))
        with self.assertRaisesRegex(ValueError, "is a directory"):
            check_keras_file(self.get_temp_dir())
        archive = os.path.join(self.get_temp_dir(), "other.keras")
        with zipfile.ZipFile(archive, "w") as file:
            file.writestr("notes.txt", "hello")
        with self.assertRaisesRegex(ValueError, "no config.json"):
            check_keras_file(archive)
        # A truncated archive loses its central directory.
        with zipfile.ZipFile(archive, "w") as file:
            file.writestr("config.json", "{}" * 1000)
        with open(archive, "rb") as file:
            data = file.read()
        truncated = self.write("cut.keras", data[: len(data) // 2])
        with self.assertRaisesRegex(ValueError, "corrupt or not a `.keras`"):
            check_keras_file(truncated)
        self.assertEqual(check_keras_file(archive), archive)


class StagingTest(TestCase):
    def staging(self, root, name, host=None, pid=None, age=0.0):
        """A staging directory as `write_atomically` names them, of this
        host and process unless `host` and `pid` are given."""
        # `.staging-NAME-HOST-PID-`
        prefix = staging_prefix(os.path.join(root, name))
        here, this_host, this_pid = prefix[:-1].rsplit("-", 2)
        host = this_host if host is None else host
        pid = this_pid if pid is None else pid
        path = os.path.join(root, f"{here}-{host}-{pid}-abc_123")
        write_version("partial")(os.path.join(path, "artifact"))
        if age:
            stamp = time.time() - age
            for each in (path, os.path.join(path, "artifact")):
                os.utime(each, (stamp, stamp))
        return path

    def test_removes_only_stale_staging_of_its_own(self):
        root = self.get_temp_dir()
        dead = self.staging(root, "1", pid=dead_pid())
        running = self.staging(root, "2")  # This process: still writing.
        elsewhere = self.staging(root, "3", host="other_host", pid=1)
        old = self.staging(root, "4", host="other_host", pid=1, age=7200)
        foreign = os.path.join(root, ".staging-by-someone-else")
        os.makedirs(foreign)
        self.assertEqual(sorted(remove_stale_staging(root)), [dead, old])
        self.assertEqual(
            sorted(os.listdir(root)),
            sorted(os.path.basename(p) for p in (running, elsewhere, foreign)),
        )

    def test_puts_back_a_version_moved_aside_by_a_killed_writer(self):
        root = self.get_temp_dir()
        staging = self.staging(root, "7", pid=dead_pid())
        write_version("old")(os.path.join(staging, "replaced"))
        remove_stale_staging(root)
        self.assertEqual(os.listdir(root), ["7"])
        self.assertEqual(read_version(os.path.join(root, "7")), "old")

    def test_a_write_removes_the_leftovers_of_killed_writes(self):
        root = self.get_temp_dir()
        self.staging(root, "1", pid=dead_pid())
        path = write_atomically(os.path.join(root, "2"), write_version("new"))
        self.assertEqual(os.listdir(root), ["2"])
        self.assertEqual(read_version(path), "new")

    def test_staging_is_named_after_the_path_and_the_writer(self):
        seen = []

        def write(target):
            seen.append(os.path.basename(os.path.dirname(target)))
            write_version("new")(target)

        root = self.get_temp_dir()
        write_atomically(os.path.join(root, "3"), write)
        prefix = staging_prefix(os.path.join(root, "3"))
        self.assertStartsWith(seen[0], prefix)
        self.assertEqual(prefix.split("-")[-2], str(os.getpid()))


@contextlib.contextmanager
def watching_version(path):
    """While the block runs, a thread checks, as often as threads switch,
    that the version directory `path` holds a saved_model.pb. Yields a
    dict whose `"missing"` lists the checks that failed and `"checks"`
    counts them all."""
    seen = {"missing": [], "checks": 0}
    done = threading.Event()

    def watch():
        while not done.is_set():
            seen["checks"] += 1
            if not os.path.isfile(os.path.join(path, "saved_model.pb")):
                seen["missing"].append(seen["checks"])

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # Switch threads as often as can be.
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        yield seen
    finally:
        done.set()
        watcher.join()
        sys.setswitchinterval(interval)


class OverwriteTest(TestCase):
    def overwrite_while_watching(self, root, times):
        """Overwrites version 1 `times` times while a thread checks that it
        always holds a saved_model.pb; returns the checks that failed and
        the number of checks."""
        path = os.path.join(root, "1")
        write_atomically(path, write_version("0"))
        with watching_version(path) as seen:
            for i in range(times):
                write_atomically(path, write_version(str(i + 1)), True)
        self.assertEqual(read_version(path), str(times))
        self.assertEqual(os.listdir(root), ["1"])
        return seen["missing"], seen["checks"]

    @pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="renameat2 is Linux's"
    )
    def test_exchange_swaps_two_directories(self):
        root = self.get_temp_dir()
        write_version("a")(os.path.join(root, "a"))
        write_version("b")(os.path.join(root, "b"))
        self.assertTrue(exchange(os.path.join(root, "a"), root + "/b"))
        self.assertEqual(read_version(os.path.join(root, "a")), "b")
        self.assertEqual(read_version(os.path.join(root, "b")), "a")
        with self.assertRaises(FileNotFoundError):
            exchange(os.path.join(root, "a"), os.path.join(root, "c"))

    @pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="renameat2 is Linux's"
    )
    def test_the_version_never_goes_missing_during_an_overwrite(self):
        missing, checks = self.overwrite_while_watching(
            self.get_temp_dir(), 200
        )
        self.assertGreater(checks, 200)
        self.assertEqual(missing, [])

    def test_without_an_exchange_the_old_version_moves_aside(self):
        # Other systems: two renames, the new version complete before.
        with mock.patch.object(files, "exchange", return_value=False):
            self.overwrite_while_watching(self.get_temp_dir(), 3)
