"""Builders: plain functions that assemble encoders into one fused model."""

import keras

from keras_mm import fusion as fusion_lib
from keras_mm.encoders.audio import audio as audio_encoder
from keras_mm.encoders.encoder import Encoder
from keras_mm.encoders.image import image as image_encoder_from_name
from keras_mm.heads.classification_head import ClassificationHead
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.image_preprocessing import image_shapes
from keras_mm.layers.missing_modalities import MissingModalities
from keras_mm.layers.multimodal_preprocessor import MultimodalPreprocessor
from keras_mm.models.captioner import Captioner
from keras_mm.models.multimodal_classifier import MultimodalClassifier
from keras_mm.models.multimodal_classifier import check_class_names
from keras_mm.models.speech_recognizer import SpeechRecognizer
from keras_mm.models.task import check_learning_rate
from keras_mm.schedules import WarmupCosineDecay
from keras_mm.utils.inputs import inputs_like
from keras_mm.utils.validation import check_rate


def _placeholder(encoder):
    """The raw input of one row that stands in for a missing one."""
    preprocessor = encoder.preprocessor
    if isinstance(preprocessor, AudioPreprocessor):
        return {"shape": [1], "dtype": "float32"}
    if preprocessor is not None:
        return {"shape": [], "dtype": "string"}
    shape = list(encoder.input.shape[1:])
    if None in shape:
        sizes = image_shapes(encoder)
        known = list(sizes[0]) if sizes else [1] * len(shape)
        shape = [k if s is None else s for s, k in zip(shape, known)]
    return {"shape": shape, "dtype": encoder.input.dtype}


def _missing_keys(allow_missing, modality_dropout, encoders):
    if allow_missing is False and modality_dropout:
        allow_missing = True
    if allow_missing is True:
        return sorted(encoders)
    if allow_missing is False:
        return []
    keys = [allow_missing] if isinstance(allow_missing, str) else allow_missing
    if not isinstance(keys, (list, tuple)) or any(
        k not in encoders for k in keys
    ):
        raise ValueError(
            "`allow_missing` must be a bool or a list of keys of `encoders` "
            f"({sorted(encoders)}). Received: allow_missing={allow_missing!r}"
        )
    return sorted(keys)


def _multipliers(learning_rates, learning_rate, encoders):
    """Per-encoder learning rates as multipliers of `learning_rate`, keyed
    by encoder name (the layer path of its variables)."""
    if learning_rates is None:
        return None
    if not isinstance(learning_rates, dict) or any(
        key not in encoders
        or isinstance(rate, bool)
        or not isinstance(rate, (int, float))
        or rate < 0
        for key, rate in learning_rates.items()
    ):
        raise ValueError(
            "`learning_rates` must be a dict of keys of `encoders` "
            f"({sorted(encoders)}) to learning rates >= 0. Received: "
            f"learning_rates={learning_rates!r}"
        )
    if not isinstance(learning_rate, (int, float)) or learning_rate <= 0:
        raise ValueError(
            "Per-encoder `learning_rates` need a number `learning_rate` > 0. "
            f"Received: learning_rate={learning_rate!r}"
        )
    return {
        encoders[key].name: rate / learning_rate
        for key, rate in learning_rates.items()
    }


def _scheduled(learning_rate, schedule):
    """`learning_rate` under `schedule` (`"warmup_cosine"` or `None`); a
    `LearningRateSchedule` is kept as it is."""
    if schedule not in ("warmup_cosine", None):
        raise ValueError(
            '`schedule` must be "warmup_cosine" or None. '
            f"Received: schedule={schedule!r}"
        )
    if schedule and not isinstance(
        learning_rate, keras.optimizers.schedules.LearningRateSchedule
    ):
        return WarmupCosineDecay(check_learning_rate(learning_rate))
    return learning_rate


