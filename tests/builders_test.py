import keras
import numpy as np
import pytest

import keras_mm
from keras_mm.base.pipeline_model import PipelineModel
from tests.test_case import TestCase

TEXTS = ["a red circle", "a blue square", "two green circles", ""] * 2


def tiny_encoders():
    vocab = keras_mm.encoders.text_vocabulary(TEXTS, vocabulary_size=20)
    return {
        "images": keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        "text": keras_mm.encoders.text(
            "transformer_small",
            vocabulary=vocab,
            sequence_length=5,
            hidden_dim=8,
            num_layers=1,
            num_heads=2,
        ),
    }


def raw_inputs(n=8):
    images = np.random.randint(0, 256, (n, 32, 32, 3)).astype("uint8")
    return {"images": images, "text": TEXTS[:n]}


class BuildClassifierTest(TestCase):
    def test_multiclass_fit_predict_evaluate(self):
        model = keras_mm.build_classifier(
            tiny_encoders(), num_classes=3, hidden_dim=8
        )
        self.assertIsInstance(model, PipelineModel)
        x, y = raw_inputs(), np.array([0, 1, 2, 0, 1, 2, 0, 1])
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        self.assertEqual(len(history.history["loss"]), 2)
        probabilities = model.predict(x, verbose=0)
        self.assertEqual(probabilities.shape, (8, 3))
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
        scores = model.evaluate(x, y, verbose=0, return_dict=True)
        self.assertIn("sparse_categorical_accuracy", scores)

    def test_multilabel_and_regression_heads(self):
        x = raw_inputs()
        multilabel = keras_mm.build_classifier(
            tiny_encoders(), num_classes=4, activation="sigmoid", hidden_dim=8
        )
        labels = np.random.randint(0, 2, (8, 4)).astype("float32")
        multilabel.fit(x, labels, batch_size=4, verbose=0)
        self.assertEqual(multilabel.predict(x, verbose=0).shape, (8, 4))
        regressor = keras_mm.build_classifier(
            tiny_encoders(),
            num_classes=None,
            activation=None,
            hidden_dim=8,
            hidden_activation="gelu",
        )
        hidden = regressor.get_layer("head").hidden
        self.assertEqual(hidden.activation, keras.activations.gelu)
        with pytest.raises(ValueError, match="hidden_activation='tanhh'"):
            keras_mm.build_classifier(
                tiny_encoders(), num_classes=2, hidden_activation="tanhh"
            )
        history = regressor.fit(x, np.linspace(0, 1, 8), verbose=0)
        self.assertIn("mae", history.history)
        self.assertEqual(regressor.predict(x, verbose=0).shape, (8, 1))

    def test_fit_on_a_batched_dataset_of_raw_inputs(self):
        import tensorflow as tf

        model = keras_mm.build_classifier(
            tiny_encoders(), num_classes=2, hidden_dim=8
        )
        x = raw_inputs()
        dataset = tf.data.Dataset.from_tensor_slices(
            (x, np.array([0, 1] * 4))
        ).batch(4)
        history = model.fit(dataset, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        predictions = model.predict(dataset.map(lambda x, y: x), verbose=0)
        self.assertAllClose(predictions, model.predict(x, verbose=0))

    def test_saving(self):
        model = keras_mm.build_classifier(
            tiny_encoders(), num_classes=2, hidden_dim=8
        )
        path = self.get_temp_dir() + "/classifier.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        x = raw_inputs()
        self.assertAllClose(
            model.predict(x, verbose=0), restored.predict(x, verbose=0)
        )

    def test_bad_inputs_name_the_keys(self):
        model = keras_mm.build_classifier(
            tiny_encoders(), num_classes=2, hidden_dim=8
        )
        x = raw_inputs()
        with pytest.raises(ValueError, match=r"unknown: \['audio'\]"):
            model.predict(dict(x, audio=np.zeros((8, 10))), verbose=0)
        with pytest.raises(ValueError, match=r"missing: \['images'\]"):
            model.predict({"text": x["text"]}, verbose=0)
        with pytest.raises(ValueError, match=r"\[0, 2\).*row 1: 2, row 3: -1"):
            model.fit(x, np.array([0, 2, 1, -1, 0, 1, 0, 1]), verbose=0)
        with pytest.raises(ValueError, match="must be a non-empty dict"):
            keras_mm.build_classifier([], num_classes=2)
        with pytest.raises(ValueError, match="must be a keras_mm.encoders"):
            keras_mm.build_classifier({"images": "cnn_small"}, num_classes=2)
        with pytest.raises(ValueError, match="num_classes=-1"):
            keras_mm.build_classifier(tiny_encoders(), num_classes=-1)


class ScenesExampleTest(TestCase):
    @pytest.mark.slow
    def test_fusion_example_runs_as_written(self):
        # The example of the fusion issue, at 200 scenes of 32 px.
        data = keras_mm.datasets.scenes(num_samples=200, image_size=32, seed=0)
        vocab = keras_mm.encoders.text_vocabulary(
            data["train"]["statements"], vocabulary_size=300
        )
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                ),
                "text": keras_mm.encoders.text(
                    "transformer_small", vocabulary=vocab, sequence_length=16
                ),
            },
            num_classes=3,
            fusion="cross_attention",
        )
        model.fit(
            {
                "images": data["train"]["images"],
                "text": data["train"]["statements"],
            },
            data["train"]["labels"],
            epochs=1,
            batch_size=64,
            verbose=0,
        )
        probs = model.predict(
            {
                "images": data["test"]["images"],
                "text": data["test"]["statements"],
            },
            verbose=0,
        )
        self.assertEqual(probs.shape, (len(data["test"]["labels"]), 3))
        path = self.get_temp_dir() + "/m.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertAllClose(
            restored.predict(
                {
                    "images": data["test"]["images"],
                    "text": data["test"]["statements"],
                },
                verbose=0,
            ),
            probs,
            atol=1e-5,
        )


