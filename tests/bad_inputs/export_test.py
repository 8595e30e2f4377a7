"""Bad inputs to `keras_mm.export` (`saved_model`, `tflite`, `verify`) and
the `keras-mm export` command: each one line, each refused before any
export work starts (no TensorFlow child process under JAX), with the same
error under every backend."""

import os
import types
import zipfile

import keras
import pytest

import keras_mm
import keras_mm_cli as cli
from tests.bad_inputs.harness import exits
from tests.bad_inputs.harness import raises
from tests.bad_inputs.harness import run_case


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A tiny classifier, its `.keras` file, and files that are not one."""
    root = str(tmp_path_factory.mktemp("export"))

    def path(*parts):
        return os.path.join(root, *parts)

    def write(name, data):
        with open(path(name), "wb") as file:
            file.write(data)
        return path(name)

    model = keras_mm.build_classifier(
        {"images": keras_mm.encoders.image("cnn_small", (8, 8, 3))},
        num_classes=2,
        hidden_dim=8,
    )
    model.save(path("model.keras"))
    with open(path("model.keras"), "rb") as file:
        data = file.read()
    with zipfile.ZipFile(path("other.keras"), "w") as file:
        file.writestr("notes.txt", "not a model")
    inputs = keras.Input((4,))
    os.makedirs(path("models", "taken", "1"))
    write("models/taken/3", b"a file where a version goes")
    os.makedirs(path("fake_saved_model"))
    write("fake_saved_model/saved_model.pb", b"")
    os.makedirs(path("directory.tflite"))
    return types.SimpleNamespace(
        path=path,
        model=model,
        model_file=path("model.keras"),
        empty=write("empty.keras", b""),
        noise=write("noise.keras", os.urandom(1000)),
        truncated=write("truncated.keras", data[: len(data) // 2]),
        other_zip=path("other.keras"),
        text=write("model.txt", b"a model"),
        regular=write("regular", b"a file"),
        existing_tflite=write("existing.tflite", b"tflite"),
        plain=keras.Model(inputs, keras.layers.Dense(2)(inputs)),
    )


def saved_model(env, model=None, path="models/new", **kwargs):
    model = env.model_file if model is None else model
    return keras_mm.export.saved_model(model, env.path(path), **kwargs)


def tflite(env, model=None, path="new.tflite", **kwargs):
    model = env.model_file if model is None else model
    return keras_mm.export.tflite(model, env.path(path), **kwargs)


def export(env, *args, model=None):
    model = env.model_file if model is None else model
    return cli.main(["export", model, "--root", env.path("cli"), *args])


CORRUPT = ("corrupt or not a `.keras` archive",)
NOT_A_TASK = ("takes a task",)

CASES = [
    # The model file.
    raises(
        "saved_model of an empty file",
        lambda env: saved_model(env, env.empty),
        ValueError,
        "empty.keras",
        "empty (0 bytes)",
    ),
    raises(
        "saved_model of random bytes",
        lambda env: saved_model(env, env.noise),
        ValueError,
        "noise.keras",
        "1000 bytes",
        *CORRUPT,
    ),
    raises(
        "saved_model of a truncated file",
        lambda env: saved_model(env, env.truncated),
        ValueError,
        "truncated.keras",
        "truncated",
        *CORRUPT,
    ),
    raises(
        "saved_model of a missing file",
        lambda env: saved_model(env, env.path("gone.keras")),
        ValueError,
        "no such model file",
        "gone.keras",
    ),
    raises(
        "saved_model of a zip that holds no model",
        lambda env: saved_model(env, env.other_zip),
        ValueError,
        "not a `.keras` archive",
        "no config.json",
        "notes.txt",
    ),
    raises(
        "saved_model of a text file",
        lambda env: saved_model(env, env.text),
        ValueError,
        "ends in '.txt'",
    ),
    raises(
        "saved_model of a directory",
        lambda env: saved_model(env, env.path("models")),
        ValueError,
        "is a directory",
    ),
    raises(
        "saved_model of None",
        lambda env: keras_mm.export.saved_model(None, env.path("models/n")),
        ValueError,
        "NoneType",
        *NOT_A_TASK,
    ),
    raises(
        "saved_model of a plain Keras model",
        lambda env: saved_model(env, env.plain),
        ValueError,
        "Functional",
        *NOT_A_TASK,
    ),
    raises(
        "task from_preset of a corrupt file",
        lambda env: keras_mm.models.Task.from_preset(env.noise),
        ValueError,
        *CORRUPT,
    ),
    # Arguments and paths.
    raises(
        "saved_model overwrite as a string",
        lambda env: saved_model(env, overwrite="yes"),
        ValueError,
        "`overwrite` must be True or False",
        "'yes'",
    ),
    raises(
        "saved_model raw_inputs as a number",
        lambda env: saved_model(env, raw_inputs=1),
        ValueError,
        "`raw_inputs` must be True or False",
    ),
    raises(
        "saved_model onto an existing version",
        lambda env: saved_model(env, path="models/taken/1"),
        ValueError,
        "already exists",
        "overwrite=True",
    ),
    raises(
        "saved_model onto a file where a version goes",
        lambda env: saved_model(env, path="models/taken/3", overwrite=True),
        ValueError,
        "is not a directory",
    ),
    raises(
        "saved_model to version 1.5",
        lambda env: saved_model(env, path="models/taken/1.5"),
        ValueError,
        "'1.5' is not a TF Serving version",
    ),
    raises(
        "saved_model to version -1",
        lambda env: saved_model(env, path="models/taken/-1"),
        ValueError,
        "'-1' is not a TF Serving version",
    ),
    raises(
        "saved_model to version 007",
        lambda env: saved_model(env, path="models/taken/007"),
        ValueError,
        "served as version 7",
    ),
    raises(
        "saved_model to a version beyond int64",
        lambda env: saved_model(env, path="models/taken/" + "9" * 20),
        ValueError,
        "64-bit",
    ),
    raises(
        "saved_model to path None",
        lambda env: keras_mm.export.saved_model(env.model_file, None),
        ValueError,
        "`path` must be a directory path",
    ),
    raises(
        "saved_model to an empty path",
        lambda env: keras_mm.export.saved_model(env.model_file, ""),
        ValueError,
        "`path` must be a directory path",
    ),
    raises(
        "saved_model under a regular file",
        lambda env: saved_model(env, path="regular/name"),
        NotADirectoryError,
        "not a directory",
        "regular",
    ),
    # TFLite.
    raises(
        "tflite with an unknown quantization",
        lambda env: tflite(env, quantization="int4"),
        ValueError,
        "`quantization` must be one of",
        "'int4'",
    ),
    raises(
        "tflite with a quantization list",
        lambda env: tflite(env, quantization=["dynamic"]),
        ValueError,
        "`quantization` must be one of",
    ),
    raises(
        "tflite int8 without representative data",
        lambda env: tflite(env, quantization="int8"),
        ValueError,
        "representative_data",
    ),
    raises(
        "tflite to a path of another extension",
        lambda env: tflite(env, path="model.lite"),
        ValueError,
        "must end with '.tflite'",
    ),
    raises(
        "tflite to path None",
        lambda env: keras_mm.export.tflite(env.model_file, None),
        ValueError,
        "`path` must be a file path",
    ),
    raises(
        "tflite onto an existing file",
        lambda env: tflite(env, path="existing.tflite"),
        ValueError,
        "already exists",
        "overwrite=True",
    ),
    raises(
        "tflite onto a directory",
        lambda env: tflite(env, path="directory.tflite", overwrite=True),
        ValueError,
        "is a directory",
    ),
    raises(
        "tflite overwrite as a string",
        lambda env: tflite(env, overwrite="False"),
        ValueError,
        "`overwrite` must be True or False",
    ),
    raises(
        "tflite of a corrupt file",
        lambda env: tflite(env, env.truncated),
        ValueError,
        *CORRUPT,
    ),
    raises(
        "tflite of a plain Keras model",
        lambda env: tflite(env, env.plain),
        ValueError,
        *NOT_A_TASK,
    ),
    # Verify.
    raises(
        "verify path None",
        lambda env: keras_mm.export.verify(None, env.model, {}),
        ValueError,
        "`path` must be the path",
    ),
    raises(
        "verify a missing TFLite file",
        lambda env: keras_mm.export.verify(
            env.path("no.tflite"), env.model, {}
        ),
        ValueError,
        "no such tflite file",
    ),
    raises(
        "verify a directory that is no SavedModel",
        lambda env: keras_mm.export.verify(env.path("models"), env.model, {}),
        ValueError,
        "not a SavedModel directory",
    ),
    raises(
        "verify against a model file path",
        lambda env: keras_mm.export.verify(
            env.path("fake_saved_model"), env.model_file, {}
        ),
        ValueError,
        "str",
        *NOT_A_TASK,
    ),
    raises(
        "verify with a negative tolerance",
        lambda env: keras_mm.export.verify(
            env.path("fake_saved_model"), env.model, {}, tolerance=-1.0
        ),
        ValueError,
        "`tolerance` must be a non-negative number",
    ),
    raises(
        "verify with a signature number",
        lambda env: keras_mm.export.verify(
            env.path("fake_saved_model"), env.model, {}, signature=0
        ),
        ValueError,
        "`signature` must be a signature name",
    ),
    # The command: status 2, one line on stderr.
    exits(
        "command on a missing file",
        lambda env: export(env, model=env.path("gone.keras")),
        "keras-mm export: error:",
        "no such model file",
    ),
    exits(
        "command on an empty file",
        lambda env: export(env, model=env.empty),
        "empty (0 bytes)",
    ),
    exits(
        "command on random bytes",
        lambda env: export(env, model=env.noise),
        *CORRUPT,
    ),
    exits(
        "command on a zip that holds no model",
        lambda env: export(env, model=env.other_zip),
        "no config.json",
    ),
    exits(
        "command with an unknown format",
        lambda env: export(env, "--format", "onnx"),
        "--format must list formats among",
        "'onnx'",
    ),
    exits(
        "command with no format",
        lambda env: export(env, "--format", ","),
        "--format must list formats among",
    ),
    exits(
        "command with an unknown quantization",
        lambda env: export(env, "--format", "tflite", "--quantization", "int4"),
        "invalid choice: 'int4'",
    ),
    exits(
        "command with quantization but no tflite",
        lambda env: export(env, "--quantization", "dynamic"),
        "--quantization applies to the tflite format only",
    ),
    exits(
        "command with version 0",
        lambda env: export(env, "--version", "0"),
        "--version must be at least 1",
    ),
    exits(
        "command with a version that is no number",
        lambda env: export(env, "--version", "latest"),
        "invalid int value: 'latest'",
    ),
    exits(
        "command with a name that is a path",
        lambda env: export(env, "--name", "a/b"),
        "--name must be a model name",
    ),
    exits(
        "command onto an existing version",
        lambda env: cli.main(
            [
                "export",
                env.model_file,
                "--root",
                env.path("models"),
                "--name",
                "taken",
                "--version",
                "1",
            ]
        ),
        "already exists",
        "--overwrite",
    ),
    exits(
        "command into a root under a regular file",
        lambda env: cli.main(
            ["export", env.model_file, "--root", env.path("regular", "x")]
        ),
        "NotADirectoryError",
        "not a directory",
    ),
    exits(
        "command with an unknown option",
        lambda env: export(env, "--fast"),
        "unrecognized arguments: --fast",
    ),
    exits("command missing", lambda env: cli.main([]), "required"),
    exits(
        "command unknown",
        lambda env: cli.main(["serve"]),
        "invalid choice: 'serve'",
    ),
    exits(
        "command with no model",
        lambda env: cli.main(["export"]),
        "the following arguments are required: model",
    ),
]


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, env):
    run_case(case, env)