def build_classifier(
    encoders,
    num_classes,
    fusion="concat",
    hidden_dim=128,
    dropout=0.1,
    activation="softmax",
    learning_rate=1e-3,
    schedule="warmup_cosine",
    learning_rates=None,
    allow_missing=False,
    modality_dropout=0.0,
    hidden_activation="relu",
    class_names=None,
    name="classifier",
):
    """Builds a compiled classifier (or regressor) over any mix of inputs.

    Each encoder turns its input into `{"sequence_output",
    "pooled_output"}`; a fusion layer combines them (token-level padding
    masks are passed along for text); a head (dropout, a hidden layer of
    `hidden_dim`, the output layer) makes the predictions. The
    model is a `keras_mm.models.MultimodalClassifier`: `fit`, `evaluate` and
    `predict` take a dict of raw inputs keyed like `encoders` (images as
    pixel arrays, text as lists of strings, audio as waveforms), and the
    text tokenisation and audio padding run in the `tf.data` pipeline, on
    every backend. It comes compiled (Adam, and the loss that matches the
    head); call `compile` again to change that.

    Missing modalities: with `allow_missing`, `predict` (and `fit`) accept
    inputs where a modality is missing, and a learned "missing" embedding
    takes the place of its features (`keras_mm.layers.MissingModalities`).
    Missing means: the key is left out of the input dict (the whole batch
    lacks it); a row that is `None` or NaN in a list or pandas column; an
    image or audio path that is an empty string; an empty waveform; a text
    that is empty or only whitespace. `modality_dropout` trains that
    embedding by hiding each modality of a training row with that
    probability (never all of a row's modalities).

    Heads:
    - `num_classes=k`, `activation="softmax"`: one class per example,
      integer labels, sparse categorical cross-entropy.
    - `num_classes=k`, `activation="sigmoid"`: multi-label, multi-hot
      labels `(batch, k)`, binary cross-entropy.
    - `num_classes=None`: regression, one linear output, mean squared error.

    Args:
        encoders: dict. Input key (`"images"`, `"text"`, `"audio"`, or any
            name) to a `keras_mm.encoders.Encoder`.
        num_classes: int or `None` (regression).
        fusion: str or layer. `"concat"`, `"gated"`, `"cross_attention"`,
            `"film"`, `"bilinear"`, `"tokens"`, `"late"` or `"query"`
            (see `keras_mm.fusion`), or a fusion layer instance. Defaults
            to `"concat"`.
        hidden_dim: int. Size of the fused features. Defaults to `128`.
        dropout: float. Dropout before the head. Defaults to `0.1`.
        activation: `"softmax"`, `"sigmoid"` or `None` (logits).
        learning_rate: float or a
            `keras.optimizers.schedules.LearningRateSchedule`. Adam's
            (peak) learning rate. Defaults to `1e-3`.
        schedule: `"warmup_cosine"` or `None`. With a float
            `learning_rate`, `"warmup_cosine"` warms up to it over the
            first 200 steps (or tenth of the run), then decays it to zero
            at the end of each `fit` (`keras_mm.schedules.WarmupCosineDecay`);
            `None` keeps it constant. Without the warm-up, the
            cross-attention fusion can stall at chance from the first
            steps (BENCHMARKS.md). Defaults to `"warmup_cosine"`.
        learning_rates: dict or `None`. Input key to the learning rate of
            that key's encoder (`0` freezes it while it still runs in
            training mode; for a true freeze build the encoder with
            `trainable=False`). The model is compiled with
            `keras_mm.optimizers.Adam` and learning-rate multipliers, which
            `keras_mm.callbacks.UnfreezeEncoders` can change during `fit`
            for staged unfreezing.
        allow_missing: bool or list of input keys that may be missing.
            Defaults to `False`, or `True` when `modality_dropout > 0`.
        modality_dropout: float in `[0, 1)`. Defaults to `0.0`.
        hidden_activation: str. Activation of the head's hidden layer.
            Defaults to `"relu"`; `"gelu"` helps when one part of a task
            stays at chance while another is learned (see
            `keras_mm.heads.ClassificationHead`).
        class_names: list of `num_classes` strings, or `None`. Lets `fit`
            take labels as names, `predict_labels` give names, and the
            export serve `label_names`; saved with the model. Defaults to
            `None` (the first `fit` on string labels sets them, sorted).
        name: str. Defaults to `"classifier"`.

    Returns:
        A compiled `keras_mm.models.MultimodalClassifier`.

    Examples:
    >>> texts = ["a red circle", "a blue square"] * 4
    >>> vocab = keras_mm.encoders.text_vocabulary(texts)
    >>> model = keras_mm.build_classifier(
    ...     {"images": keras_mm.encoders.image("cnn_small",
    ...                                        image_shape=(32, 32, 3)),
    ...      "text": keras_mm.encoders.text("bigru_small", vocabulary=vocab,
    ...                                     sequence_length=4)},
    ...     num_classes=2, hidden_dim=16)
    >>> x = {"images": np.zeros((8, 32, 32, 3), "uint8"), "text": texts}
    >>> model.predict(x, verbose=0).shape
    (8, 2)
    """
    if not isinstance(encoders, dict) or not encoders:
        raise ValueError(
            "`encoders` must be a non-empty dict of input key to encoder, "
            "e.g. {'images': keras_mm.encoders.image(...), 'text': "
            f"keras_mm.encoders.text(...)}}. Received: {encoders!r}"
        )
    for key, encoder in encoders.items():
        if not isinstance(encoder, Encoder):
            raise ValueError(
                f"encoders['{key}'] must be a keras_mm.encoders.Encoder "
                "(from keras_mm.encoders.image, text or audio). Received: "
                f"{type(encoder).__name__}"
            )
    # A hidden layer after the fusion lets the head compare modalities: a
    # linear head over concatenated features cannot tell whether the
    # statement's colour is the image's.
    head = ClassificationHead(
        num_classes,
        activation=activation,
        hidden_dim=hidden_dim,
        dropout=dropout,
        hidden_activation=hidden_activation,
        name="head",
    )  # Validates its arguments before anything is built.
    check_rate(modality_dropout=modality_dropout)
    check_class_names(class_names, num_classes)
    multipliers = _multipliers(learning_rates, learning_rate, encoders)
    learning_rate = _scheduled(learning_rate, schedule)
    missing_keys = _missing_keys(allow_missing, modality_dropout, encoders)
    late = fusion == "late" or isinstance(fusion, fusion_lib.LateFusion)
    if isinstance(fusion, str):
        options = {"num_classes": num_classes or 1} if late else {}
        fusion_layer = fusion_lib.get(
            fusion, hidden_dim=hidden_dim, name="fusion", **options
        )
    else:
        fusion_layer = fusion_lib.get(fusion)

    inputs, features = {}, {}
    for key in sorted(encoders):
        encoder = encoders[key]
        inputs[key] = inputs_like(encoder.input, name=key)
        outputs = dict(encoder(inputs[key]))
        mask = (
            inputs[key].get("padding_mask")
            if isinstance(inputs[key], dict)
            else None
        )
        if (
            mask is not None
            and mask.shape[1] == (outputs["sequence_output"].shape[1])
        ):
            outputs["padding_mask"] = mask
        features[key] = outputs
    if missing_keys:
        inputs["present"] = {
            key: keras.Input((), dtype="bool", name=f"{key}_present")
            for key in missing_keys
        }
        features = MissingModalities(
            modality_dropout, name="missing_modalities"
        )(features, inputs["present"])
    if "return_attention_scores" in fusion_layer.call_signature_parameters:
        # The graph keeps the scores, so `keras_mm.visualize` can read them
        # from the model (also after loading); they cost nothing more.
        fused, _ = fusion_layer(features, return_attention_scores=True)
    else:
        fused = fusion_layer(features)
    if late:
        outputs = (
            keras.layers.Activation(
                activation, dtype="float32", name="probabilities"
            )(fused)
            if activation
            else fused
        )
    else:
        outputs = head(fused)
    preprocessors = {
        key: encoder.preprocessor
        for key, encoder in encoders.items()
        if encoder.preprocessor is not None
    }
    model = MultimodalClassifier(
        inputs,
        outputs,
        preprocessor=MultimodalPreprocessor(
            preprocessors,
            missing={key: _placeholder(encoders[key]) for key in missing_keys},
        ),
        num_classes=num_classes,
        activation=activation,
        class_names=class_names,
        learning_rate=learning_rate,
        learning_rate_multipliers=multipliers,
        name=name,
    )
    model.compile()
    return model


