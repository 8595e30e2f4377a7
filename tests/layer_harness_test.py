"""Every public layer under the test harnesses of Keras and KerasHub.

- Keras' `run_layer_test` (`keras.src.testing.TestCase`): config and
  serialization round trips, the weights that `build` creates, symbolic
  and eager calls, one compiled training step (a `tf.function` graph under
  TensorFlow, `jax.jit` under JAX), and its `mixed_float16` check: outputs
  in the dtypes of `compute_output_spec`, weights in float32.
- KerasHub's `run_layer_test` (`keras_hub.src.tests.test_case.TestCase`):
  the same with the output dtype, a training step compiled with
  `jit_compile=True` (XLA under TensorFlow), and `run_precision_test`:
  under `mixed_float16`, `mixed_bfloat16` and `bfloat16`, float outputs
  and output specs in the compute dtype, weights in the variable dtype,
  and every sublayer following the policy.
- KerasHub's `run_preprocessing_layer_test` on the preprocessing layers:
  the eager call against `tf.data` maps over single examples and over a
  batch (TensorFlow graphs, under any backend), and against Grain where
  it is installed.

The harnesses feed a layer one tensor, a list, or a flat dict of keyword
arguments, so some layers run as test-only subclasses that change only
how the arguments arrive:
- in Keras' harness, a layer called with a nested dict (the fusion
  layers, `MissingModalities`) or with several arguments is a `Flat*`
  subclass that takes the leaves of its arguments as one tuple and passes
  them, rebuilt, to the layer's own `build`, `call` and output spec;
- KerasHub's `run_layer_test` builds from `.shape` of each argument, so
  these layers get its `run_precision_test`, which calls them with their
  own arguments;
- in KerasHub's preprocessing harness, a `OneExample*` subclass runs a
  single example as a batch of one (keras_mm's preprocessing takes
  batches).
Documented exceptions to a harness (the float32 output layer of
`ClassificationHead`, the fixed output dtypes of preprocessing) are
asserted as such.

Unlike the rest of the suite, whose helpers in `tests/test_case.py` are
modelled on these harnesses, this module imports them, private modules and
KerasHub's `tf.test.TestCase` base included: what it checks is that the
layers pass the harnesses themselves.
"""

import inspect
import sys
import types

import keras
import numpy as np
import pytest
from absl.testing import parameterized
from keras.src import utils as keras_utils
from keras.src.testing import test_case as keras_test_case

from keras_mm import fusion
from keras_mm import heads
from keras_mm import layers
from tests.fusion.concat_fusion_test import make_inputs
from tests.test_case import reset_keras

try:
    import grain  # noqa: F401
except ImportError:
    # KerasHub's test case imports Grain, for its Grain checks of
    # preprocessing layers; keras_mm does not use Grain.
    sys.modules["grain"] = types.ModuleType("grain")
    HAS_GRAIN = False
else:
    HAS_GRAIN = True
from keras_hub.src.tests import test_case as hub_test_case  # noqa: E402

pytestmark = [
    # Keras' training step fits on a generator.
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning"),
    # Both harnesses also run the training step of layers without weights.
    pytest.mark.filterwarnings(
        "ignore:The model does not have any trainable weights:UserWarning"
    ),
]

POLICIES = ("mixed_float16", "mixed_bfloat16", "bfloat16")


def _accepted(method, kwargs):
    parameters = inspect.signature(method).parameters
    return {key: value for key, value in kwargs.items() if key in parameters}


