import json
import os
import socket
import time

import keras
import keras_hub
import numpy as np
import pytest

import keras_mm
from tests.encoders.text_test import tiny_bert
from tests.test_case import TestCase

CAPTIONS = ["a red circle", "a blue square", "two red squares"]


def tiny_captioner():
    return keras_mm.build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        keras_mm.encoders.text_vocabulary(CAPTIONS),
        sequence_length=6,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
    )


def tiny_recognizer(**kwargs):
    return keras_mm.build_speech_recognizer(
        list("ab "),
        sample_rate=8000,
        max_duration=0.5,
        num_mel_bins=16,
        hidden_dim=8,
        num_layers=1,
        filters=4,
        **kwargs,
    )


def tiny_classifier(**kwargs):
    return keras_mm.build_classifier(
        {
            "images": keras_mm.encoders.image(
                "cnn_small", image_shape=(16, 16, 3)
            )
        },
        num_classes=3,
        hidden_dim=8,
        **kwargs,
    )


class TaskExampleTest(TestCase):
    @pytest.mark.slow
    def test_issue_example_as_written(self):
        # The example of the task contract, at a smaller size.
        data = keras_mm.datasets.scenes(num_samples=120, image_size=32, seed=0)
        vocab = keras_mm.encoders.text_vocabulary(
            data["train"]["captions"], vocabulary_size=200
        )
        cap = keras_mm.build_captioner(
            keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
            vocab,
            sequence_length=20,
        )
        cap.fit(
            {
                "images": data["train"]["images"],
                "text": data["train"]["captions"],
            },
            epochs=1,
            verbose=0,
        )
        directory = os.path.join(self.get_temp_dir(), "scenes_captioner")
        cap.save_to_preset(directory)
        same = keras_mm.models.Task.from_preset(directory)
        assert isinstance(same, keras_mm.models.Captioner)
        assert same.generate(data["test"]["images"][:4]) == cap.generate(
            data["test"]["images"][:4]
        )

        clf = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                )
            },
            num_classes=3,
        )
        assert isinstance(clf, keras_mm.models.MultimodalClassifier)
        clf.compile()  # keeps the classifier's own optimizer and loss
        self.assertIsInstance(clf.optimizer, keras_mm.optimizers.Adam)
        self.assertIsInstance(
            clf.loss, keras.losses.SparseCategoricalCrossentropy
        )


class TaskCompileTest(TestCase):
    def test_bare_compile_keeps_learning_rates_and_loss(self):
        model = tiny_classifier(
            learning_rate=1e-2, learning_rates={"images": 0}
        )
        model.compile()
        self.assertIsInstance(model.optimizer, keras_mm.optimizers.Adam)
        # The classifier warms up to its learning rate over each fit.
        self.assertEqual(model.learning_rate.peak, 1e-2)
        self.assertIs(model.optimizer._learning_rate, model.learning_rate)
        self.assertEqual(
            model.optimizer.learning_rate_multipliers, {"image_encoder": 0.0}
        )
        self.assertIsInstance(
            model.loss, keras.losses.SparseCategoricalCrossentropy
        )
        # The per-encoder rate still holds: the frozen encoder stays put.
        before = [v.numpy() for v in model.get_layer("image_encoder").weights]
        model.fit(
            {"images": np.ones((4, 16, 16, 3), "uint8")},
            np.array([0, 1, 2, 0]),
            epochs=1,
            verbose=0,
        )
        after = model.get_layer("image_encoder").weights
        for old, new in zip(before, after):
            if new.trainable:
                self.assertAllClose(old, new)

    def test_auto_per_argument(self):
        model = tiny_classifier(activation="sigmoid")
        model.compile(optimizer="sgd")
        self.assertIsInstance(model.optimizer, keras.optimizers.SGD)
        self.assertEqual(model.loss, "binary_crossentropy")
        regressor = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(16, 16, 3)
                )
            },
            num_classes=None,
            activation=None,
            hidden_dim=8,
        )
        regressor.compile()
        self.assertEqual(regressor.loss, "mse")

    def test_captioner_and_recognizer_defaults(self):
        captioner = tiny_captioner()
        captioner.compile()
        self.assertIsInstance(captioner.optimizer, keras_mm.optimizers.Adam)
        self.assertIsInstance(
            captioner.loss, keras.losses.SparseCategoricalCrossentropy
        )
        recognizer = tiny_recognizer(learning_rate=5e-3)
        recognizer.compile()
        self.assertIsInstance(recognizer.loss, keras.losses.CTC)
        # The recognizer warms up to its learning rate over each fit.
        self.assertEqual(recognizer.learning_rate.peak, 5e-3)
        self.assertIs(
            recognizer.optimizer._learning_rate, recognizer.learning_rate
        )

    def test_keras_export_names_keras_mm_export(self):
        model = tiny_classifier()
        with pytest.raises(ValueError, match="keras_mm.export.saved_model"):
            model.export(os.path.join(self.get_temp_dir(), "served"))
        with pytest.raises(ValueError, match="keras_mm.export.tflite"):
            tiny_captioner().export("x.tflite", format="litert")


