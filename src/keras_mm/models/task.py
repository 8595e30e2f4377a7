"""`keras_mm.models.Task`: what every task shares."""

import datetime
import json
import os
import socket
import urllib.parse

import keras
import keras_hub
from keras_hub.src.utils.preset_utils import get_file

from keras_mm.api_export import keras_mm_export
from keras_mm.base.pipeline_model import PipelineModel
from keras_mm.layers.image_preprocessing import image_shapes
from keras_mm.optimizers import Adam
from keras_mm.utils.files import load_keras_file
from keras_mm.utils.files import replace_file_atomically
from keras_mm.utils.files import write_atomically
from keras_mm.version import __version__

CONFIG_FILE = "config.json"
METADATA_FILE = "metadata.json"
WEIGHTS_FILE = "model.weights.h5"
ASSETS_DIR = "assets"
# The hosts behind KerasHub's hub URIs, probed before a download so that an
# unreachable hub fails in seconds (KerasHub retries `hf://` for ~25 s).
_HUB_HOSTS = {"kaggle": "www.kaggle.com", "hf": "huggingface.co"}
_PROBE_TIMEOUT = 3.0


class ExportWarning(UserWarning):
    """A warning of an export, also when it ran in a child process."""


def spec(shape, dtype, name):
    """The spec of one served input: a `keras.KerasTensor`."""
    return keras.KerasTensor(tuple(shape), dtype=dtype, name=name)


def image_spec(key, shape, layer=None):
    """uint8 pixels `(None, height, width, channels)` at the size `layer`
    resizes its images to (its encoder's `image_shape`), or at `shape`'s."""
    sizes = image_shapes(layer) if layer is not None else []
    height, width, channels = sizes[0] if sizes else tuple(shape)[1:]
    return spec((None, height, width, channels), "uint8", key)


def top_one(x):
    """Argmax as `top_k(k=1)`, int32: TensorFlow's argmax lowers to
    `BitwiseAnd`, which TFLite lacks. Ties go to the lowest index, as with
    argmax."""
    return keras.ops.cast(keras.ops.top_k(x, k=1)[1][..., 0], "int32")


def audio_assets(preprocessor):
    """What `LiteRTModel` needs to pad waveforms for an audio input."""
    return {
        "type": "audio",
        "num_samples": int(preprocessor.num_samples),
        "sample_rate": int(preprocessor.sample_rate),
    }


def waveform_specs(key, preprocessor):
    """`KEY` float32 waveforms padded to the model's length, and their
    bool `KEY_padding_mask`, for TFLite."""
    shape = (None, preprocessor.num_samples)
    mask = f"{key}_padding_mask"
    return {key: spec(shape, "float32", key), mask: spec(shape, "bool", mask)}


def _auto(value):
    return isinstance(value, str) and value == "auto"


def serialize_learning_rate(learning_rate):
    """A number, or a `LearningRateSchedule` as its config."""
    schedule = keras.optimizers.schedules.LearningRateSchedule
    if isinstance(learning_rate, schedule):
        return keras.optimizers.schedules.serialize(learning_rate)
    return learning_rate


def deserialize_learning_rate(learning_rate):
    if isinstance(learning_rate, dict):
        return keras.optimizers.schedules.deserialize(learning_rate)
    return learning_rate


def check_learning_rate(learning_rate):
    """Returns `learning_rate` (a number > 0 or a schedule) or raises."""
    schedule = keras.optimizers.schedules.LearningRateSchedule
    if not isinstance(learning_rate, schedule) and (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, (int, float))
        or learning_rate <= 0
    ):
        raise ValueError(
            "`learning_rate` must be a number > 0 or a "
            "`keras.optimizers.schedules.LearningRateSchedule`. Received: "
            f"learning_rate={learning_rate!r}"
        )
    return learning_rate


