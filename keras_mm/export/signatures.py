"""Serving functions over raw inputs, one set per kind of keras_mm model.

`serving_functions(model)` returns `{signature name: (function, input
signature)}` for a model of the TensorFlow backend: the function takes raw
inputs (uint8 pixels or encoded image bytes, strings, float32 waveforms)
and runs the preprocessing, the model and the decoding (argmax, caption
generation, CTC decoding) in one TensorFlow graph, with core TensorFlow
ops only, so that a stock TF Serving runs it.
"""

import itertools
import warnings

import keras
import keras_hub

from keras_mm.export.saved_model import ExportWarning
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.caption_preprocessor import _CLOSING_PUNCTUATION
from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
from keras_mm.layers.image_preprocessing import image_shapes
from keras_mm.layers.speech_preprocessor import BLANK_ID
from keras_mm.layers.word_tokenizer import SPECIAL_TOKENS
from keras_mm.layers.word_tokenizer import WordTokenizer
from keras_mm.models.captioner import Captioner
from keras_mm.models.speech_recognizer import SpeechRecognizer
from keras_mm.utils.inputs import consumer
from keras_mm.utils.tf_utils import tf

# Requests of these signatures send images as encoded JPEG, PNG, GIF or
# BMP bytes instead of pixels.
ENCODED_IMAGES = "encoded_images"


def _image_spec(key, shape, layer):
    """uint8 pixels at the size `layer` resizes its images to (its
    encoder's `image_shape`), or at the input's own size."""
    sizes = image_shapes(layer) if layer is not None else []
    height, width, channels = sizes[0] if sizes else shape[1:]
    return tf.TensorSpec((None, height, width, channels), tf.uint8, key)


def _decode_images(encoded, spec):
    """A `(batch,)` string tensor of encoded images -> float pixels of the
    spec's size (resized, bilinear, when an image has another size)."""
    height, width, channels = spec.shape[1:]

    def decode(data):
        image = tf.io.decode_image(
            data, channels=channels, expand_animations=False
        )
        image.set_shape((None, None, channels))
        size = tf.shape(image)[:2]
        image = tf.cast(image, "float32")
        return tf.cond(
            tf.reduce_all(size == (height, width)),
            lambda: tf.ensure_shape(image, (height, width, channels)),
            lambda: tf.image.resize(image, (height, width)),
        )

    return tf.map_fn(
        decode,
        encoded,
        fn_output_signature=tf.TensorSpec((height, width, channels)),
    )


def _takes_encoded_images(specs):
    """Whether the inputs include images of a fixed size, which encoded
    images can be decoded and resized to."""
    images = [s for s in specs.values() if s.dtype == tf.uint8]
    return bool(images) and all(None not in s.shape[1:] for s in images)


def _with_encoded_images(specs):
    """Specs with each uint8 image input replaced by encoded bytes."""
    return {
        key: tf.TensorSpec((None,), tf.string, key)
        if spec.dtype == tf.uint8
        else spec
        for key, spec in specs.items()
    }


def _decoded(inputs, specs):
    """Decodes the images of a request that sends encoded bytes where
    `specs` (the pixel signature) has uint8 pixels."""
    return {
        key: _decode_images(value, specs[key])
        if value.dtype == tf.string
        and key in specs
        and specs[key].dtype == tf.uint8
        else value
        for key, value in inputs.items()
    }


def needs_token_ids(preprocessor):
    """Whether an input's preprocessor is not made of core TensorFlow ops
    (a KerasHub tokenizer uses TensorFlow Text's), so that a stock server
    cannot run it: the export then serves that input's token ids."""
    return preprocessor is not None and not isinstance(
        preprocessor, (WordTokenizer, AudioPreprocessor)
    )


def _raw_spec(model, key, preprocessor):
    """The served spec of one raw input of a classifier."""
    if isinstance(preprocessor, WordTokenizer):
        return tf.TensorSpec((None,), tf.string, key)
    if isinstance(preprocessor, AudioPreprocessor):
        return tf.TensorSpec((None, None), tf.float32, key)
    tensor = model.input[key]
    if len(tensor.shape) == 4:
        return _image_spec(key, tensor.shape, consumer(model, tensor))
    return tf.TensorSpec(tensor.shape, tensor.dtype, key)