class MissingModalitiesTest(TestCase):
    def test_predict_without_a_modality(self):
        model = keras_mm.build_classifier(
            tiny_encoders(),
            num_classes=2,
            hidden_dim=8,
            fusion="cross_attention",
            modality_dropout=0.3,
        )
        x, y = raw_inputs(), np.array([0, 1] * 4)
        history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        full = model.predict(x, verbose=0)
        without_images = model.predict({"text": x["text"]}, verbose=0)
        without_text = model.predict({"images": x["images"]}, verbose=0)
        self.assertFalse(np.allclose(full, without_images))
        # A missing row equals the row of a batch that lacks the key.
        rows = [None if i % 2 else x["images"][i] for i in range(8)]
        mixed = model.predict({"images": rows, "text": x["text"]}, verbose=0)
        self.assertAllClose(mixed[1::2], without_images[1::2], atol=1e-5)
        self.assertAllClose(mixed[::2], full[::2], atol=1e-5)
        # None and empty (or blank) text are missing text.
        texts = [None, "  "] + list(x["text"][2:])
        mixed = model.predict({"images": x["images"], "text": texts}, verbose=0)
        self.assertAllClose(mixed[:2], without_text[:2], atol=1e-5)
        # The learned embedding and the missing keys survive saving.
        path = self.get_temp_dir() + "/classifier.keras"
        model.save(path)
        restored = keras.saving.load_model(path)
        self.assertAllClose(
            restored.predict({"text": x["text"]}, verbose=0),
            without_images,
            atol=1e-5,
        )

    def test_only_the_keys_allowed_may_be_missing(self):
        model = keras_mm.build_classifier(
            tiny_encoders(), num_classes=2, hidden_dim=8, allow_missing=["text"]
        )
        x = raw_inputs()
        self.assertEqual(
            model.predict({"images": x["images"]}, verbose=0).shape, (8, 2)
        )
        with pytest.raises(ValueError, match=r"missing: \['images'\]"):
            model.predict({"text": x["text"]}, verbose=0)
        rows = [None] + list(x["images"][1:])
        with pytest.raises(ValueError, match="1 missing rows.*rows 0"):
            model.predict({"images": rows, "text": x["text"]}, verbose=0)
        with pytest.raises(ValueError, match="allow_missing"):
            keras_mm.build_classifier(
                tiny_encoders(), num_classes=2, allow_missing=["audio"]
            )
        with pytest.raises(ValueError, match="modality_dropout"):
            keras_mm.build_classifier(
                tiny_encoders(), num_classes=2, modality_dropout=1.5
            )