def build_captioner(
    encoder=None,
    vocabulary=None,
    sequence_length=20,
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=None,
    dropout=0.1,
    num_encoder_layers=0,
    learning_rate=1e-3,
    name="captioner",
):
    """Builds a compiled captioner: images, speech or both to text.

    The encoder's tokens go through a projection to `hidden_dim` (and
    optionally `num_encoder_layers` Transformer encoder layers); a
    Transformer decoder of `num_layers` layers, with causal self-attention
    over the caption and cross-attention to the encoder tokens, predicts
    the next word. `fit` takes `{"images": pixels, "text": captions}` with
    no labels (teacher forcing is made in the data pipeline, on every
    backend), and `generate(images)` returns captions, with a key/value
    cache and greedy, top-k, top-p or beam search. See
    `keras_mm.models.Captioner`.

    Given an audio encoder (`keras_mm.encoders.audio(...)`), the same
    model transcribes speech with attention: `fit({"audio": waveforms,
    "text": transcripts})` and `generate(waveforms)`, to compare with the
    CTC model of `keras_mm.build_speech_recognizer` on the same data. Its
    vocabulary is one of words, so it writes only words it has seen; give
    it Transformer layers over the audio (`num_encoder_layers=2`), since the
    conv encoder alone sees only a few hundred milliseconds around each
    token.

    Given both, `{"images": image_encoder, "audio": audio_encoder}`, it
    narrates a scene from its picture and its sound: the decoder attends
    to the tokens of both (`fit({"images", "audio", "text"})`,
    `generate({"images", "audio"})`).

    The model comes compiled: Adam, cross-entropy from logits averaged over
    the caption tokens that are not padding, and `next_token_accuracy` (the
    share of those tokens predicted exactly).

    Args:
        encoder: `keras_mm.encoders.Encoder` from
            `keras_mm.encoders.image(...)` or `keras_mm.encoders.audio(...)`,
            a dict of both keyed by `"images"` and `"audio"`, or a name or
            preset accepted by `keras_mm.encoders.image`, such
            as `"cnn_small"` or `"resnet_18"`, built with that function's
            default `image_shape` of `(224, 224, 3)` (build the encoder
            yourself for another size).
        vocabulary: list of str. From `keras_mm.encoders.text_vocabulary(
            captions)`: special tokens first. Words outside it become
            `"[UNK]"`.
        sequence_length: int. Decoder length: captions of up to
            `sequence_length - 1` words (punctuation marks count) are
            learned whole, longer ones are truncated. Defaults to `20`.
        num_layers: int. Decoder layers. Defaults to `2`.
        num_heads: int. Attention heads; must divide `hidden_dim`.
            Defaults to `4`.
        hidden_dim: int. Width of the decoder. Defaults to `128`.
        intermediate_dim: int or `None`. Width of the feed-forward layers.
            Defaults to `4 * hidden_dim`.
        dropout: float. Dropout of the Transformer layers. Defaults to `0.1`.
        num_encoder_layers: int. Transformer encoder layers over the
            encoder tokens. Defaults to `0`.
        learning_rate: float or a
            `keras.optimizers.schedules.LearningRateSchedule`, such as
            `CosineDecay`. Adam's learning rate. Defaults to `1e-3`.
        name: str. Defaults to `"captioner"`.

    Returns:
        A compiled `keras_mm.models.Captioner`.

    Examples:
    >>> captions = ["a red circle", "a blue square", "a red square"]
    >>> model = keras_mm.build_captioner(
    ...     keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
    ...     keras_mm.encoders.text_vocabulary(captions), sequence_length=6,
    ...     num_layers=1, num_heads=2, hidden_dim=16)
    >>> images = np.random.randint(0, 256, (3, 32, 32, 3)).astype("uint8")
    >>> history = model.fit({"images": images, "text": captions}, epochs=2,
    ...                     verbose=0)
    >>> sorted(history.history)
    ['loss', 'next_token_accuracy']
    >>> model.predict({"images": images, "text": captions},
    ...               verbose=0).shape
    (3, 6, 9)
    >>> len(model.generate(images, sampler="beam", num_beams=2))
    3
    """
    if isinstance(encoder, str):
        encoder = image_encoder_from_name(encoder)
    elif not isinstance(encoder, (Encoder, dict)):
        raise ValueError(
            "`encoder` must be a keras_mm.encoders.Encoder (from "
            "`keras_mm.encoders.image(...)` or `keras_mm.encoders.audio"
            "(...)`), a dict of both keyed by 'images' and 'audio', or a "
            "name accepted by `keras_mm.encoders.image`, such as "
            f"'cnn_small'. Received: {type(encoder).__name__}"
        )
    model = Captioner(
        encoder,
        vocabulary,
        sequence_length=sequence_length,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim,
        dropout=dropout,
        num_encoder_layers=num_encoder_layers,
        learning_rate=learning_rate,
        name=name,
    )
    model.compile()
    return model