def _token_specs(model, key):
    """`KEY_token_ids`, `KEY_padding_mask`, ...: the model's own inputs of
    a text input, flattened into signature names."""
    return {
        f"{key}_{name}": tf.TensorSpec(t.shape, t.dtype, f"{key}_{name}")
        for name, t in model.input[key].items()
    }


def _model_specs(model):
    """The specs of the model's own inputs (preprocessed, e.g. token ids)."""

    def spec(tensor):
        return tf.TensorSpec(tensor.shape, tensor.dtype, tensor.name)

    return keras.tree.map_structure(spec, model.input)


def _classifier_outputs(model, outputs):
    """Named outputs: `probabilities` and `labels` for classes,
    `predictions` for regression, `logits` and `labels` for logits."""
    head = next(
        (
            layer
            for layer in model.layers
            if layer.name in ("head", "probabilities")
        ),
        None,
    )
    activation = getattr(head, "activation", None)
    if not isinstance(activation, str):
        activation = getattr(activation, "__name__", None)
    num_classes = outputs.shape[-1]
    loss = getattr(model, "loss", None)
    regression = getattr(head, "num_classes", 0) is None or (
        num_classes == 1
        and (
            loss == "mean_squared_error"
            or type(loss).__name__ == "MeanSquaredError"
        )
    )
    if regression:
        return {"predictions": outputs}
    if activation == "sigmoid":
        return {
            "probabilities": outputs,
            "labels": tf.cast(outputs > 0.5, "int32"),
        }
    name = "probabilities" if activation == "softmax" else "logits"
    return {name: outputs, "labels": tf.argmax(outputs, -1, "int32")}


def _classifier_functions(model, raw_inputs):
    preprocessor = model.preprocessor
    if not raw_inputs or preprocessor is None:
        specs = _model_specs(model)

        def serve(inputs):
            return _classifier_outputs(model, model(inputs, training=False))

        return {"serving_default": (serve, specs)}
    preprocessors = getattr(preprocessor, "preprocessors", {})
    optional = set(getattr(preprocessor, "missing", None) or ())
    token_keys = sorted(
        key for key, layer in preprocessors.items() if needs_token_ids(layer)
    )
    if set(token_keys) & optional:
        raise ValueError(
            f"Inputs {sorted(set(token_keys) & optional)} may be missing and "
            "are tokenized with ops that are not core TensorFlow (a KerasHub "
            "tokenizer); keras_mm cannot serve both. Export with "
            "`raw_inputs=False` to serve the model's own inputs."
        )
    if token_keys:
        warnings.warn(
            f"Inputs {token_keys} are tokenized by a KerasHub tokenizer, "
            "whose TensorFlow Text ops a stock TF Serving lacks (a "
            "SavedModel that holds them does not even load there), so the "
            "signatures take their token ids: `KEY_token_ids`, "
            "`KEY_padding_mask`, ... Tokenize on the client with "
            "`model.preprocessor.preprocessors[KEY]` (or the KerasHub "
            "tokenizer of the preset).",
            ExportWarning,
            stacklevel=3,
        )
    specs = {}
    for key in model.input:
        if key in token_keys:
            specs.update(_token_specs(model, key))
        elif key != "present":
            specs[key] = _raw_spec(model, key, preprocessors.get(key))

    def make(specs):
        def serve(inputs):
            inputs = dict(inputs)
            token_inputs = {
                key: {
                    name: inputs.pop(f"{key}_{name}")
                    for name in model.input[key]
                }
                for key in token_keys
                if f"{key}_token_ids" in specs
            }
            features = preprocessor(_decoded(inputs, specs))
            features.update(token_inputs)
            return _classifier_outputs(model, model(features, training=False))

        return serve

    functions = {}
    # Each set of inputs that a request may leave out (where the model
    # takes missing inputs) gets its own signature: `without_audio`, ...
    for count in range(len(optional) + 1):
        for omitted in itertools.combinations(sorted(optional), count):
            if len(omitted) == len(specs):
                continue
            kept = {k: s for k, s in specs.items() if k not in omitted}
            name = "serving_default"
            if omitted:
                name = "without_" + "_".join(omitted)
            functions[name] = (make(kept), kept)
            if _takes_encoded_images(kept):
                encoded = ENCODED_IMAGES + (f"_{name}" if omitted else "")
                functions[encoded] = (make(kept), _with_encoded_images(kept))
    return functions


