import keras
import pytest

from keras_mm import fusion
from tests.fusion.concat_fusion_test import make_inputs
from tests.test_case import TestCase

FUSIONS = {
    "bilinear": {"hidden_dim": 4, "rank": 2},
    "concat": {"hidden_dim": 4},
    "cross_attention": {"hidden_dim": 4, "num_heads": 2, "num_layers": 2},
    "film": {"hidden_dim": 4},
    "gated": {"hidden_dim": 4},
    "late": {"num_classes": 3},
    "query": {"hidden_dim": 4, "num_heads": 2, "key_dim": 3},
    "tokens": {"hidden_dim": 4, "num_heads": 2},
}


class FusionCrossBackendTest(TestCase):
    @pytest.mark.slow
    def test_every_fusion_loads_on_the_other_backend(self):
        # One model holds every fusion layer, so one subprocess checks all.
        # Flat named inputs: the helper stores them in one `.npz` file.
        nested = make_inputs()
        input_data = {
            f"{m}_{key}": value
            for m, features in nested.items()
            for key, value in features.items()
        }
        inputs = {
            name: keras.Input(shape=x.shape[1:], dtype=x.dtype, name=name)
            for name, x in input_data.items()
        }
        features = {
            m: {key: inputs[f"{m}_{key}"] for key in nested[m]} for m in nested
        }
        outputs = {
            name: fusion.get(name, name=name, **kwargs)(features)
            for name, kwargs in FUSIONS.items()
        }
        model = keras.Model(inputs, outputs)
        self.run_cross_backend_test(model, input_data)
