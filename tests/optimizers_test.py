import os

import keras
import numpy as np

from keras_mm.base.pipeline_model import PipelineModel
from keras_mm.optimizers import Adam
from tests.test_case import TestCase


def make_model():
    """A functional `image_encoder` (its variable paths lack its name), a
    Sequential `text_encoder` (its paths have it) and a `head`."""
    pixels = keras.Input((4,), name="pixels")
    image_encoder = keras.Model(
        pixels, keras.layers.Dense(3, name="proj")(pixels), name="image_encoder"
    )
    text_encoder = keras.Sequential(
        [keras.layers.Dense(3, name="dense")], name="text_encoder"
    )
    images = keras.Input((4,), name="images")
    text = keras.Input((4,), name="text")
    features = keras.layers.Concatenate(name="concat")(
        [image_encoder(images), text_encoder(text)]
    )
    outputs = keras.layers.Dense(2, name="head")(features)
    return PipelineModel({"images": images, "text": text}, outputs)


def make_data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = {
        "images": rng.normal(size=(n, 4)).astype("float32"),
        "text": rng.normal(size=(n, 4)).astype("float32"),
    }
    return x, rng.normal(size=(n, 2)).astype("float32")


def weights(layer):
    return [keras.ops.convert_to_numpy(v.value) for v in layer.weights]


def changed(before, after):
    return [not np.array_equal(b, a) for b, a in zip(before, after)]


