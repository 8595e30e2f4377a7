import keras
import numpy as np

from keras_mm.layers.padded_gru import PaddedGRU
from tests.test_case import TestCase

LENGTHS = np.array([7, 4, 1, 0])
MASK = np.arange(7)[None] < LENGTHS[:, None]


def inputs():
    rng = np.random.default_rng(0)
    return rng.standard_normal((4, 7, 5)).astype("float32")


def twins(**kwargs):
    """A `PaddedGRU` and a `keras.layers.GRU` with the same weights."""
    padded = PaddedGRU(3, return_sequences=True, **kwargs)
    plain = keras.layers.GRU(3, return_sequences=True, **kwargs)
    padded.build((None, 7, 5))
    plain.build((None, 7, 5))
    plain.set_weights(padded.get_weights())
    return padded, plain


class PaddedGRUTest(TestCase):
    def test_layer_basics(self):
        self.run_layer_test(
            PaddedGRU,
            init_kwargs={"units": 3, "return_sequences": True},
            input_data=inputs(),
            expected_output_shape=(4, 7, 3),
        )

    def test_matches_masked_gru(self):
        x = inputs()
        for go_backwards in (False, True):
            for zero_output in (False, True):
                padded, plain = twins(
                    go_backwards=go_backwards,
                    zero_output_for_mask=zero_output,
                )
                msg = f"go_backwards={go_backwards}, zero={zero_output}"
                self.assertAllClose(
                    padded(x, mask=MASK),
                    plain(x, mask=MASK),
                    atol=1e-5,
                    msg=msg,
                )
                self.assertAllClose(padded(x), plain(x), atol=1e-5, msg=msg)
        # The padding is really there: read unmasked, it changes the
        # outputs, so the match above is not vacuous.
        padded, plain = twins(go_backwards=True)
        difference = np.asarray(plain(x)) - np.asarray(plain(x, mask=MASK))
        self.assertGreater(np.abs(difference[1:3]).max(), 1e-2)

    def test_bidirectional_with_initial_state_and_masked_fallback(self):
        x = inputs()
        state = [np.ones((4, 3), "float32"), np.zeros((4, 3), "float32")]
        padded = keras.layers.Bidirectional(PaddedGRU(3, return_sequences=True))
        plain = keras.layers.Bidirectional(
            keras.layers.GRU(3, return_sequences=True)
        )
        padded.build(x.shape)
        plain.build(x.shape)
        plain.set_weights(padded.get_weights())
        self.assertAllClose(
            padded(x, mask=MASK, initial_state=state),
            plain(x, mask=MASK, initial_state=state),
            atol=1e-5,
        )
        # Without `return_sequences` the last state would read the
        # padding: the layer runs masked instead.
        last, plain_last = twins()
        last.return_sequences = plain_last.return_sequences = False
        self.assertAllClose(
            last(x, mask=MASK), plain_last(x, mask=MASK), atol=1e-5
        )

    def test_trains_in_a_masked_model(self):
        model = keras.Sequential(
            [
                keras.Input((7, 5)),
                keras.layers.Masking(),
                keras.layers.Bidirectional(PaddedGRU(3, return_sequences=True)),
                keras.layers.Dense(1),
            ]
        )
        model.compile(optimizer="adam", loss="mse")
        x = inputs() * MASK[..., None]
        history = model.fit(x, np.ones((4, 7, 1)), epochs=2, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"]).all())

    def test_loads_weights_saved_with_keras_gru(self):
        # Models saved with `Bidirectional(GRU)` (the recognizer before it
        # used `PaddedGRU`) load into `Bidirectional(PaddedGRU)`.
        def model(gru):
            inputs = keras.Input((7, 5))
            layer = keras.layers.Bidirectional(gru(3, return_sequences=True))
            return keras.Model(inputs, layer(inputs))

        path = self.get_temp_dir() + "/model.weights.h5"
        saved = model(keras.layers.GRU)
        saved.save_weights(path)
        loaded = model(PaddedGRU)
        loaded.load_weights(path)
        self.assertAllClose(loaded(inputs()), saved(inputs()), atol=1e-5)
