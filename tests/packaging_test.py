"""The wheel holds the whole package, the licence and the command."""

import email
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

import keras_mm
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

ROOT = os.path.join(os.path.dirname(__file__), "..")
SOURCES = (
    "src",
    "pyproject.toml",
    "setup.cfg",
    "README.md",
    "LICENSE",
)


def package_files():
    """The package's files in the source tree, as paths in a wheel."""
    paths = set()
    for folder, _, names in os.walk(os.path.join(ROOT, "src", "keras_mm")):
        for name in names:
            if not name.endswith((".pyc", ".pyo")):
                path = os.path.join(folder, name)
                paths.add(
                    os.path.relpath(path, os.path.join(ROOT, "src")).replace(
                        os.sep, "/"
                    )
                )
    return paths


class WheelTest(TestCase):
    @pytest.mark.slow
    def test_wheel_contents(self):
        # A copy of what the build reads, so that the build leaves nothing
        # in the working tree.
        source = os.path.join(self.get_temp_dir(), "source")
        for name in SOURCES:
            path = os.path.join(ROOT, name)
            if os.path.isdir(path):
                shutil.copytree(
                    path,
                    os.path.join(source, name),
                    ignore=shutil.ignore_patterns("__pycache__"),
                )
            else:
                os.makedirs(source, exist_ok=True)
                shutil.copy(path, source)
        wheels = self.get_temp_dir()
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"]
            + ["--no-build-isolation", "--wheel-dir", wheels, source],
            check=True,
            capture_output=True,
            timeout=300,
        )
        (name,) = os.listdir(wheels)
        self.assertEqual(
            name, f"keras_mm-{keras_mm.__version__}-py3-none-any.whl"
        )
        with zipfile.ZipFile(os.path.join(wheels, name)) as wheel:
            names = set(wheel.namelist())
            info = f"keras_mm-{keras_mm.__version__}.dist-info"
            (licence,) = [
                n
                for n in names
                if n.startswith(info) and os.path.basename(n) == "LICENSE"
            ]
            self.assertIn(b"Apache License", wheel.read(licence)[:200])
            metadata = email.message_from_bytes(wheel.read(f"{info}/METADATA"))
            entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        # Every file of the package, in every subpackage, is in the wheel.
        self.assertEqual(package_files() - names, set())
        self.assertIn("keras_mm_cli.py", names)  # The command.
        self.assertIn("keras-mm = keras_mm_cli:main", entry_points)
        requires = metadata.get_all("Requires-Dist")
        # No unused dependency; the test tools only in the `test` extra.
        self.assertFalse([r for r in requires if r.startswith("tqdm")])
        (pytest_requirement,) = [r for r in requires if r.startswith("pytest>")]
        self.assertIn('extra == "test"', pytest_requirement)
        self.assertIn("all", metadata.get_all("Provides-Extra"))


class LayoutTest(TestCase):
    def test_a_folder_named_keras_mm_does_not_shadow_the_package(self):
        # A script run from the parent folder of a clone named `keras_mm`
        # sees that folder first on `sys.path`; the src layout keeps the
        # installed package ahead of it as an empty namespace package.
        folder = self.get_temp_dir()
        os.makedirs(os.path.join(folder, "keras_mm", "keras_mm"))
        script = os.path.join(folder, "script.py")
        with open(script, "w") as f:
            f.write(
                "import keras_mm\n"
                "print(keras_mm.__file__, hasattr(keras_mm, 'encoders'))\n"
            )
        result = subprocess.run(
            [sys.executable, script],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        path, found = result.stdout.split()
        self.assertEqual(found, "True")
        self.assertEqual(
            os.path.realpath(path), os.path.realpath(keras_mm.__file__)
        )