def captions_from_ids(token_ids, vocabulary):
    """Generated ids `(batch, length)` -> captions, in the graph, exactly as
    `CaptionPreprocessor.detokenize` writes them: cut at the first
    `"[END]"`, special tokens dropped, closing punctuation attached."""
    ended = tf.cumsum(tf.cast(token_ids == END_TOKEN_ID, "int32"), axis=1)
    keep = (ended == 0) & (token_ids >= len(SPECIAL_TOKENS))
    words = tf.ragged.boolean_mask(
        tf.gather(tf.constant(vocabulary), token_ids), keep
    )
    text = tf.strings.reduce_join(words, axis=1, separator=" ")
    closing = "".join("\\" + c for c in sorted(_CLOSING_PUNCTUATION))
    return tf.strings.regex_replace(text, f" ([{closing}])", r"\1")


def _captioner_functions(model):
    sampler = keras_hub.samplers.GreedySampler()
    max_length = model.preprocessor.sequence_length
    if model.modality == "images":
        spec = _image_spec("images", model.encoder.input.shape, model.encoder)
    else:
        spec = tf.TensorSpec((None, None), tf.float32, "audio")
    audio = model.preprocessor.input_preprocessor
    specs = {model.modality: spec}

    def serve(inputs):
        x = _decoded(inputs, specs)[model.modality]
        if audio is not None:
            x = audio(x)
        token_ids = model._generate_step(x, sampler, max_length)
        return {"captions": captions_from_ids(token_ids, model.vocabulary)}

    functions = {"serving_default": (serve, specs)}
    if _takes_encoded_images(specs):
        functions[ENCODED_IMAGES] = (serve, _with_encoded_images(specs))
    return functions


def transcripts_from_logits(logits, vocabulary):
    """CTC logits -> greedy transcripts, in the graph, as
    `SpeechRecognizer.decode` writes them."""
    lengths = tf.fill(tf.shape(logits)[:1], tf.shape(logits)[1])
    decoded, _ = keras.ops.ctc_decode(
        logits, lengths, strategy="greedy", mask_index=BLANK_ID
    )
    ids = decoded[0]
    characters = tf.constant([""] + list(vocabulary))
    keep = ids > BLANK_ID
    return tf.strings.reduce_join(
        tf.ragged.boolean_mask(tf.gather(characters, tf.maximum(ids, 0)), keep),
        axis=1,
    )


def _speech_functions(model):
    specs = {"audio": tf.TensorSpec((None, None), tf.float32, "audio")}

    def serve(inputs):
        logits = model(model.preprocessor(inputs["audio"]), training=False)
        logits = tf.cast(logits, "float32")
        return {
            "transcripts": transcripts_from_logits(logits, model.vocabulary)
        }

    return {"serving_default": (serve, specs)}


def serving_functions(model, raw_inputs=True):
    """`{signature name: (function, input signature dict)}` of `model`.

    Classifiers get `serving_default` over raw inputs, `encoded_images`
    when they take images of a fixed size, and `without_KEY` signatures
    (and `encoded_images_without_KEY`) for inputs the model may miss.
    Captioners and speech recognizers get `serving_default` (and
    captioners of images `encoded_images`).
    """
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            "Serving functions are TensorFlow graphs: call this under the "
            "TensorFlow backend (`keras_mm.export.saved_model` does this "
            "for you from any backend)."
        )
    if isinstance(model, Captioner):
        return _captioner_functions(model)
    if isinstance(model, SpeechRecognizer):
        return _speech_functions(model)
    return _classifier_functions(model, raw_inputs)
