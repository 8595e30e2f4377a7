"""Every task keeps the one contract: raw-input `fit`, `.keras` and preset
round trips (also under the other backend), and SavedModel and TFLite
exports that serve the same outputs with core (or builtin) ops only."""

import os

import keras
import numpy as np
import pytest

import keras_mm
from tests.export.saved_model_test import CAPTIONS
from tests.export.saved_model_test import SAMPLE_RATE
from tests.export.saved_model_test import classifier
from tests.export.saved_model_test import image_captioner
from tests.export.saved_model_test import inputs
from tests.export.saved_model_test import scramble_captioner
from tests.export.saved_model_test import speech_recognizer
from tests.test_case import TestCase


def audio_captioner():
    model = keras_mm.build_captioner(
        keras_mm.encoders.audio(
            sample_rate=SAMPLE_RATE,
            max_duration=0.5,
            num_mel_bins=16,
            hidden_dim=16,
        ),
        keras_mm.encoders.text_vocabulary(CAPTIONS),
        sequence_length=6,
        num_layers=1,
        hidden_dim=16,
    )
    scramble_captioner(model)
    return model


def image_audio_captioner():
    """A captioner of two encoders: the decoder attends to both."""
    model = keras_mm.build_captioner(
        {
            "images": keras_mm.encoders.image(
                "cnn_small", image_shape=(32, 32, 3)
            ),
            "audio": keras_mm.encoders.audio(
                sample_rate=SAMPLE_RATE,
                max_duration=0.5,
                num_mel_bins=16,
                hidden_dim=16,
            ),
        },
        keras_mm.encoders.text_vocabulary(CAPTIONS),
        sequence_length=6,
        num_layers=1,
        hidden_dim=16,
    )
    scramble_captioner(model)
    return model


def classifier_case():
    x = inputs()
    model = classifier(fusion="cross_attention", allow_missing=["text"])
    return model, x, (x, np.array([0, 1, 2, 0])), x


def check_classifier_signatures(test, model, path):
    """Encoded images, a missing input, a bad request."""
    x = inputs()
    test.assertLess(
        keras_mm.export.verify(path, model, x, signature="encoded_images"),
        1e-4,
    )
    without_text = {k: v for k, v in x.items() if k != "text"}
    test.assertLess(
        keras_mm.export.verify(
            path, model, without_text, signature="without_text"
        ),
        1e-4,
    )
    # A request of the wrong dtype says what to send.
    bad = dict(x, images=x["images"].astype("float32"))
    with test.assertRaisesRegex(ValueError, "must be uint8"):
        keras_mm.export.verify(path, model, bad)
    # Left alone: only the version directory, no staging leftovers.
    test.assertEqual(os.listdir(os.path.dirname(path)), ["1"])


def check_classifier_tflite(test, model, path):
    """A missing input, the runner in this process, and int8 quantization
    (calibrated on raw examples, which reach a TensorFlow child process
    from JAX through a file; `dynamic` is in the README example)."""
    x = inputs()
    without_text = {k: v for k, v in x.items() if k != "text"}
    test.assertLess(keras_mm.export.verify(path, model, without_text), 1e-3)
    outputs = keras_mm.export.LiteRTModel(path)(x)
    np.testing.assert_array_equal(
        outputs["labels"], model.predict(x, verbose=0).argmax(-1)
    )
    quantized = keras_mm.export.tflite(
        model,
        path.replace(".tflite", "_int8.tflite"),
        quantization="int8",
        representative_data=x,
    )
    test.assertLess(os.path.getsize(quantized), os.path.getsize(path))
    difference = keras_mm.export.verify(quantized, model, x, tolerance=0.2)
    test.assertGreater(difference, 0.0)  # It is quantized.


def image_captioner_case():
    images = inputs()["images"]
    captions = (CAPTIONS + CAPTIONS)[:4]
    fit = ({"images": images, "text": captions},)
    return image_captioner(), images, fit, {"images": images, "text": captions}


def audio_captioner_case():
    audio = inputs()["audio"]
    captions = (CAPTIONS + CAPTIONS)[:4]
    fit = ({"audio": audio, "text": captions},)
    return audio_captioner(), audio, fit, {"audio": audio, "text": captions}


