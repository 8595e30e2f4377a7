"""Shared test helpers, modelled on KerasHub's and Keras' `TestCase`."""

import gc
import json
import os
import sys
import tempfile

import keras
import numpy as np
from absl.testing import parameterized

from keras_mm.export import child_process

_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Tests since the last collection that scanned the whole heap.
_since_full_collection = 0


def collect_garbage(full_every=50):
    """Frees the garbage of the tests before, in time proportional to what
    they left rather than to the whole heap.

    Each collection is followed by `gc.freeze()`, so the next one scans
    only the objects made since: a full collection over everything that
    TensorFlow, JAX and earlier tests keep (caches, compiled functions)
    took over a second, for every test. Cyclic garbage among frozen
    objects (a cached model dropped later) waits for the full collection
    that every `full_every`-th call makes.
    """
    global _since_full_collection
    _since_full_collection += 1
    if _since_full_collection >= full_every:
        _since_full_collection = 0
        gc.unfreeze()
    gc.collect()
    gc.freeze()


def reset_keras():
    """What each test starts from: float32, a new Keras session (names,
    global state), the last test's garbage freed, seed 0."""
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)
    collect_garbage()
    keras.utils.set_random_seed(0)


def _as_dict(x):
    return dict(x) if isinstance(x, dict) else {"__single__": np.asarray(x)}


def _to_numpy(x):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, x)