def flat_list_layer(cls, arguments):
    """`cls` called with the leaves of its call `arguments` as one tuple.

    `arguments` is a dict of call argument name to value (any nesting);
    the tuple is `keras.tree.flatten(arguments)`. Only the packing of the
    arguments differs: the layer's own `build`, `call`,
    `compute_output_shape` and `compute_output_spec` run on them.
    """

    def unflatten(flat, suffix=""):
        packed = keras.tree.pack_sequence_as(arguments, list(flat))
        return {name + suffix: value for name, value in packed.items()}

    class Flat(cls):
        def call(self, inputs, training=None):
            kwargs = unflatten(inputs)
            if "training" in inspect.signature(super().call).parameters:
                kwargs["training"] = training
            return super().call(**kwargs)

    if not keras_utils.is_default(cls.build):

        def build(self, inputs_shape):
            method = super(Flat, self).build
            method(**_accepted(method, unflatten(inputs_shape, "_shape")))

        Flat.build = build
    # Symbolic calls use `compute_output_spec`; Keras' default one uses
    # `compute_output_shape` where the layer has one.
    if cls.compute_output_spec is not keras.layers.Layer.compute_output_spec:

        def compute_output_spec(self, inputs, training=None):
            return super(Flat, self).compute_output_spec(**unflatten(inputs))

        Flat.compute_output_spec = compute_output_spec
    elif not keras_utils.is_default(cls.compute_output_shape):

        def compute_output_shape(self, inputs_shape):
            method = super(Flat, self).compute_output_shape
            shapes = unflatten(inputs_shape, "_shape")
            return method(**_accepted(method, shapes))

        Flat.compute_output_shape = compute_output_shape
    Flat.__name__ = Flat.__qualname__ = f"Flat{cls.__name__}"
    return Flat


class Case:
    """One layer and the keyword arguments it is called with.

    Args:
        arguments: function returning a dict of call argument name to
            value, for example `{"inputs": x, "padding_mask": mask}`.
        output_shape: the exact output shape (structure).
    """

    def __init__(
        self,
        name,
        cls,
        init_kwargs,
        arguments,
        output_shape,
        call_kwargs=(),
        hub_layer_test=True,
        hub_precision_test=True,
    ):
        self.name = name
        self.cls = cls
        self.init_kwargs = init_kwargs
        self.arguments = arguments
        self.output_shape = output_shape
        # Arguments that Keras' harness passes as its `call_kwargs`.
        self.call_kwargs = call_kwargs
        self._hub_layer_test = hub_layer_test
        # `False` for a layer whose documented dtypes a test of its own
        # checks in place of `run_precision_test`.
        self.hub_precision_test = hub_precision_test

    def hub_layer_test(self):
        """Whether KerasHub's `run_layer_test` can feed the layer: one
        tensor, or tensors whose names `build` takes as `<name>_shape`
        (it calls `build(**{name + "_shape": x.shape})`)."""
        arguments = self.arguments()
        if not self._hub_layer_test:
            return False
        if not all(isinstance(x, np.ndarray) for x in arguments.values()):
            return False
        if len(arguments) == 1:
            return True
        parameters = inspect.signature(self.cls.build).parameters
        return all(f"{name}_shape" in parameters for name in arguments)

    def keras_inputs(self):
        """The class, input data and call kwargs for Keras' harness."""
        arguments = self.arguments()
        call_kwargs = {name: arguments.pop(name) for name in self.call_kwargs}
        if len(arguments) == 1:
            (value,) = arguments.values()
            if isinstance(value, np.ndarray):
                return self.cls, value, call_kwargs
        cls = flat_list_layer(self.cls, arguments)
        # A tuple: `tf.data`, which runs the training step under
        # TensorFlow, takes lists for tensors.
        return cls, tuple(keras.tree.flatten(arguments)), call_kwargs


def rand(*shape, dtype="float32"):
    return np.random.default_rng(0).random(shape).astype(dtype)


MASK = np.array([[True] * 6, [True] * 3 + [False] * 3])
AUDIO_FEATURES = {
    "sample_rate": 8000,
    "num_mel_bins": 8,
    "num_mfcc": 4,
    "frame_length": 64,
    "frame_step": 32,
}

GRU_KWARGS = {
    "units": 3,
    "return_sequences": True,
    # `keras.layers.GRU`'s default "orthogonal" initializer runs a QR
    # decomposition in the variable dtype, which neither backend has for
    # bfloat16 (the `bfloat16` policy; keras-team/keras#16970).
    "recurrent_initializer": "glorot_uniform",
}