class AdamTest(TestCase):
    def test_zero_multiplier_freezes(self):
        # Weight decay is scaled by the multiplier too.
        model = make_model()
        encoder = model.get_layer("image_encoder")
        optimizer = Adam(
            1e-2,
            learning_rate_multipliers={"image_encoder": 0.0},
            weight_decay=0.1,
        )
        model.compile(optimizer=optimizer, loss="mse")
        frozen = weights(encoder)
        others = weights(model.get_layer("text_encoder")) + weights(
            model.get_layer("head")
        )
        x, y = make_data()
        model.fit(x, y, batch_size=4, epochs=2, verbose=0)
        self.assertEqual(changed(frozen, weights(encoder)), [False] * 2)
        after = weights(model.get_layer("text_encoder")) + weights(
            model.get_layer("head")
        )
        self.assertEqual(changed(others, after), [True] * 4)

    def test_multipliers_scale_the_first_step(self):
        # Adam's update is linear in the learning rate: with the same
        # gradients, a multiplier m gives m times the step of plain Adam.
        x, y = make_data(n=4)
        models, steps = [], []
        initial = make_model().get_weights()
        for optimizer in (
            keras.optimizers.Adam(1e-2),
            Adam(
                1e-2,
                learning_rate_multipliers={
                    "image_encoder": 0.5,
                    "image_encoder/proj/bias": 0.0,  # Longest prefix wins.
                    "text_encoder": 2.0,
                },
            ),
        ):
            model = make_model()
            model.set_weights(initial)
            model.compile(optimizer=optimizer, loss="mse")
            before = weights(model)
            model.train_on_batch(x, y)
            steps.append([a - b for a, b in zip(weights(model), before)])
            models.append(model)
        paths = [v.path for v in models[1].weights]
        self.assertEqual(
            paths,
            [
                "proj/kernel",
                "proj/bias",
                "text_encoder/dense/kernel",
                "text_encoder/dense/bias",
                "head/kernel",
                "head/bias",
            ],
        )
        plain, scaled = steps
        for factor, p, s in zip([0.5, 0.0, 2.0, 2.0, 1.0, 1.0], plain, scaled):
            self.assertAllClose(factor * p, s, atol=1e-7, rtol=1e-5)
        # The first Adam step is about the learning rate, per element.
        self.assertAllClose(np.abs(scaled[0]), 0.5e-2, atol=1e-4)
        self.assertAllClose(
            keras.ops.convert_to_numpy(models[1].optimizer._multipliers.value),
            [0.5, 0.0, 2.0, 2.0, 1.0, 1.0],
        )

    def test_set_multiplier_during_fit(self):
        # On JAX `fit` reads the optimizer state again at each epoch start,
        # so a change made in `on_epoch_begin` applies from that epoch on.
        model = make_model()
        encoder = model.get_layer("image_encoder")
        optimizer = Adam(1e-2, learning_rate_multipliers={"image_encoder": 0})
        model.compile(optimizer=optimizer, loss="mse")
        history = [weights(encoder)]

        def unfreeze(epoch, logs):
            if epoch == 1:
                optimizer.set_learning_rate_multiplier("image_encoder", 1.0)

        callback = keras.callbacks.LambdaCallback(
            on_epoch_begin=unfreeze,
            on_epoch_end=lambda epoch, logs: history.append(weights(encoder)),
        )
        x, y = make_data()
        model.fit(x, y, batch_size=4, epochs=2, callbacks=[callback], verbose=0)
        self.assertEqual(changed(history[0], history[1]), [False] * 2)
        self.assertEqual(changed(history[1], history[2]), [True] * 2)
        self.assertEqual(
            optimizer.get_config()["learning_rate_multipliers"],
            {"image_encoder": 1.0},
        )

    def test_saving(self):
        model = make_model()
        optimizer = Adam(1e-2, learning_rate_multipliers={"image_encoder": 0})
        model.compile(optimizer=optimizer, loss="mse")
        x, y = make_data()
        model.fit(x, y, batch_size=4, verbose=0)
        optimizer.set_learning_rate_multiplier("image_encoder", 0.25)
        path = os.path.join(self.get_temp_dir(), "model.keras")
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
        self.assertIsInstance(restored.optimizer, Adam)
        self.assertEqual(
            restored.optimizer.get_config(), optimizer.get_config()
        )
        self.assertEqual(
            restored.optimizer.learning_rate_multipliers,
            {"image_encoder": 0.25},
        )
        self.assertEqual(len(restored.optimizer.variables), 15)
        for a, b in zip(optimizer.variables, restored.optimizer.variables):
            self.assertAllClose(a.value, b.value)
        self.assertAllClose(
            restored.optimizer._multipliers.value, [0.25, 0.25, 1, 1, 1, 1]
        )
        restored.fit(x, y, batch_size=4, verbose=0)

    def test_config_round_trip(self):
        optimizer = Adam(
            2e-3, learning_rate_multipliers={"image_encoder": 0.1}, clipnorm=1
        )
        config = optimizer.get_config()
        self.assertEqual(Adam.from_config(config).get_config(), config)
        revived = keras.optimizers.deserialize(
            keras.optimizers.serialize(optimizer)
        )
        self.assertIsInstance(revived, Adam)
        self.assertEqual(revived.get_config(), config)

    def test_validation(self):
        for value, message in [
            (["image_encoder"], "must be a dict mapping a path prefix"),
            ({3: 0.1}, "Each key of `learning_rate_multipliers`.*Received: 3"),
            ({"": 0.1}, "non-empty str"),
            ({"image_encoder": -1}, r"learning_rate_multipliers\['image_"),
            ({"image_encoder": True}, ">= 0.*Received: .*=True"),
            ({"image_encoder": "0.1"}, ">= 0.*Received: .*='0.1'"),
            ({"image_encoder": float("nan")}, "finite number"),
        ]:
            with self.assertRaisesRegex(ValueError, message):
                Adam(learning_rate_multipliers=value)
        optimizer = Adam()
        with self.assertRaisesRegex(ValueError, "Received: value=-0.5"):
            optimizer.set_learning_rate_multiplier("image_encoder", -0.5)
        with self.assertRaisesRegex(ValueError, "`prefix` must be"):
            optimizer.set_learning_rate_multiplier(None, 0.5)

    def test_unmatched_prefix(self):
        model = make_model()
        model.compile(
            optimizer=Adam(learning_rate_multipliers={"image_encodr": 0.0}),
            loss="mse",
        )
        x, y = make_data()
        with self.assertRaisesRegex(
            ValueError,
            r"match no trainable variable: \['image_encodr'\].*"
            "'head', 'image_encoder', 'proj', 'text_encoder'",
        ):
            model.fit(x, y, verbose=0)
        model = make_model()
        optimizer = Adam()
        optimizer.set_learning_rate_multiplier("later", 0.5)  # Not built.
        self.assertEqual(optimizer.learning_rate_multipliers, {"later": 0.5})
        optimizer = Adam()
        model.compile(optimizer=optimizer, loss="mse")
        model.fit(x, y, verbose=0)
        with self.assertRaisesRegex(ValueError, r"\['image'\]"):
            optimizer.set_learning_rate_multiplier("image", 0.5)
        self.assertEqual(optimizer.learning_rate_multipliers, {})

    def test_custom_loop_matches_variable_paths(self):
        model = make_model()
        optimizer = Adam(learning_rate_multipliers={"proj": 0.0})
        optimizer.build(model.trainable_variables)
        self.assertAllClose(optimizer._multipliers.value, [0, 0, 1, 1, 1, 1])
