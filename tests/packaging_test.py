"""The wheel holds the whole package, the licence and the command."""

import email
import json
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


def build_wheel(test):
    """Builds the wheel from a copy of what the build reads (so that the
    build leaves nothing in the working tree); returns its path."""
    source = os.path.join(test.get_temp_dir(), "source")
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
    wheels = test.get_temp_dir()
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q"]
        + ["--no-build-isolation", "--wheel-dir", wheels, source],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (name,) = os.listdir(wheels)
    return os.path.join(wheels, name)


def install_cell():
    """The notebooks' install cell (each notebook has it, see
    `tests/notebooks_test.py`)."""
    path = os.path.join(ROOT, "notebooks", "captioning_quickstart.ipynb")
    with open(path) as file:
        cells = json.load(file)["cells"]
    code = next(c for c in cells if c["cell_type"] == "code")
    return "".join(code["source"])


# Run by the wheel's own `python` in a fresh venv, away from the clone:
# the package, its data and a tiny model.
SMOKE = """
import keras_mm
assert "site-packages" in keras_mm.__file__, keras_mm.__file__
data = keras_mm.datasets.scenes(num_samples=30, image_size=32, seed=0)
train = data["train"]
model = keras_mm.build_classifier(
    {"images": keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3))},
    num_classes=2, hidden_dim=8)
labels = [i % 2 for i in range(len(train["images"]))]
model.fit({"images": train["images"]}, labels, epochs=1, verbose=0)
print("smoke ok", keras_mm.__version__)
"""


class WheelTest(TestCase):
    @pytest.mark.slow
    def test_wheel_installs_in_a_fresh_venv(self):
        wheel = build_wheel(self)
        folder = self.get_temp_dir()
        venv = os.path.join(folder, "venv")
        subprocess.run(
            [sys.executable, "-m", "venv", venv], check=True, timeout=120
        )
        python = os.path.join(venv, "bin", "python")
        # The notebooks' install cell, as on Colab with the wheel uploaded
        # beside the notebook (with the JAX extra instead of all extras).
        cell = install_cell()
        self.assertIn("[all]", cell)
        shutil.copy(wheel, folder)
        install = subprocess.run(
            [python, "-c", cell.replace("[all]", "[jax]")],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=900,
        )
        self.assertEqual(install.returncode, 0, install.stderr[-3000:])
        self.assertIn(
            f"Installed keras_mm from {os.path.basename(wheel)}",
            install.stdout,
        )
        env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
        env.pop("PYTHONPATH", None)
        version = subprocess.run(
            [os.path.join(venv, "bin", "keras-mm"), "--version"],
            capture_output=True,
            text=True,
            cwd=folder,
            env=env,
            timeout=60,
        )
        self.assertEqual(version.stdout, f"keras-mm {keras_mm.__version__}\n")
        smoke = subprocess.run(
            [python, "-c", SMOKE],
            capture_output=True,
            text=True,
            cwd=folder,
            env=env,
            timeout=600,
        )
        self.assertEqual(smoke.returncode, 0, smoke.stderr[-3000:])
        self.assertIn(f"smoke ok {keras_mm.__version__}", smoke.stdout)

    @pytest.mark.slow
    def test_wheel_contents(self):
        wheel = build_wheel(self)
        wheels, name = os.path.split(wheel)
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


class LowestVersionsTest(TestCase):
    def test_pins_the_floors_of_pyproject(self):
        sys.path.insert(0, os.path.join(ROOT, ".ci"))
        try:
            import lowest_pins
        finally:
            sys.path.pop(0)
        with open(os.path.join(ROOT, "pyproject.toml")) as file:
            pins = lowest_pins.lowest_pins(file.read())
        self.assertEqual(
            [pin.split("==")[0] for pin in pins],
            ["keras", "keras-hub", "tensorflow", "jax[cpu]", "pillow"],
        )
        # The README states the same floors.
        with open(os.path.join(ROOT, "README.md")) as file:
            readme = " ".join(file.read().split())
        for pin, name in zip(pins, ("Keras", "KerasHub", "TensorFlow", "JAX")):
            self.assertIn(f"{name} {pin.split('==')[1]} or newer", readme)
        # The highest of several floors; a missing one is named.
        text = '"keras>=3.2", "keras-hub>=0.1", "tensorflow>=2.9", '
        text += '"tensorflow>=2.10", "jax>=0.4", "pillow>=9"'
        self.assertIn("tensorflow==2.10", lowest_pins.lowest_pins(text))
        with self.assertRaisesRegex(ValueError, r"no `>=` floor for \['jax'\]"):
            lowest_pins.lowest_pins(text.replace('"jax>=0.4", ', ""))


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