class DataFrameTest(TestCase):
    def write_images(self, n=8):
        directory = self.get_temp_dir()
        paths = []
        for i in range(n):
            # Sizes differ: the model resizes them to its image shape.
            image = np.random.randint(0, 256, (30 + i, 40, 3)).astype("uint8")
            paths.append(f"{directory}/{i}.png")
            keras.utils.save_img(paths[-1], image)
        return paths

    def test_fit_predict_evaluate_on_a_frame_of_paths(self):
        import pandas as pd

        frame = pd.DataFrame(
            {
                "images": self.write_images(),
                "text": TEXTS,
                "label": [0, 1] * 4,
                "notes": ["ignored"] * 8,
            }
        )
        model = keras_mm.build_classifier(
            tiny_encoders(), num_classes=2, hidden_dim=8
        )
        history = model.fit(frame, "label", batch_size=4, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        self.assertEqual(model.predict(frame, verbose=0).shape, (8, 2))
        scores = model.evaluate(frame, "label", verbose=0, return_dict=True)
        self.assertIn("sparse_categorical_accuracy", scores)
        images = np.stack(
            [
                keras_mm.data.read_image(p, image_size=(32, 32))
                for p in frame["images"]
            ]
        )
        self.assertAllClose(
            model.predict(frame, verbose=0),
            model.predict({"images": images, "text": TEXTS}, verbose=0),
            atol=1e-5,
        )

    def test_bad_and_missing_files(self):
        import pandas as pd

        paths = self.write_images()
        with open(paths[3], "w") as f:
            f.write("not an image")
        frame = pd.DataFrame({"images": paths, "text": TEXTS})
        model = keras_mm.build_classifier(
            tiny_encoders(), num_classes=2, hidden_dim=8
        )
        with pytest.raises(
            ValueError, match=r"(?s)row 3 .*3.png.*stream_frame"
        ):
            model.predict(frame, verbose=0)
        with pytest.raises(ValueError, match="`y` must be a column"):
            model.fit(frame, "label", verbose=0)
        frame.loc[3, "images"] = ""
        with pytest.raises(ValueError, match="cannot take a missing 'images'"):
            model.predict(frame, verbose=0)
        tolerant = keras_mm.build_classifier(
            tiny_encoders(), num_classes=2, hidden_dim=8, allow_missing=True
        )
        self.assertEqual(tolerant.predict(frame, verbose=0).shape, (8, 2))

    def test_audio_paths_and_missing_audio(self):
        import pandas as pd
        import soundfile

        directory = self.get_temp_dir()
        paths = []
        for i in range(4):
            # 8 kHz files of different lengths, resampled to 4 kHz.
            wave = np.sin(np.linspace(0, 40 * (i + 1), 2000 + 500 * i))
            paths.append(f"{directory}/{i}.wav")
            soundfile.write(paths[-1], wave.astype("float32"), 8000)
        paths[2] = None
        frame = pd.DataFrame(
            {"audio": paths, "text": TEXTS[:4], "label": [0, 1, 0, 1]}
        )
        encoders = {
            "audio": keras_mm.encoders.audio(
                sample_rate=4000,
                max_duration=0.5,
                num_mel_bins=16,
                hidden_dim=8,
                num_layers=1,
            ),
            "text": tiny_encoders()["text"],
        }
        model = keras_mm.build_classifier(
            encoders, num_classes=2, hidden_dim=8, allow_missing=["audio"]
        )
        history = model.fit(frame, "label", batch_size=2, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))
        probabilities = model.predict(frame, verbose=0)
        without_audio = model.predict({"text": TEXTS[:4]}, verbose=0)
        self.assertAllClose(probabilities[2], without_audio[2], atol=1e-5)
        self.assertFalse(np.allclose(probabilities[0], without_audio[0]))


class TrainingControlTest(TestCase):
    def test_per_encoder_learning_rates_and_staged_unfreezing(self):
        encoders = tiny_encoders()
        model = keras_mm.build_classifier(
            encoders,
            num_classes=2,
            hidden_dim=8,
            learning_rate=1e-2,
            learning_rates={"images": 0.0, "text": 1e-3},
        )
        x, y = raw_inputs(), np.array([0, 1] * 4)

        def snapshot(layer):
            return [np.array(v.value) for v in layer.trainable_variables]

        images_before = snapshot(encoders["images"])
        text_before = snapshot(encoders["text"])
        unfreeze = keras_mm.callbacks.UnfreezeEncoders(
            {1: {"image_encoder": 0.1}}
        )
        model.fit(x, y, epochs=1, verbose=0, callbacks=[unfreeze])
        # Epoch 0: the image encoder is frozen, the text encoder learns.
        for before, after in zip(images_before, snapshot(encoders["images"])):
            np.testing.assert_array_equal(before, after)
        self.assertTrue(
            any(
                not np.array_equal(b, a)
                for b, a in zip(text_before, snapshot(encoders["text"]))
            )
        )
        model.fit(
            x, y, epochs=2, initial_epoch=1, verbose=0, callbacks=[unfreeze]
        )
        self.assertTrue(
            any(
                not np.array_equal(b, a)
                for b, a in zip(images_before, snapshot(encoders["images"]))
            )
        )
        with pytest.raises(ValueError, match="learning_rates"):
            keras_mm.build_classifier(
                tiny_encoders(), num_classes=2, learning_rates={"audio": 1e-4}
            )