HEAD_KWARGS = {"num_classes": 3, "hidden_dim": 4, "dropout": 0.1}


def fusion_case(cls, init_kwargs, output_dim=4):
    return Case(
        cls.__name__,
        cls,
        init_kwargs,
        lambda: {"inputs": make_inputs()},
        (2, output_dim),
    )


def missing_modalities_arguments():
    features = make_inputs()
    return {
        "features": features,
        "present": {
            "images": np.array([True, False]),
            "text": np.array([False, True]),
        },
    }


def missing_modalities_shape():
    shapes = keras.tree.map_structure(np.shape, make_inputs())
    shapes["images"]["padding_mask"] = (2, 3)
    return shapes


MODEL_CASES = [
    fusion_case(fusion.BilinearFusion, {"hidden_dim": 4, "rank": 2}),
    fusion_case(fusion.ConcatFusion, {"hidden_dim": 4, "dropout": 0.1}),
    fusion_case(
        fusion.CrossAttentionFusion,
        {"hidden_dim": 4, "num_heads": 2, "dropout": 0.1},
    ),
    fusion_case(fusion.FiLMFusion, {"hidden_dim": 4, "conditioned": "text"}),
    fusion_case(fusion.GatedFusion, {"hidden_dim": 4, "gate": "sigmoid"}),
    fusion_case(
        fusion.LateFusion, {"num_classes": 3, "hidden_dim": 4}, output_dim=3
    ),
    fusion_case(
        fusion.QueryFusion,
        {"hidden_dim": 4, "num_heads": 2, "key_dim": 3, "max_count": 2},
    ),
    fusion_case(fusion.TokenFusion, {"hidden_dim": 4, "num_heads": 2}),
    Case(
        "MissingModalities",
        layers.MissingModalities,
        {"rate": 0.5, "seed": 1},
        missing_modalities_arguments,
        missing_modalities_shape(),
    ),
    Case(
        "AudioFeatures",
        layers.AudioFeatures,
        AUDIO_FEATURES,
        lambda: {"inputs": rand(2, 256)},
        (2, 7, 8),
    ),
    Case(
        "AudioFeatures_masked",
        layers.AudioFeatures,
        {**AUDIO_FEATURES, "features": "mfcc", "normalize": True},
        lambda: {
            "inputs": rand(2, 256),
            "padding_mask": np.arange(256)[None] < np.array([[256], [100]]),
        },
        ((2, 7, 4), (2, 7)),
    ),
    Case(
        "ColourBlindConv2D",
        layers.ColourBlindConv2D,
        {"filters": 2, "kernel_size": 3, "strides": 2},
        lambda: {"inputs": rand(2, 5, 4, 3)},
        (2, 3, 2, 2),
    ),
    Case(
        "ImagePreprocessing",
        layers.ImagePreprocessing,
        {"image_shape": (4, 4, 3)},
        lambda: {"images": (rand(2, 6, 5, 3) * 255).astype("uint8")},
        (2, 4, 4, 3),
    ),
    Case(
        "MaskedAveragePooling",
        layers.MaskedAveragePooling,
        {},
        lambda: {"inputs": rand(2, 6, 4)},
        (2, 4),
    ),
    Case(
        "MaskedAveragePooling_masked",
        layers.MaskedAveragePooling,
        {},
        lambda: {"inputs": rand(2, 6, 4), "padding_mask": MASK},
        (2, 4),
    ),
    Case(
        "PaddedGRU",
        layers.PaddedGRU,
        GRU_KWARGS,
        lambda: {"sequences": rand(2, 6, 5)},
        (2, 6, 3),
    ),
    Case(
        "PaddedGRU_masked",
        layers.PaddedGRU,
        {**GRU_KWARGS, "go_backwards": True},
        lambda: {"sequences": rand(2, 6, 5), "mask": MASK},
        (2, 6, 3),
        # Its `input_spec` checks the first argument.
        call_kwargs=("mask",),
    ),
    Case(
        "SpecAugment",
        layers.SpecAugment,
        {"max_time_mask": 2, "max_freq_mask": 2, "seed": 1},
        lambda: {"inputs": rand(2, 6, 5)},
        (2, 6, 5),
    ),
    Case(
        "SpectrogramCNN",
        layers.SpectrogramCNN,
        {"hidden_dim": 4, "num_layers": 1, "filters": 2},
        lambda: {"inputs": rand(2, 6, 5)},
        {"pooled_output": (2, 4), "sequence_output": (2, 3, 4)},
    ),
    Case(
        "SpectrogramCNN_masked",
        layers.SpectrogramCNN,
        {"hidden_dim": 4, "num_layers": 1, "filters": 2},
        lambda: {"inputs": rand(2, 6, 5), "padding_mask": MASK},
        {
            "padding_mask": (2, 3),
            "pooled_output": (2, 4),
            "sequence_output": (2, 3, 4),
        },
        # KerasHub's `run_layer_test` takes the dtype of the first output
        # (in sorted order, the bool padding mask) for that of the layer;
        # its `run_precision_test` checks the float outputs.
        hub_layer_test=False,
    ),
    Case(
        "WaveformAugmentation",
        layers.WaveformAugmentation,
        {"sample_rate": 8000, "seed": 1},
        lambda: {"inputs": rand(2, 400)},
        (2, 400),
    ),
    Case(
        "WaveformAugmentation_masked",
        layers.WaveformAugmentation,
        {"sample_rate": 8000, "seed": 1},
        lambda: {
            "inputs": rand(2, 400),
            "padding_mask": np.arange(400) < np.array([[400], [250]]),
        },
        ((2, 400), (2, 400)),
        # As for `SpectrogramCNN_masked`: a float and a bool output.
        hub_layer_test=False,
    ),
    Case(
        "ClassificationHead",
        heads.ClassificationHead,
        HEAD_KWARGS,
        lambda: {"inputs": rand(2, 8)},
        (2, 3),
        hub_precision_test=False,
    ),
]