class TestCase(parameterized.TestCase):
    """Base class of every keras_mm test."""

    def setUp(self):
        super().setUp()
        reset_keras()

    def get_temp_dir(self):
        directory = tempfile.mkdtemp()
        self.addCleanup(lambda: __import__("shutil").rmtree(directory, True))
        return directory

    def assertAllClose(self, a, b, atol=1e-6, rtol=1e-6, msg=None):
        a, b = _to_numpy(a), _to_numpy(b)
        if isinstance(a, dict):
            self.assertEqual(sorted(a), sorted(b), msg=msg)
            for key in a:
                self.assertAllClose(a[key], b[key], atol, rtol, msg=key)
            return
        np.testing.assert_allclose(
            np.asarray(a, "float64"),
            np.asarray(b, "float64"),
            atol=atol,
            rtol=rtol,
            err_msg=msg or "",
        )

    def run_layer_test(
        self,
        cls,
        init_kwargs,
        input_data,
        expected_output_shape,
        expected_output_dtype="float32",
        call_kwargs=None,
        run_training_check=True,
        run_precision_check=True,
    ):
        """Checks config round trip, symbolic and eager calls, output shape
        and dtype, one `fit` step, and a `mixed_bfloat16` policy check."""
        call_kwargs = call_kwargs or {}

        # Config round trip, also through JSON.
        layer = cls(**init_kwargs)
        config = layer.get_config()
        revived = cls.from_config(config)
        self.assertEqual(config, revived.get_config())
        serialized = json.loads(
            json.dumps(keras.saving.serialize_keras_object(layer))
        )
        revived = keras.saving.deserialize_keras_object(serialized)
        self.assertIsInstance(revived, cls)
        self.assertEqual(set(dir(layer)) - set(dir(revived)), set())

        def check_shapes(outputs):
            shapes = keras.tree.map_structure(lambda t: tuple(t.shape), outputs)
            self.assertEqual(
                {k: tuple(v) for k, v in expected_output_shape.items()}
                if isinstance(expected_output_shape, dict)
                else tuple(expected_output_shape),
                shapes,
            )

        def check_dtypes(outputs, dtype):
            for t in keras.tree.flatten(outputs):
                self.assertEqual(
                    keras.backend.standardize_dtype(t.dtype), dtype
                )

        # Symbolic call.
        symbolic_inputs = keras.tree.map_structure(
            lambda x: keras.KerasTensor(
                np.shape(x),
                keras.backend.standardize_dtype(np.asarray(x).dtype),
            ),
            input_data,
        )
        layer = cls(**init_kwargs)
        check_shapes(layer(symbolic_inputs, **call_kwargs))

        # Eager call.
        layer = cls(**init_kwargs)
        outputs = layer(input_data, **call_kwargs)
        check_shapes(outputs)
        check_dtypes(outputs, expected_output_dtype)

        if run_training_check:
            inputs = keras.tree.map_structure(
                lambda x: keras.Input(
                    batch_shape=np.shape(x),
                    dtype=keras.backend.standardize_dtype(np.asarray(x).dtype),
                ),
                input_data,
            )
            layer = cls(**init_kwargs)
            flat = keras.tree.flatten(layer(inputs, **call_kwargs))
            model = keras.Model(inputs, flat)
            if not model.trainable_weights:
                run_training_check = False
        if run_training_check:
            targets = [
                np.zeros(t.shape, "float32")
                for t in keras.tree.flatten(outputs)
            ]
            model.compile(optimizer="sgd", loss=["mse"] * len(flat))
            history = model.fit(
                input_data, targets, batch_size=None, epochs=1, verbose=0
            )
            self.assertTrue(np.isfinite(history.history["loss"][0]))

        if run_precision_check:
            layer = cls(**init_kwargs, dtype="mixed_bfloat16")
            outputs = layer(input_data, **call_kwargs)
            for sublayer in layer._flatten_layers():
                self.assertEqual(
                    sublayer.dtype_policy.name,
                    "mixed_bfloat16",
                    msg=f"sublayer {sublayer.name} ignores the dtype policy",
                )
            if expected_output_dtype == "float32":
                check_dtypes(outputs, "bfloat16")
        return layer

    def run_preprocessing_layer_test(self, cls, init_kwargs, input_data):
        """KerasHub's preprocessing-layer test: config round trip (also
        through JSON), the same outputs eagerly and mapped over a batched
        `tf.data.Dataset` (as `fit` runs it, under any backend), and none
        of the layer's own weights. Returns the eager outputs."""
        import tensorflow as tf

        layer = cls(**init_kwargs)
        config = layer.get_config()
        self.assertEqual(config, cls.from_config(config).get_config())
        revived = keras.saving.deserialize_keras_object(
            json.loads(json.dumps(keras.saving.serialize_keras_object(layer)))
        )
        self.assertIsInstance(revived, cls)
        eager = layer(input_data)
        x, y, w = keras.utils.unpack_x_y_sample_weight(
            input_data if isinstance(input_data, tuple) else (input_data,)
        )
        from keras_mm.utils.tf_utils import to_tf

        data = tf.data.Dataset.from_tensor_slices(
            to_tf(keras.utils.pack_x_y_sample_weight(x, y, w))
        ).ragged_batch(len(keras.tree.flatten(x)[0]))
        mapped = next(iter(data.map(lambda *batch: layer(*batch))))
        for a, b in zip(keras.tree.flatten(eager), keras.tree.flatten(mapped)):
            b = b.to_list() if hasattr(b, "to_list") else b.numpy()
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        self.assertEqual(layer.weights, [])
        return eager

    def run_task_test(self, task, raw_inputs, labels=None):
        """KerasHub's task test: the preprocessor's outputs have the
        structure of the model's inputs; `predict` on raw inputs (the
        preprocessing attached, in `tf.data`) equals the model called on
        the preprocessed inputs (detached); `fit` runs on raw inputs."""
        outputs = task.preprocessor(raw_inputs, labels)
        x, _, _ = keras.utils.unpack_x_y_sample_weight(outputs)
        self.assertEqual(
            keras.tree.map_structure(lambda _: None, task.input),
            keras.tree.map_structure(lambda _: None, x),
        )
        self.assertAllClose(
            task.predict(raw_inputs, verbose=0),
            task(x, training=False),
            atol=1e-4,
            rtol=1e-5,
        )
        fit_args = (raw_inputs,) if labels is None else (raw_inputs, labels)
        history = task.fit(*fit_args, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))

    def run_offline_preset_test(self, build, preset, builtins):
        """`build(preset)` with the download failing as it does offline must
        raise a `ValueError` naming the preset, the cause and the offline
        alternatives (a local directory, the built-in names)."""
        import keras_hub
        import pytest

        def offline(*args, **kwargs):
            raise ConnectionError("Failed to resolve 'www.kaggle.com'")

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(keras_hub.models.Backbone, "from_preset", offline)
            with pytest.raises(ValueError) as error:
                build(preset)
        message = str(error.value)
        for part in (
            f"'{preset}'",
            "ConnectionError",
            "local preset directory",
        ):
            self.assertIn(part, message)
        for name in builtins:
            self.assertIn(name, message)

    def run_model_saving_test(self, model, input_data, atol=1e-6):
        """`.keras` save and load in safe mode: same class, same outputs."""
        expected = _to_numpy(model(input_data))
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
        self.assertIsInstance(restored, model.__class__)
        self.assertAllClose(expected, restored(input_data), atol=atol)
        return restored

    def run_preset_test(self, task, raw_inputs, other_backend=True, atol=1e-5):
        """`save_to_preset` then `Task.from_preset`: the same class and the
        same `predict` outputs on raw inputs, here and (with
        `other_backend`) in a process of the other backend."""
        import keras_mm

        directory = os.path.join(self.get_temp_dir(), "preset")
        task.save_to_preset(directory)
        restored = keras_mm.models.Task.from_preset(directory)
        self.assertIsInstance(restored, task.__class__)
        self.assertAllClose(
            task.predict(raw_inputs, verbose=0),
            restored.predict(raw_inputs, verbose=0),
            atol=1e-6,
        )
        if other_backend:
            self.run_cross_backend_test(
                task, raw_inputs, atol=atol, mode="preset", preset=directory
            )
        return restored

    def run_cross_backend_test(
        self,
        model,
        input_data,
        atol=1e-5,
        mode="call",
        other_backend=None,
        preset=None,
    ):
        """Saves `model` under this backend, loads it under the other one in
        a worker process (`tests/cross_backend_load.py`), and compares
        outputs.

        Args:
            mode: `"call"` runs `model(input_data)`; `"predict"` runs
                `model.predict(input_data)` on raw inputs (strings);
                `"preset"` loads the preset directory `preset` with
                `keras_mm.models.Task.from_preset` and predicts.
        """
        backend = keras.backend.backend()
        other_backend = other_backend or (
            "tensorflow" if backend == "jax" else "jax"
        )
        directory = self.get_temp_dir()
        model_path = os.path.join(directory, "model.keras")
        inputs_path = os.path.join(directory, "inputs.npz")
        outputs_path = os.path.join(directory, "outputs.npz")
        if mode in ("predict", "preset"):
            expected = model.predict(input_data, verbose=0)
        else:
            expected = _to_numpy(model(input_data))
        if preset is not None:
            model_path = preset
        else:
            model.save(model_path)
        np.savez(inputs_path, **_as_dict(input_data))
        # One worker per test process and backend loads every model.
        env = dict(os.environ, KERAS_BACKEND=other_backend)
        env["PYTHONPATH"] = os.pathsep.join(
            [_REPOSITORY] + [p for p in [env.get("PYTHONPATH")] if p]
        )
        child_process.run_in_worker(
            [sys.executable, "-m", "tests.cross_backend_load"],
            [model_path, inputs_path, outputs_path, mode],
            f"Loading under {other_backend}",
            env=env,
        )
        with np.load(outputs_path) as data:
            actual = {key: data[key] for key in data.files}
        self.assertEqual(actual.pop("__class__"), model.__class__.__name__)
        self.assertAllClose(_as_dict(expected), actual, atol=atol, rtol=1e-4)