def image_audio_captioner_case():
    x = {key: inputs()[key] for key in ("images", "audio")}
    captions = (CAPTIONS + CAPTIONS)[:4]
    fit = ({**x, "text": captions},)
    return image_audio_captioner(), x, fit, {**x, "text": captions}


def speech_recognizer_case():
    audio = inputs()["audio"]
    return speech_recognizer(), audio, (audio, ["ab", "ba", "a", "b"]), audio


def check_padded_clips(test, model, path):
    """The LiteRT runner pads waveforms of different lengths."""
    clips = [inputs()["audio"][0][:1000], inputs()["audio"][1]]
    runner = keras_mm.export.LiteRTModel(path)
    test.assertEqual(runner(clips)["transcripts"], model.transcribe(clips))


# Checks of one task's own outputs beyond the contract, each under one
# backend: the classifier's extra signatures are the same TensorFlow code
# under both (JAX exports through a TensorFlow child process, and every
# check starts TensorFlow-only processes), so they run under TensorFlow,
# in-process; int8 calibration data crosses into that child process only
# from JAX, so quantization runs under JAX.
EXTRA_SAVED_MODEL_CHECKS = {
    ("classifier", "tensorflow"): check_classifier_signatures,
}
EXTRA_TFLITE_CHECKS = {
    ("classifier", "jax"): check_classifier_tflite,
    ("speech_recognizer", "jax"): check_padded_clips,
    ("speech_recognizer", "tensorflow"): check_padded_clips,
}


CASES = {
    "classifier": classifier_case,
    "image_captioner": image_captioner_case,
    "audio_captioner": audio_captioner_case,
    "image_audio_captioner": image_audio_captioner_case,
    "speech_recognizer": speech_recognizer_case,
}


def saved_model_ops(path):
    """The op types of every graph and function in a SavedModel."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    ops = set()
    for graph in proto.meta_graphs:
        ops.update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


class TaskContractTest(TestCase):
    def run_contract(self, name):
        model, sample, fit_data, raw_inputs = CASES[name]()
        self.assertIsInstance(model, keras_mm.models.Task)
        # The untrained model's outputs vary with the input, so the
        # comparisons of the exports can fail.
        (values,) = model.reference_outputs(sample).values()
        self.assertGreater(len({str(v) for v in values}), 1)

        # SavedModel: the same outputs from a TensorFlow-only process, and
        # core TensorFlow ops only (a stock TF Serving runs no XLA op).
        root = self.get_temp_dir()
        path = keras_mm.export.saved_model(model, os.path.join(root, name))
        self.assertEqual(path, os.path.join(root, name, "1"))
        self.assertLess(keras_mm.export.verify(path, model, sample), 1e-4)
        xla = sorted(op for op in saved_model_ops(path) if "Xla" in op)
        self.assertEqual(xla, [])
        backend = keras.config.backend()
        if (name, backend) in EXTRA_SAVED_MODEL_CHECKS:
            EXTRA_SAVED_MODEL_CHECKS[name, backend](self, model, path)

        # TFLite: the same outputs from the LiteRT interpreter alone.
        path = keras_mm.export.tflite(model, os.path.join(root, "m.tflite"))
        self.assertLess(keras_mm.export.verify(path, model, sample), 1e-3)
        if (name, backend) in EXTRA_TFLITE_CHECKS:
            EXTRA_TFLITE_CHECKS[name, backend](self, model, path)

        # Preprocessing attached and detached agree; raw-input fit.
        self.run_task_test(model, *fit_data)

        # `.keras` round trip on the model's own inputs; preset round trip
        # on raw inputs, also under the other backend (scrambled weights
        # make large logits: 1e-3 across backends).
        model_inputs = model.preprocessor(raw_inputs)
        if isinstance(model_inputs, tuple):
            model_inputs = model_inputs[0]
        self.run_model_saving_test(model, model_inputs, atol=1e-5)
        self.run_preset_test(model, raw_inputs, atol=1e-3)

    @pytest.mark.slow
    def test_classifier(self):
        self.run_contract("classifier")

    @pytest.mark.slow
    def test_image_captioner(self):
        self.run_contract("image_captioner")

    @pytest.mark.slow
    def test_audio_captioner(self):
        self.run_contract("audio_captioner")

    @pytest.mark.slow
    def test_image_audio_captioner(self):
        self.run_contract("image_audio_captioner")

    @pytest.mark.slow
    def test_speech_recognizer(self):
        self.run_contract("speech_recognizer")