def named(cases, keep=lambda case: True):
    return [(case.name, case) for case in cases if keep(case)]


class KerasHarnessTest(keras_test_case.TestCase):
    """Keras' own `run_layer_test`, mixed precision check included."""

    def setUp(self):
        super().setUp()
        keras.config.set_dtype_policy("float32")
        keras.utils.set_random_seed(0)

    @parameterized.named_parameters(*named(MODEL_CASES))
    def test_run_layer_test(self, case):
        cls, input_data, call_kwargs = case.keras_inputs()
        self.run_layer_test(
            cls,
            init_kwargs=case.init_kwargs,
            input_data=input_data,
            call_kwargs=call_kwargs,
            expected_output_shape=case.output_shape,
            custom_objects={cls.__name__: cls},
        )


def as_tensors(arguments):
    # Backend tensors: `compute_output_spec` builds shapes from tensor
    # arguments only.
    return keras.tree.map_structure(keras.ops.convert_to_tensor, arguments)


class KerasHubHarnessTest(hub_test_case.TestCase):
    """KerasHub's `run_layer_test` and `run_precision_test`."""

    test_session = None  # `tf.test.TestCase`'s, not a test.

    def setUp(self):
        super().setUp()
        reset_keras()

    @parameterized.named_parameters(
        *named(MODEL_CASES, lambda case: case.hub_layer_test())
    )
    def test_run_layer_test(self, case):
        arguments = as_tensors(case.arguments())
        layer = case.cls(**case.init_kwargs)
        layer(**arguments)
        if len(arguments) == 1:
            (arguments,) = arguments.values()
        self.run_layer_test(
            case.cls,
            init_kwargs=case.init_kwargs,
            input_data=arguments,
            expected_output_shape=case.output_shape,
            expected_num_trainable_weights=len(layer.trainable_weights),
            expected_num_non_trainable_weights=len(layer.non_trainable_weights),
            expected_num_non_trainable_variables=len(
                layer.non_trainable_variables
            ),
            run_precision_checks=case.hub_precision_test,
        )

    @parameterized.named_parameters(
        *named(
            MODEL_CASES,
            lambda case: case.hub_precision_test and not case.hub_layer_test(),
        )
    )
    def test_run_precision_test(self, case):
        arguments = as_tensors(case.arguments())
        self.run_precision_test(case.cls, case.init_kwargs, arguments)

    def test_classification_head_keeps_a_float32_output_layer(self):
        # `run_precision_test` less its one exception, which the
        # `ClassificationHead` docstring states: "The output layer always
        # runs in float32, so probabilities and losses stay stable under a
        # mixed precision policy." Its outputs, output spec and output layer
        # are float32 under every policy; the rest follows the policy.
        inputs = keras.ops.convert_to_tensor(rand(2, 8))
        for name in POLICIES:
            policy = keras.dtype_policies.get(name)
            layer = heads.ClassificationHead(**HEAD_KWARGS, dtype=policy)
            self.assertDTypeEqual(layer(inputs), "float32")
            self.assertEqual(layer.compute_output_spec(inputs).dtype, "float32")
            for sublayer in layer._flatten_layers():
                expected = policy
                if sublayer is layer.output_dense:
                    expected = keras.dtype_policies.get("float32")
                self.assertEqual(sublayer.compute_dtype, expected.compute_dtype)
                self.assertEqual(
                    sublayer.variable_dtype, expected.variable_dtype
                )
            for weight in layer.hidden.weights:
                self.assertDTypeEqual(weight, policy.variable_dtype)
            for weight in layer.output_dense.weights:
                self.assertDTypeEqual(weight, "float32")