def _asset_layers(task):
    """`{path: layer}` of the layers that keep files beside their config (a
    KerasHub tokenizer's vocabulary), found as Keras' saving finds them:
    through the attributes of the task and its layers. A path joins the
    names of the layers on the way, e.g. `"text_encoder/tokenizer"`."""
    found, seen = {}, set()

    def visit(value, path):
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, (list, tuple)):
            for item in value:
                visit(item, path)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item, path)
        elif isinstance(value, keras.layers.Layer):
            path = f"{path}/{value.name}" if path else value.name
            if callable(getattr(value, "save_assets", None)):
                found[path] = value
            for name, item in vars(value).items():
                if not name.startswith("_") or name in (
                    "_pipeline_preprocessor",
                    "_layers",
                ):
                    visit(item, path)

    visit(task, "")
    return found


def _probe(uri):
    """Raises a `ValueError` when the hub of `uri` cannot be reached."""
    scheme = uri.split("://", 1)[0].lower()
    host = _HUB_HOSTS.get(scheme)
    if scheme == "hf":
        endpoint = os.environ.get("HF_ENDPOINT")
        host = urllib.parse.urlparse(endpoint).hostname if endpoint else host
    if host is None:
        return
    try:
        socket.create_connection((host, 443), timeout=_PROBE_TIMEOUT).close()
    except OSError as error:
        raise ValueError(
            f"Cannot load the preset {uri!r}: its hub ({host}) cannot be "
            f"reached ({type(error).__name__}: {error}). Offline, save the "
            "task on a machine that has it (`task.save_to_preset(directory)`)"
            " and pass that local preset directory."
        ) from None


def _is_local_file(preset):
    """Whether `preset` is a local file (or names a missing `.keras` one),
    not a preset directory or a hub URI."""
    if not isinstance(preset, (str, os.PathLike)):
        return False
    preset = os.fspath(preset)
    if "://" in preset or os.path.isdir(preset):
        return False
    return os.path.isfile(preset) or preset.lower().endswith(".keras")


def _preset_file(preset, name):
    """The local path of file `name` of `preset` (downloaded from a hub
    through KerasHub when `preset` is a `kaggle://` or `hf://` URI)."""
    if not isinstance(preset, (str, os.PathLike)):
        raise ValueError(
            "`preset` must be a local preset directory or a hub URI "
            "('kaggle://OWNER/MODEL/keras/VARIANT', 'hf://OWNER/MODEL'). "
            f"Received: {preset!r}"
        )
    preset = os.fspath(preset)
    if "://" not in preset:
        if not os.path.isdir(preset):
            raise ValueError(
                f"No preset directory at {preset!r}. Pass a directory that "
                "`save_to_preset` wrote, or a hub URI "
                "('kaggle://OWNER/MODEL/keras/VARIANT', 'hf://OWNER/MODEL')."
            )
        path = os.path.join(preset, name)
        if not os.path.isfile(path):
            held = sorted(os.listdir(preset))
            raise ValueError(
                f"The preset {preset!r} has no {name}"
                + (
                    ", so it holds no keras_mm task"
                    if name == CONFIG_FILE
                    else ""
                )
                + f". It holds: {held or 'nothing'}. Pass a directory that "
                "`save_to_preset` wrote."
            )
        return path
    _probe(preset)
    try:
        return get_file(preset, name)
    except FileNotFoundError as error:
        raise ValueError(
            f"The preset {preset!r} has no {name} ({error}). Pass a preset "
            "that `save_to_preset` wrote."
        ) from None