class PresetTest(TestCase):
    def test_classifier_round_trip_and_hub_validation(self):
        model = tiny_classifier(learning_rates={"images": 1e-4})
        images = np.random.randint(0, 256, (2, 16, 16, 3)).astype("uint8")
        restored = self.run_preset_test(model, {"images": images})
        self.assertEqual(
            restored.learning_rate_multipliers, {"image_encoder": 0.1}
        )
        directory = os.path.join(self.get_temp_dir(), "preset")
        model.save_to_preset(directory)
        self.assertEqual(
            sorted(os.listdir(directory)),
            ["config.json", "metadata.json", "model.weights.h5"],
        )
        with open(os.path.join(directory, "metadata.json")) as f:
            metadata = json.load(f)
        self.assertEqual(metadata["task"], "MultimodalClassifier")
        self.assertEqual(metadata["parameter_count"], model.count_params())
        # KerasHub's upload validates the directory, then calls the hub.
        uploads = []
        with pytest.MonkeyPatch.context() as patch:
            import kagglehub

            patch.setattr(
                kagglehub,
                "model_upload",
                lambda handle, path, *a, **k: uploads.append((handle, path)),
            )
            keras_hub.upload_preset(
                "kaggle://someone/scenes/keras/classifier", directory
            )
        self.assertEqual(
            uploads, [("someone/scenes/keras/classifier", directory)]
        )

    @pytest.mark.slow
    def test_captioner_generates_the_same_after_loading(self):
        model = tiny_captioner()
        images = np.random.randint(0, 256, (3, 32, 32, 3)).astype("uint8")
        model.fit({"images": images, "text": CAPTIONS}, epochs=2, verbose=0)
        directory = os.path.join(self.get_temp_dir(), "preset")
        model.save_to_preset(directory)
        restored = keras_mm.models.Captioner.from_preset(directory)
        self.assertEqual(
            restored.generate(images, sampler="beam", num_beams=2),
            model.generate(images, sampler="beam", num_beams=2),
        )
        self.assertEqual(restored.learning_rate, model.learning_rate)

    def test_recognizer_round_trip(self):
        model = tiny_recognizer()
        audio = np.ones((1, 3000), "float32") * 0.1
        self.run_preset_test(model, audio, other_backend=False)

    def test_tokenizer_assets_travel_with_the_preset(self):
        backbone, tokenizer = tiny_bert()
        bert = self.get_temp_dir()
        backbone.save_to_preset(bert)
        tokenizer.save_to_preset(bert)
        model = keras_mm.build_classifier(
            {"text": keras_mm.encoders.text(bert, sequence_length=8)},
            num_classes=2,
            hidden_dim=8,
        )
        directory = os.path.join(self.get_temp_dir(), "preset")
        model.save_to_preset(directory)
        vocabularies = [
            os.path.join(root, name)
            for root, _, names in os.walk(os.path.join(directory, "assets"))
            for name in names
        ]
        self.assertEqual(
            [os.path.basename(p) for p in vocabularies], ["vocabulary.txt"]
        )
        restored = keras_mm.models.Task.from_preset(directory)
        texts = ["a red circle", "circle ."]
        self.assertAllClose(
            model.predict({"text": texts}, verbose=0),
            restored.predict({"text": texts}, verbose=0),
        )

    def test_wrong_class_and_foreign_presets(self):
        model = tiny_classifier()
        directory = os.path.join(self.get_temp_dir(), "preset")
        model.save_to_preset(directory)
        with pytest.raises(ValueError, match="holds a MultimodalClassifier"):
            keras_mm.models.Captioner.from_preset(directory)
        backbone, _ = tiny_bert()
        bert = self.get_temp_dir()
        backbone.save_to_preset(bert)
        with pytest.raises(
            ValueError, match="holds no keras_mm task.*BertBackbone"
        ):
            keras_mm.models.Task.from_preset(bert)

    def test_keras_files_load_and_corrupt_ones_are_named(self):
        model = tiny_classifier()
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        restored = keras_mm.models.Task.from_preset(path)
        self.assertIsInstance(restored, type(model))
        self.assertTrue(restored.compiled)
        with pytest.raises(ValueError, match="holds a MultimodalClassifier"):
            keras_mm.models.Captioner.from_preset(path)
        with open(path, "r+b") as f:
            f.truncate(100)
        with pytest.raises(ValueError, match="model.keras' is corrupt.*100 b"):
            keras_mm.models.Task.from_preset(path)
        with pytest.raises(ValueError, match="No such model file"):
            keras_mm.models.Task.from_preset(path + ".gone.keras")

    def test_bad_directories(self):
        empty = self.get_temp_dir()
        with open(os.path.join(empty, "notes.txt"), "w") as f:
            f.write("x")
        with pytest.raises(ValueError, match="no config.json.*notes.txt"):
            keras_mm.models.Task.from_preset(empty)
        with pytest.raises(ValueError, match="No preset directory"):
            keras_mm.models.Task.from_preset(os.path.join(empty, "missing"))
        with pytest.raises(ValueError, match="not empty.*overwrite=True"):
            tiny_classifier().save_to_preset(empty)
        # Nothing was lost; `overwrite=True` replaces it.
        self.assertEqual(os.listdir(empty), ["notes.txt"])
        tiny_classifier().save_to_preset(empty, overwrite=True)
        self.assertIn("config.json", os.listdir(empty))
        self.assertNotIn("notes.txt", os.listdir(empty))
        parent = os.path.dirname(empty)
        self.assertFalse(
            [
                n
                for n in os.listdir(parent)
                if n.startswith((".staging-", ".replaced-"))
            ]
        )

    def test_unreachable_hub_fails_fast(self):
        def offline(*args, **kwargs):
            raise OSError("[Errno -2] Name or service not known")

        for uri in ("hf://someone/scenes", "kaggle://someone/scenes/keras/v1"):
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(socket, "create_connection", offline)
                start = time.time()
                with pytest.raises(ValueError) as error:
                    keras_mm.models.Task.from_preset(uri)
            self.assertLess(time.time() - start, 5)
            message = str(error.value)
            for part in (
                uri,
                "Name or service not known",
                "local preset directory",
            ):
                self.assertIn(part, message)