VOCAB = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "red", "circle", ",", "."]


def waveforms():
    # Two clips of 30 samples, padded to 50 (0.5 s at 100 Hz).
    return rand(2, 30) * 2 - 1


# Name, class, constructor arguments, input data, and the rank of one
# example of the first input (dict keys sorted, as the harness flattens).
PREPROCESSING_CASES = [
    (
        "WordTokenizer",
        layers.WordTokenizer,
        lambda: {"vocabulary": VOCAB, "sequence_length": 5},
        lambda: np.array(["A red, BLUE circle.", "", "red"]),
        0,
    ),
    (
        "AudioPreprocessor",
        layers.AudioPreprocessor,
        lambda: {"sample_rate": 100, "max_duration": 0.5},
        waveforms,
        1,
    ),
    (
        "CaptionPreprocessor",
        layers.CaptionPreprocessor,
        lambda: {
            "vocabulary": VOCAB,
            "sequence_length": 4,
            "modalities": ("audio",),
            "input_preprocessor": layers.AudioPreprocessor(100, 0.5),
        },
        lambda: {
            "audio": waveforms(),
            "text": np.array(["a red circle", "red"]),
        },
        1,
    ),
    (
        "SpeechPreprocessor",
        layers.SpeechPreprocessor,
        lambda: {
            "vocabulary": list("abc "),
            "sample_rate": 100,
            "max_duration": 0.5,
            "max_label_length": 6,
        },
        lambda: (waveforms(), np.array(["cab a", "b"])),
        1,
    ),
    (
        "MultimodalPreprocessor",
        layers.MultimodalPreprocessor,
        lambda: {
            "preprocessors": {"text": layers.WordTokenizer(VOCAB, 3)},
            "missing": {
                "text": {"shape": [], "dtype": "string"},
                "images": {"shape": [2, 2, 3], "dtype": "uint8"},
            },
        },
        lambda: {"text": np.array(["red circle", " "])},
        0,
    ),
]