def build_speech_recognizer(
    vocabulary,
    sample_rate=16000,
    max_duration=4.0,
    num_mel_bins=80,
    hidden_dim=128,
    num_layers=2,
    filters=32,
    dropout=0.1,
    spec_augment=True,
    normalize_features=True,
    learning_rate=3e-3,
    schedule="warmup_cosine",
    waveform_augmentation=False,
    name="speech_recognizer",
    encoder=None,
):
    """Builds a compiled CTC speech recognizer.

    Waveforms become log-mel frames in the graph (normalised per clip;
    SpecAugment while training), a conv front end makes one step every 40
    ms, `num_layers` bidirectional GRUs read them, and a CTC head scores the
    blank and each character of `vocabulary`. `fit(audio, transcripts)`
    takes waveforms or audio file paths and strings (the CTC targets are
    made in the data pipeline), and `transcribe(audio, sampler="greedy" |
    "beam")` returns strings. See `keras_mm.models.SpeechRecognizer` for the
    inputs it accepts and refuses.

    The model comes compiled: Adam and the CTC loss
    (`keras.losses.CTC`). Score transcriptions with
    `keras_mm.metrics.cer` and `wer`.

    Args:
        vocabulary: list of single characters; transcripts are lower-cased
            and may hold only these.
        sample_rate: int. Samples per second. Defaults to `16000`.
        max_duration: float. Longest clip, in seconds. Defaults to `4.0`.
        num_mel_bins: int. Defaults to `80`.
        hidden_dim: int. Width of each GRU layer. Defaults to `128`.
        num_layers: int. Bidirectional GRU layers. Defaults to `2`.
        filters: int. Channels of the conv front end. Defaults to `32`.
        dropout: float. Defaults to `0.1`.
        spec_augment: bool. Defaults to `True`.
        normalize_features: bool. Per-clip mean and variance normalisation
            of the log-mel bins. Defaults to `True`.
        learning_rate: float or a
            `keras.optimizers.schedules.LearningRateSchedule`. Defaults to
            `3e-3`.
        schedule: `"warmup_cosine"` or `None`. With a float
            `learning_rate`, `"warmup_cosine"` warms up to it over the
            first 200 steps (or tenth of the run), then decays it to zero
            at the end of each `fit` (`keras_mm.schedules.WarmupCosineDecay`,
            which spans whatever epochs `fit` is given); `None` keeps it
            constant. Defaults to `"warmup_cosine"`.
        waveform_augmentation: bool or a
            `keras_mm.layers.WaveformAugmentation`. Alter the waveforms
            while training (speed, reverberation, telephone band, gain,
            noise). Off by default: it did not narrow the gap to an
            unheard synthesiser in BENCHMARKS.md, and costs about 40% more
            time per step. Defaults to `False`.
        name: str. Defaults to `"speech_recognizer"`.
        encoder: a `keras_mm.encoders.Encoder` from
            `keras_mm.encoders.audio(...)` to use instead of building one
            (its own sample rate, duration, features and SpecAugment then
            apply, and the arguments above for them are unused). Defaults
            to `None`.

    Returns:
        A compiled `keras_mm.models.SpeechRecognizer`.

    Examples:
    >>> asr = keras_mm.build_speech_recognizer(
    ...     list("abc "), sample_rate=8000, max_duration=0.5,
    ...     num_mel_bins=16, hidden_dim=16, num_layers=1, filters=4)
    >>> audio = [np.zeros(4000, "float32"), np.zeros(2000, "float32")]
    >>> history = asr.fit(audio, ["abc", "a b"], verbose=0)
    >>> len(asr.transcribe(audio, sampler="beam", num_beams=4))
    2
    """
    learning_rate = _scheduled(learning_rate, schedule)
    if encoder is None:
        encoder = audio_encoder(
            sample_rate=sample_rate,
            max_duration=max_duration,
            num_mel_bins=num_mel_bins,
            normalize_features=normalize_features,
            hidden_dim=hidden_dim,
            filters=filters,
            spec_augment=spec_augment,
            waveform_augmentation=waveform_augmentation,
            # Narrower time masks than a classifier's encoder: CTC must
            # still hear most of every character.
            max_time_mask_fraction=0.05,
        )
    model = SpeechRecognizer(
        encoder,
        vocabulary,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
        dropout=dropout,
        learning_rate=learning_rate,
        name=name,
    )
    model.compile()
    return model