@keras_mm_export
class Task(PipelineModel):
    """Base class of keras_mm's tasks: a model with its preprocessing, its
    training defaults and its presets.

    A task is a `keras_mm.models.PipelineModel`: `fit`, `evaluate` and
    `predict` take raw inputs, which its `preprocessor` turns into model
    inputs in `tf.data`. On top of that every task has:

    - its own `compile()` defaults: a bare `compile()` (or `"auto"` for any
      argument) gives the task's optimizer (`keras_mm.optimizers.Adam` at
      the task's `learning_rate`, with its per-encoder
      `learning_rate_multipliers`), loss and metrics;
    - presets: `save_to_preset(directory)` writes KerasHub's preset format
      (`config.json`, `metadata.json`, `model.weights.h5`, `assets/`),
      which `keras_hub.upload_preset` takes to Kaggle or the Hugging Face
      Hub, and `Task.from_preset(directory or URI)` loads it back as the
      class it was saved from.

    Subclasses (`MultimodalClassifier`, `Captioner`, `SpeechRecognizer`)
    implement `default_loss()` and `default_metrics()`, and call
    `super().get_config()`-free configs that include `learning_rate` and
    `learning_rate_multipliers` (see `task_config`).

    Keras' own `model.export` would serve the wrong thing for a task
    (teacher-forcing logits instead of captions): it raises and names
    `keras_mm.export.saved_model` and `keras_mm.export.tflite`.

    Examples:
    >>> model = keras_mm.build_classifier(
    ...     {"images": keras_mm.encoders.image("cnn_small",
    ...                                        image_shape=(16, 16, 3))},
    ...     num_classes=2, hidden_dim=8)
    >>> isinstance(model, keras_mm.models.Task)
    True
    >>> model.compile()  # The classifier's own optimizer and loss.
    >>> type(model.optimizer).__name__, type(model.loss).__name__
    ('Adam', 'SparseCategoricalCrossentropy')
    """

    def __init__(
        self,
        *args,
        learning_rate=1e-3,
        learning_rate_multipliers=None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.learning_rate = check_learning_rate(
            deserialize_learning_rate(learning_rate)
        )
        self.learning_rate_multipliers = (
            dict(learning_rate_multipliers)
            if learning_rate_multipliers
            else None
        )

    # === Training defaults ===
    def default_optimizer(self):
        """A new `keras_mm.optimizers.Adam` at the task's learning rate."""
        return Adam(
            self.learning_rate,
            learning_rate_multipliers=self.learning_rate_multipliers,
        )

    def default_loss(self):
        raise NotImplementedError

    def default_metrics(self):
        """`{"metrics": [...]}` or `{"weighted_metrics": [...]}`."""
        return {}

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        metrics="auto",
        weighted_metrics="auto",
        **kwargs,
    ):
        """Configures training; `"auto"` takes the task's own default.

        Args:
            optimizer: `"auto"` (`keras_mm.optimizers.Adam` at the task's
                `learning_rate`, with its `learning_rate_multipliers`) or
                an optimizer.
            loss: `"auto"` (the task's loss) or a loss.
            metrics: `"auto"` (the task's metrics) or a list.
            weighted_metrics: `"auto"` (the task's weighted metrics) or a
                list.
            **kwargs: passed to `keras.Model.compile`.
        """
        defaults = self.default_metrics()
        super().compile(
            optimizer=self.default_optimizer()
            if _auto(optimizer)
            else optimizer,
            loss=self.default_loss() if _auto(loss) else loss,
            metrics=defaults.get("metrics") if _auto(metrics) else metrics,
            weighted_metrics=defaults.get("weighted_metrics")
            if _auto(weighted_metrics)
            else weighted_metrics,
            **kwargs,
        )

    def task_config(self):
        """The config entries that every task adds to its own."""
        return {
            "learning_rate": serialize_learning_rate(self.learning_rate),
            "learning_rate_multipliers": self.learning_rate_multipliers,
        }

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Keras' `save`, written beside a local `.keras` file and moved
        onto it once complete: a process killed mid-save leaves the old
        file whole (Keras writes the target itself, and leaves a 0-byte
        file)."""
        local = isinstance(filepath, (str, os.PathLike)) and "://" not in (
            os.fspath(filepath)
        )
        if (
            not local
            or not os.fspath(filepath).endswith(".keras")
            or zipped is False
            or (os.path.exists(filepath) and not overwrite)
        ):
            return super().save(
                filepath, overwrite=overwrite, zipped=zipped, **kwargs
            )
        replace_file_atomically(
            filepath,
            lambda temporary: super(Task, self).save(
                temporary, overwrite=True, zipped=zipped, **kwargs
            ),
        )

    def export(self, filepath, format="tf_saved_model", **kwargs):
        """Refuses Keras' own export, which would serve model inputs and
        outputs (token ids, teacher-forcing logits), not the task."""
        raise ValueError(
            f"`{type(self).__name__}.export` would serve the model's own "
            "tensors (token ids in, logits out), not the task. Export with "
            f"`keras_mm.export.saved_model(model, {os.fspath(filepath)!r})` "
            "(raw inputs in; probabilities, captions or transcripts out) or "
            "`keras_mm.export.tflite(model, 'NAME.tflite')`. Received: "
            f"format={format!r}"
        )

    # === Serving contract (read by `keras_mm.export`) ===
    def serving_signatures(self, raw_inputs=True):
        """`{signature name: (function, input specs)}` of the served model.

        Each function takes a dict of tensors shaped like its specs (a
        dict of `keras.KerasTensor`s: raw inputs, such as uint8 pixels,
        strings and float32 waveforms, with `raw_inputs`) and returns a
        dict of named outputs, in one TensorFlow graph of core ops (the
        export calls it under the TensorFlow backend). `keras_mm.export`
        adds the `encoded_images` variants itself.
        """
        raise NotImplementedError

    def litert_signature(self):
        """`(assets, specs, function)` of the one TFLite signature: inputs
        TFLite takes (no strings: word ids, waveforms padded with their
        masks), the function from them to outputs, and the JSON-able
        `assets` (with `"kind"`, `"inputs"`) that
        `keras_mm.export.LiteRTModel` needs to prepare raw inputs and
        read outputs."""
        raise NotImplementedError

    def serving_request(self, inputs):
        """Raw inputs, as `predict` (or `generate`, `transcribe`) takes
        them, keyed by the served signature's input names."""
        if not isinstance(inputs, dict):
            raise ValueError(
                f"The inputs of a {type(self).__name__} must be a dict keyed "
                f"like its inputs. Received: {type(inputs).__name__}"
            )
        return dict(inputs)

    def reference_outputs(self, inputs):
        """What a served model must return for raw `inputs`, computed by
        this model: `{output name: array or list of str}`."""
        raise NotImplementedError

    # === Presets ===
    def save_to_preset(self, preset_dir, overwrite=False):
        """Saves the task as a KerasHub preset directory.

        The directory holds `config.json` (the task's config, as
        `keras.saving.serialize_keras_object` writes it), `metadata.json`
        (versions, parameter count, date), `model.weights.h5`, and under
        `assets/` the files of layers that keep them (a KerasHub
        tokenizer's vocabulary). `keras_hub.upload_preset(uri, preset_dir)`
        uploads it to Kaggle Models (`"kaggle://OWNER/MODEL/keras/VARIANT"`)
        or the Hugging Face Hub (`"hf://OWNER/MODEL"`), and
        `keras_mm.models.Task.from_preset` loads it back. The files are
        written beside the directory and moved into place at the end, so a
        failed save leaves nothing behind.

        Args:
            preset_dir: str. A new or empty directory.
            overwrite: bool. Replace a non-empty directory. Defaults to
                `False`.

        Returns:
            str, the absolute path of the directory.
        """

        def write(directory):
            os.makedirs(directory)
            config = keras.saving.serialize_keras_object(self)
            config.pop("compile_config", None)
            config.pop("build_config", None)
            with open(os.path.join(directory, CONFIG_FILE), "w") as f:
                json.dump(config, f, indent=2)
            metadata = {
                "keras_version": keras.version(),
                "keras_hub_version": keras_hub.__version__,
                "keras_mm_version": __version__,
                "task": type(self).__name__,
                "parameter_count": self.count_params(),
                "date_saved": datetime.datetime.now().strftime(
                    "%Y-%m-%d@%H:%M:%S"
                ),
            }
            with open(os.path.join(directory, METADATA_FILE), "w") as f:
                json.dump(metadata, f, indent=2)
            self.save_weights(os.path.join(directory, WEIGHTS_FILE))
            for name, layer in _asset_layers(self).items():
                assets = os.path.join(directory, ASSETS_DIR, name)
                os.makedirs(assets, exist_ok=True)
                layer.save_assets(assets)
                if not os.listdir(assets):  # Its vocabulary is in config.
                    os.removedirs(assets)

        path = os.path.abspath(os.fspath(preset_dir))
        if os.path.exists(path) and not os.path.isdir(path):
            raise ValueError(f"{path} exists and is not a directory.")
        if os.path.isdir(path) and os.listdir(path) and not overwrite:
            raise ValueError(
                f"The directory {path} is not empty ({len(os.listdir(path))} "
                "entries). Choose an empty or new directory, or pass "
                "`overwrite=True` to replace it."
            )
        # An empty directory is replaced too.
        return write_atomically(path, write, overwrite=True)

    @classmethod
    def from_preset(cls, preset):
        """Loads a task saved by `save_to_preset` (or by `save` as a
        `.keras` file), as the class it was saved from.

        Args:
            preset: str. A local preset directory, a hub URI that KerasHub
                resolves: `"kaggle://OWNER/MODEL/keras/VARIANT"` or
                `"hf://OWNER/MODEL"` (downloaded once, then cached), or a
                local `.keras` file.

        Returns:
            The task, compiled with its own defaults (a `.keras` file's
            own compile settings, if it was saved compiled).

        Raises:
            ValueError: when the preset has no `config.json`, holds no
                keras_mm task (or one of another class than `cls`), or its
                hub cannot be reached; when a `.keras` file is missing,
                empty, or corrupt.
        """
        if _is_local_file(preset):
            task = load_keras_file(preset)
            if not isinstance(task, cls):
                raise ValueError(
                    f"The model file {os.fspath(preset)!r} holds a "
                    f"{type(task).__name__}, not a {cls.__name__}."
                )
            if not task.compiled:
                task.compile()
            return task
        with open(_preset_file(preset, CONFIG_FILE)) as f:
            config = json.load(f)
        registered = config.get("registered_name") or ""
        if not (
            isinstance(config, dict) and registered.startswith("keras_mm>")
        ):
            held = (
                config.get("class_name") if isinstance(config, dict) else None
            )
            raise ValueError(
                f"The preset {os.fspath(preset)!r} holds no keras_mm task: "
                f"its config.json describes {held!r}"
                + (f" ({config.get('module')})" if held else "")
                + ". Load it with KerasHub (`keras_hub.models.Backbone"
                ".from_preset`) or pass a preset written by "
                "`save_to_preset`."
            )
        task = keras.saving.deserialize_keras_object(config)
        if not isinstance(task, cls):
            raise ValueError(
                f"The preset {os.fspath(preset)!r} holds a "
                f"{type(task).__name__}, not a {cls.__name__}. Load it with "
                f"`keras_mm.models.{type(task).__name__}.from_preset` or "
                "`keras_mm.models.Task.from_preset`."
            )
        task.load_weights(_preset_file(preset, WEIGHTS_FILE))
        for name, layer in _asset_layers(task).items():
            directory = f"{ASSETS_DIR}/{name}"
            files = getattr(layer, "file_assets", None) or []
            local = os.path.join(os.fspath(preset), directory)
            if "://" not in os.fspath(preset) and not os.path.isdir(local):
                continue  # Saved nothing: its vocabulary is in its config.
            paths = [_preset_file(preset, f"{directory}/{f}") for f in files]
            if paths:
                layer.load_assets(os.path.dirname(paths[-1]))
            elif "://" not in os.fspath(preset):
                layer.load_assets(local)
        task.compile()
        return task