def one_example_layer(cls, example_rank):
    """`cls` that also takes one example, as a batch of one.

    keras_mm's preprocessing layers take batches (`AudioPreprocessor`
    refuses a single waveform, a single string is a batch of one);
    KerasHub's harness also maps them over single examples, in `tf.data`
    and in Grain. This runs each example through the layer as a batch of
    one and drops the batch axis of the outputs, so the harness compares
    the rows of one batch with the examples run alone.
    """
    import tensorflow as tf

    def rank(x):
        return x.shape.rank if tf.is_tensor(x) else np.ndim(x)

    def batch_of_one(x):
        if x is None:
            return None
        return x[None] if tf.is_tensor(x) else np.asarray(x)[None]

    # The harness' own notion of a leaf: lists and arrays are data.
    leaves = hub_test_case._flatten_leaves
    map_leaves = hub_test_case._map_leaves

    class OneExample(cls):
        def __call__(self, x, y=None, sample_weight=None, **kwargs):
            if rank(leaves(x)[0]) > example_rank:
                return super().__call__(x, y, sample_weight, **kwargs)
            batch = map_leaves(batch_of_one, (x, y, sample_weight))
            outputs = super().__call__(*batch, **kwargs)
            return map_leaves(lambda t: t[0], outputs)

    OneExample.__name__ = OneExample.__qualname__ = f"OneExample{cls.__name__}"
    return OneExample


class PreprocessingHarnessTest(hub_test_case.TestCase):
    """KerasHub's `run_preprocessing_layer_test` on the preprocessing
    layers: they run TensorFlow ops on raw inputs (strings, waveforms of
    any length) eagerly or in `tf.data` (a TensorFlow graph, under any
    backend), and return NumPy arrays."""

    test_session = None  # `tf.test.TestCase`'s, not a test.

    def setUp(self):
        super().setUp()
        reset_keras()

    def run_grain_preprocessing_test(self, layer, input_data, expected):
        if HAS_GRAIN:
            super().run_grain_preprocessing_test(layer, input_data, expected)

    @parameterized.named_parameters(*PREPROCESSING_CASES)
    def test_run_preprocessing_layer_test(
        self, cls, init_kwargs, inputs, example_rank
    ):
        cls = one_example_layer(cls, example_rank)
        with keras.saving.custom_object_scope({cls.__name__: cls}):
            self.run_preprocessing_layer_test(cls, init_kwargs(), inputs())

    @parameterized.named_parameters(*PREPROCESSING_CASES)
    def test_outputs_keep_their_documented_dtypes(
        self, cls, init_kwargs, inputs, example_rank
    ):
        # In place of `run_precision_test`, which calls layers on tensors of
        # the backend: preprocessing makes the model's inputs in the dtypes
        # each docstring states (float32 audio, int32 ids, bool masks,
        # float32 weights) under any policy, and holds no weights.
        def dtypes(layer):
            data = inputs()
            outputs = layer(*data) if isinstance(data, tuple) else layer(data)
            self.assertEqual(layer.weights, [])
            return keras.tree.map_structure(lambda x: x.dtype.name, outputs)

        expected = dtypes(cls(**init_kwargs()))
        for dtype in keras.tree.flatten(expected):
            if keras.backend.is_float_dtype(dtype):
                self.assertEqual(dtype, "float32")
        for policy in POLICIES:
            self.assertEqual(
                dtypes(cls(**init_kwargs(), dtype=policy)), expected
            )

    def test_base_class_serialization(self):
        # `PreprocessingLayer` is a base class: its `call` is abstract.
        self.run_serialization_test(layers.PreprocessingLayer())


class KerasPreprocessingHarnessTest(keras_test_case.TestCase):
    @parameterized.named_parameters(
        *[case[:3] for case in PREPROCESSING_CASES],
        ("PreprocessingLayer", layers.PreprocessingLayer, dict),
    )
    def test_run_layer_test(self, cls, init_kwargs):
        # Keras' harness calls a layer on symbolic tensors; preprocessing
        # layers run on raw data, before the model. With no input data it
        # runs its serialization round trips and the masking check: they
        # consume no Keras mask (they make explicit padding masks).
        self.run_layer_test(cls, init_kwargs(), supports_masking=False)
