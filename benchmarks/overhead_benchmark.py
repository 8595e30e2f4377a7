"""Training step time of keras_mm models against the same models in plain Keras.

Three well-known architectures are built twice, with random weights: once
by hand (functional API, `keras.layers`, `keras.applications`,
`keras_hub` layers and backbones) and once through a keras_mm builder.
Both are trained on the same random batch and the script reports the
median milliseconds per training step of each, and their ratio (the
project's target: keras_mm / hand-written <= 1.05).

Pairs, at the default sizes (batch 8, 96 x 96 images; `--tiny` swaps the
image backbones for keras_mm's `cnn_small`, written out by hand on the
hand-written side, and shrinks every width, for a quick check):

- `captioner`: the keras.io "Image captioning" design. EfficientNet-B0
  feature map (`keras_hub.models.EfficientNetBackbone` with keras_mm's
  `efficientnet_b0` config, the one of KerasHub's
  `efficientnet_b0_ra_imagenet` preset) -> its cells as tokens -> Dense
  projection to 256 -> 1 `keras_hub.layers.TransformerEncoder` -> a caption
  of 24 tokens (`TokenAndPositionEmbedding`) through 1
  `keras_hub.layers.TransformerDecoder` (causal self-attention and
  cross-attention; 4 heads, feed-forward 512, dropout 0.1) -> logits over
  5000 words. Loss: cross-entropy from logits averaged over the caption
  tokens that are not padding. keras_mm: `build_captioner(encoder=
  keras_mm.encoders.image("efficientnet_b0", image_shape=...),
  num_layers=1, num_encoder_layers=1, ...)`.
- `classifier`: the keras.io "Multimodal entailment" design with one image
  and one text. `keras.applications.ResNet50V2(include_top=False,
  weights=None)`, mean-pooled, and a small `keras_hub.models.BertBackbone`
  (2 layers, width 256, 4 heads, feed-forward 1024, 64 tokens, 1000-piece
  made-up vocabulary), its pooled output; the two vectors concatenated ->
  Dense 256 -> dropout 0.1 -> Dense 256 ReLU -> 3-way softmax. keras_mm:
  `build_classifier({"images": keras_mm.encoders.image(<a ResNet50V2>),
  "text": keras_mm.encoders.text(<a BertBackbone>, tokenizer=<a
  BertTokenizer>)}, num_classes=3, fusion="concat", hidden_dim=256)`.
- `recognizer`: a DeepSpeech2-style CTC model (the keras.io "CTC ASR"
  example) in the shape of `build_speech_recognizer`'s: 2 s of 16 kHz audio
  as 80 log-mel bands every 10 ms -> two 3x3 stride-2 `Conv2D` blocks (32
  filters, batch norm, ReLU) -> Dense 256 -> 3 x (dropout 0.1,
  bidirectional GRU 128 + 128) -> Dense logits over the blank and 28
  characters, CTC loss.

Both sides use Adam (1e-3) and the same loss; both run in float32.

Differences, all on the keras_mm side unless said otherwise (they are part
of what is measured):

- Inputs. Each model gets what its own data pipeline would hand it. The
  hand-written models get float32 images already normalised and, for
  speech, log-mel frames computed before training; keras_mm models get
  uint8 pixels and raw waveforms with a sample-level padding mask, and do
  the rest in the graph: `ImagePreprocessing` (cast, scale and offset; no
  resize, the sizes match) and `AudioFeatures` (an FFT of windowed frames,
  mel matrix, log). The hand side's log-mel frames are made
  with that same `keras_mm.layers.AudioFeatures` layer, outside the timed
  steps, so both see the same features; no keras_mm layer is in a
  hand-written model.
- Optimizer: the builders compile with `keras_mm.optimizers.Adam`, Keras'
  Adam plus a per-variable learning-rate multiplier (all 1 here) read from
  an optimizer variable at every update; the hand side uses
  `keras.optimizers.Adam`.
- Captioner: keras_mm adds a learned position embedding to the image
  tokens (`tokens x 256` more weights, always on when the number of tokens
  is fixed); its image encoder also mean-pools the tokens into a
  `pooled_output` the captioner does not read. The keras.io example's own
  blocks (an encoder block of LayerNorm, a ReLU Dense and one attention
  layer, with no feed-forward sublayer; 1 and 2 heads; width 512; 299 px
  images; `keras.applications.EfficientNetB0`) are replaced on both sides
  by KerasHub's Transformer layers and backbone, so the two models compute
  the same thing; `keras.applications.EfficientNetB0`
  is another network (stochastic depth 0.2, batch-norm epsilon 1e-3,
  in-model rescaling) and is used on neither side.
- Classifier: the keras.io example projects each modality (Dense, GELU,
  Dense, dropout, residual, LayerNorm) before concatenating and feeds two
  images; `fusion="concat"` concatenates the pooled vectors and projects
  once, and the builder always adds the head's ReLU layer, so the
  hand-written model follows keras_mm's form and takes one image. A
  per-modality projection head is not something `build_classifier` can
  express with `fusion="concat"` (it would take a custom fusion layer). A
  Keras-model backbone gets pixels scaled to [0, 1] in keras_mm (there is
  no way to ask for ResNet50V2's own [-1, 1]); the hand side feeds [-1, 1],
  which costs the same. The builder passes BERT's padding mask to the
  fusion layer, which does not read it.
- Recognizer: keras_mm gives its GRUs (`keras_mm.layers.PaddedGRU`) the
  frame padding mask (all clips here are full length, so the mask is all
  true and the results equal the unmasked ones); they run unmasked but
  roll each clip's padding to the front of the backward direction, two
  gathers per layer. It forces padded steps to the blank
  (`BlankPadding`, an elementwise select); its conv front end also
  mean-pools a `pooled_output` that is not read. `spec_augment=False` is
  passed because the hand-written model has no SpecAugment (the builder's
  default turns it on). The keras.io example's own front end (11x41 and
  11x21 kernels, 5 GRU layers of 512 units, STFT magnitudes) is replaced
  on both sides by the builder's.

Timing: the models of a pair are built and compiled (Keras' defaults for
the backend, e.g. no XLA for TensorFlow on a CPU) and warmed up with one
`fit` call of 2 steps, which compiles the train step. Then `--repeats`
rounds, each of them the hand-written model then the keras_mm one, each
one `keras.Model.fit` call of `--steps` batches (`epochs=1`,
`shuffle=False`, `verbose=0`) on NumPy arrays holding the same batch
repeated. A callback times every step from `on_train_batch_begin` to
`on_train_batch_end` (the batch's slicing and transfer, the compiled step,
and the wait for its loss); a round's figure is the median of its steps,
so `fit`'s fixed cost per call (data adapter, callbacks) is left out. The
keras_mm models get their inputs already tokenised (token ids, padding
masks, padded waveforms, CTC targets), so they are fitted as
`keras.Model.fit(model, ...)`, as the hand-written ones are:
`PipelineModel.fit` would otherwise check the inputs and map its
preprocessor over them in `tf.data`, which the hand-written side has no
counterpart of. Reported: the median over rounds of each side's ms/step,
the ratio of those medians and the median of the per-round ratios, the
parameter counts of both models (trainable, and total with batch-norm
statistics), the backend and the process'
peak resident memory (`resource.getrusage`, cumulative over the pairs run
so far).

    KERAS_BACKEND=jax python -m benchmarks.overhead_benchmark
    KERAS_BACKEND=tensorflow python -m benchmarks.overhead_benchmark

Use `--tiny` for a quick check, `--models` to run some of
`captioner,classifier,recognizer` and `--json PATH` to keep the figures.
"""

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import sys
import time

import keras
import keras_hub
import numpy as np
from keras import ops

import keras_mm
from keras_mm.encoders.image_architectures import CNN_SMALL_FILTERS
from keras_mm.encoders.image_architectures import EFFICIENTNET_B0_CONFIG
from keras_mm.encoders.image_architectures import IMAGENET_MEAN
from keras_mm.encoders.image_architectures import IMAGENET_STD

MODELS = ("captioner", "classifier", "recognizer")
TARGET_RATIO = 1.05
WARMUP_STEPS = 2
ALPHABET = list("abcdefghijklmnopqrstuvwxyz '")
# keras_mm's caption tokens: "[PAD]", "[UNK]", "[START]", "[END]".
CAPTION_SPECIALS = ["[PAD]", "[UNK]", "[START]", "[END]"]
BERT_SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]

SIZES = {
    "default": {
        "batch_size": 8,
        "steps": 3,
        "repeats": 5,
        "image_size": 96,
        "captioner": {
            "backbone": "efficientnet_b0",
            "vocabulary_size": 5000,
            "sequence_length": 24,
            "hidden_dim": 256,
            "num_heads": 4,
            "intermediate_dim": 512,
        },
        "classifier": {
            "backbone": "resnet50v2",
            "vocabulary_size": 1000,
            "sequence_length": 64,
            "num_layers": 2,
            "num_heads": 4,
            "bert_dim": 256,
            "intermediate_dim": 1024,
            "hidden_dim": 256,
        },
        "recognizer": {
            "sample_rate": 16000,
            "max_duration": 2.0,
            "num_mel_bins": 80,
            "hidden_dim": 256,
            "num_layers": 3,
            "filters": 32,
        },
    },
    "tiny": {
        "batch_size": 2,
        "steps": 2,
        "repeats": 2,
        "image_size": 32,
        "captioner": {
            "backbone": "cnn_small",
            "vocabulary_size": 40,
            "sequence_length": 8,
            "hidden_dim": 16,
            "num_heads": 2,
            "intermediate_dim": 32,
        },
        "classifier": {
            "backbone": "cnn_small",
            "vocabulary_size": 40,
            "sequence_length": 8,
            "num_layers": 1,
            "num_heads": 2,
            "bert_dim": 16,
            "intermediate_dim": 32,
            "hidden_dim": 16,
        },
        "recognizer": {
            "sample_rate": 8000,
            "max_duration": 0.5,
            "num_mel_bins": 16,
            "hidden_dim": 16,
            "num_layers": 1,
            "filters": 4,
        },
    },
}


# === Shared pieces ===
def small_cnn(image_shape):
    """keras_mm's `cnn_small`, written out: four 3x3 stride-2 conv, batch
    norm (momentum 0.9), ReLU blocks."""
    inputs = keras.Input(image_shape)
    x = inputs
    for filters in CNN_SMALL_FILTERS:
        x = keras.layers.Conv2D(
            filters, 3, strides=2, padding="same", use_bias=False
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
    return keras.Model(inputs, x, name="small_cnn")


def parameter_counts(model):
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"trainable": trainable, "total": int(model.count_params())}


def random_images(rng, batch, size):
    return rng.integers(0, 256, (batch, size, size, 3)).astype("uint8")


def imagenet_normalised(pixels):
    mean = np.array(IMAGENET_MEAN, "float32")
    std = np.array(IMAGENET_STD, "float32")
    return ((pixels.astype("float32") / 255.0 - mean) / std).astype("float32")


# === Captioner ===
def captioner_pair(config, batch, size, rng):
    c = config["captioner"]
    shape = (size, size, 3)
    words = [f"w{i}" for i in range(c["vocabulary_size"] - 4)]
    vocabulary = CAPTION_SPECIALS + words
    length = c["sequence_length"]
    dims = (c["intermediate_dim"], c["num_heads"])

    keras_mm_model = keras_mm.build_captioner(
        encoder=keras_mm.encoders.image(c["backbone"], image_shape=shape),
        vocabulary=vocabulary,
        sequence_length=length,
        num_layers=1,
        num_encoder_layers=1,
        num_heads=c["num_heads"],
        hidden_dim=c["hidden_dim"],
        intermediate_dim=c["intermediate_dim"],
        dropout=0.1,
    )
    vocabulary_size = keras_mm_model.preprocessor.vocabulary_size

    if c["backbone"] == "efficientnet_b0":
        backbone = keras_hub.models.EfficientNetBackbone(
            **EFFICIENTNET_B0_CONFIG, input_shape=shape
        )
        normalise = imagenet_normalised
    else:
        backbone = small_cnn(shape)

        def normalise(pixels):
            return pixels.astype("float32") / 255.0

    images = keras.Input(shape, name="images")
    token_ids = keras.Input((length,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((length,), dtype="bool", name="padding_mask")
    features = backbone(images)
    tokens = keras.layers.Reshape((-1, features.shape[-1]))(features)
    x = keras.layers.Dense(c["hidden_dim"])(tokens)
    x = keras_hub.layers.TransformerEncoder(*dims, dropout=0.1)(x)
    y = keras_hub.layers.TokenAndPositionEmbedding(
        vocabulary_size, length, c["hidden_dim"]
    )(token_ids)
    y = keras_hub.layers.TransformerDecoder(*dims, dropout=0.1)(
        y, x, decoder_padding_mask=padding_mask
    )
    logits = keras.layers.Dense(vocabulary_size)(y)
    hand = keras.Model(
        {
            "images": images,
            "token_ids": token_ids,
            "padding_mask": padding_mask,
        },
        logits,
        name="hand_captioner",
    )
    hand.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        ),
        weighted_metrics=[
            keras.metrics.SparseCategoricalAccuracy(name="next_token_accuracy")
        ],
    )

    # Teacher forcing as keras_mm's CaptionPreprocessor makes it: "[START]"
    # words "[END]", padded; inputs drop the last token, targets the first.
    pixels = random_images(rng, batch, size)
    num_words = rng.integers(length // 2, length, batch)
    sequence = np.zeros((batch, length + 1), "int32")
    for row, n in enumerate(num_words):
        sequence[row, 0] = 2
        sequence[row, 1 : n + 1] = rng.integers(4, vocabulary_size, n)
        sequence[row, n + 1] = 3
    mask = np.arange(length + 1)[None] < (num_words[:, None] + 2)
    text = {"token_ids": sequence[:, :-1], "padding_mask": mask[:, :-1]}
    targets = sequence[:, 1:]
    weights = mask[:, 1:].astype("float32")
    return (
        (hand, ({"images": normalise(pixels), **text}, targets, weights)),
        (keras_mm_model, ({"images": pixels, **text}, targets, weights)),
    )


# === Classifier ===
def classifier_pair(config, batch, size, rng):
    c = config["classifier"]
    shape = (size, size, 3)
    length = c["sequence_length"]
    vocabulary = BERT_SPECIALS + [
        f"w{i}" for i in range(c["vocabulary_size"] - len(BERT_SPECIALS))
    ]

    def image_backbone():
        if c["backbone"] == "resnet50v2":
            return keras.applications.ResNet50V2(
                include_top=False, weights=None, input_shape=shape
            )
        return small_cnn(shape)

    def bert():
        return keras_hub.models.BertBackbone(
            vocabulary_size=len(vocabulary),
            num_layers=c["num_layers"],
            num_heads=c["num_heads"],
            hidden_dim=c["bert_dim"],
            intermediate_dim=c["intermediate_dim"],
            dropout=0.1,
            max_sequence_length=length,
        )

    keras_mm_model = keras_mm.build_classifier(
        {
            "images": keras_mm.encoders.image(
                image_backbone(), image_shape=shape
            ),
            "text": keras_mm.encoders.text(
                bert(),
                tokenizer=keras_hub.models.BertTokenizer(
                    vocabulary=vocabulary, lowercase=True
                ),
                sequence_length=length,
            ),
        },
        num_classes=3,
        fusion="concat",
        hidden_dim=c["hidden_dim"],
        dropout=0.1,
    )

    images = keras.Input(shape, name="images")
    text = {
        "token_ids": keras.Input((length,), dtype="int32", name="token_ids"),
        "segment_ids": keras.Input(
            (length,), dtype="int32", name="segment_ids"
        ),
        "padding_mask": keras.Input(
            (length,), dtype="int32", name="padding_mask"
        ),
    }
    image_vector = keras.layers.GlobalAveragePooling2D()(
        image_backbone()(images)
    )
    text_vector = bert()(text)["pooled_output"]
    x = keras.layers.Concatenate()([image_vector, text_vector])
    x = keras.layers.Dense(c["hidden_dim"])(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Dense(c["hidden_dim"], activation="relu")(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    hand = keras.Model(
        {"images": images, "text": text}, outputs, name="hand_classifier"
    )
    hand.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=["sparse_categorical_accuracy"],
    )

    # What BertTextClassifierPreprocessor makes: "[CLS]" pieces "[SEP]",
    # padded with "[PAD]" (0), one segment.
    pixels = random_images(rng, batch, size)
    num_pieces = rng.integers(length // 4, length - 1, batch)
    token_ids = np.zeros((batch, length), "int32")
    for row, n in enumerate(num_pieces):
        token_ids[row, 0] = 2
        token_ids[row, 1 : n + 1] = rng.integers(5, len(vocabulary), n)
        token_ids[row, n + 1] = 3
    tokens = {
        "token_ids": token_ids,
        "segment_ids": np.zeros((batch, length), "int32"),
        "padding_mask": (
            np.arange(length)[None] < (num_pieces[:, None] + 2)
        ).astype("int32"),
    }
    labels = rng.integers(0, 3, batch).astype("int32")
    if c["backbone"] == "resnet50v2":
        hand_pixels = pixels.astype("float32") / 127.5 - 1.0  # ResNetV2's.
    else:
        hand_pixels = pixels.astype("float32") / 255.0
    return (
        (hand, ({"images": hand_pixels, "text": tokens}, labels, None)),
        (keras_mm_model, ({"images": pixels, "text": tokens}, labels, None)),
    )


# === Recognizer ===
def ctc_loss(y_true, y_pred):
    """CTC with targets padded with the blank (0): a target's length is its
    count of non-zero ids; every clip uses all steps."""
    targets = ops.cast(y_true, "int32")
    target_lengths = ops.sum(ops.cast(targets != 0, "int32"), axis=-1)
    steps = ops.full((ops.shape(y_pred)[0],), ops.shape(y_pred)[1], "int32")
    return ops.ctc_loss(
        targets, ops.cast(y_pred, "float32"), target_lengths, steps, 0
    )


def recognizer_pair(config, batch, size, rng):
    c = config["recognizer"]
    keras_mm_model = keras_mm.build_speech_recognizer(
        ALPHABET,
        sample_rate=c["sample_rate"],
        max_duration=c["max_duration"],
        num_mel_bins=c["num_mel_bins"],
        hidden_dim=c["hidden_dim"],
        num_layers=c["num_layers"],
        filters=c["filters"],
        dropout=0.1,
        spec_augment=False,
    )
    num_samples = int(round(c["sample_rate"] * c["max_duration"]))
    waveforms = (0.1 * rng.normal(size=(batch, num_samples))).astype("float32")
    log_mel = keras_mm.layers.AudioFeatures(
        c["sample_rate"], "log_mel", num_mel_bins=c["num_mel_bins"]
    )
    frames = ops.convert_to_numpy(log_mel(waveforms))
    num_frames, num_bins = frames.shape[1:]

    features = keras.Input((num_frames, num_bins), name="features")
    x = keras.layers.Reshape((num_frames, num_bins, 1))(features)
    for _ in range(2):
        x = keras.layers.ZeroPadding2D(1)(x)
        x = keras.layers.Conv2D(
            c["filters"], 3, strides=2, padding="valid", use_bias=False
        )(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
        x = keras.layers.ReLU()(x)
    x = keras.layers.Reshape((x.shape[1], x.shape[2] * x.shape[3]))(x)
    x = keras.layers.Dense(c["hidden_dim"])(x)
    dropout = keras.layers.Dropout(0.1)
    for _ in range(c["num_layers"]):
        x = dropout(x)
        x = keras.layers.Bidirectional(
            keras.layers.GRU(c["hidden_dim"] // 2, return_sequences=True)
        )(x)
    logits = keras.layers.Dense(len(ALPHABET) + 1)(x)
    hand = keras.Model(features, logits, name="hand_recognizer")
    hand.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ctc_loss)

    # CTC targets as keras_mm's SpeechPreprocessor makes them: character
    # ids from 1, padded with the blank to the number of steps.
    steps = keras_mm_model.num_steps
    if hand.output.shape[1] != steps:
        raise AssertionError(
            f"Steps differ: hand-written {hand.output.shape[1]}, keras_mm "
            f"{steps}."
        )
    lengths = rng.integers(max(steps // 8, 1), max(steps // 3, 2), batch)
    labels = np.zeros((batch, steps), "int32")
    for row, n in enumerate(lengths):
        labels[row, :n] = rng.integers(1, len(ALPHABET) + 1, n)
    audio = {
        "audio": waveforms,
        "audio_padding_mask": np.ones((batch, num_samples), bool),
    }
    return (
        (hand, (frames, labels, None)),
        (keras_mm_model, (audio, labels, None)),
    )


PAIRS = {
    "captioner": captioner_pair,
    "classifier": classifier_pair,
    "recognizer": recognizer_pair,
}


# === Timing ===
def repeated(data, times):
    """`(x, y, sample_weight)` with every array repeated `times` along the
    batch axis."""

    def repeat(a):
        if isinstance(a, dict):
            return {key: repeat(value) for key, value in a.items()}
        return None if a is None else np.concatenate([a] * times)

    return tuple(repeat(part) for part in data)


class StepTimer(keras.callbacks.Callback):
    """Seconds from the start to the end of each training batch.

    Overriding `on_train_batch_end` makes Keras call it synchronously with
    the logs converted to Python numbers, which waits for the step to
    finish (JAX and TensorFlow dispatch asynchronously otherwise)."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.losses = []
        self._start = None

    def on_train_batch_begin(self, batch, logs=None):
        self._start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        self.losses.append(float(logs["loss"]))


def fit_steps(model, data, steps, batch):
    """One `keras.Model.fit` call over `steps` batches: the median seconds
    of its steps, and the last loss."""
    x, y, weights = repeated(data, steps)
    timer = StepTimer()
    keras.Model.fit(
        model,
        x,
        y,
        sample_weight=weights,
        batch_size=batch,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[timer],
    )
    if len(timer.seconds) != steps:
        raise AssertionError(
            f"{model.name} ran {len(timer.seconds)} steps, not {steps}."
        )
    return statistics.median(timer.seconds), timer.losses[-1]


def peak_rss_mib():
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def run_pair(name, config, args):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    sides = PAIRS[name](config, args.batch_size, args.image_size, rng)
    labels = ("hand-written", "keras_mm")
    times = {label: [] for label in labels}
    losses = {}
    for label, (model, data) in zip(labels, sides):
        fit_steps(model, data, WARMUP_STEPS, args.batch_size)  # Compiles.
    for _ in range(args.repeats):
        for label, (model, data) in zip(labels, sides):
            seconds, loss = fit_steps(model, data, args.steps, args.batch_size)
            times[label].append(1000 * seconds)
            losses[label] = loss
    row = {"model": name}
    for label, (model, _) in zip(labels, sides):
        key = label.replace("-", "_")
        row[key] = {
            "name": model.name,
            "class": type(model).__name__,
            "params": parameter_counts(model),
            "ms_per_step": times[label],
            "median_ms_per_step": statistics.median(times[label]),
            "last_loss": losses[label],
            "jit_compile": bool(model.jit_compile),
        }
    hand, ours = row["hand_written"], row["keras_mm"]
    row["ratio"] = ours["median_ms_per_step"] / hand["median_ms_per_step"]
    row["paired_ratio"] = statistics.median(
        b / a for a, b in zip(hand["ms_per_step"], ours["ms_per_step"])
    )
    row["trainable_params_ratio"] = (
        ours["params"]["trainable"] / hand["params"]["trainable"]
    )
    row["peak_rss_mib"] = peak_rss_mib()
    del sides
    keras.backend.clear_session()
    gc.collect()
    return row


def table(rows, header):
    lines = [
        header,
        "",
        "| model | hand-written params | keras_mm params | hand-written "
        "ms/step | keras_mm ms/step | keras_mm / hand-written | per-round "
        f"ratio | <= {TARGET_RATIO} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        hand, ours = row["hand_written"], row["keras_mm"]

        def params(side):
            counts = side["params"]
            return f"{counts['trainable']:,} ({counts['total']:,})"

        lines.append(
            f"| {row['model']} | {params(hand)} | {params(ours)} | "
            f"{hand['median_ms_per_step']:.1f} | "
            f"{ours['median_ms_per_step']:.1f} | {row['ratio']:.3f} | "
            f"{row['paired_ratio']:.3f} | "
            f"{'yes' if row['ratio'] <= TARGET_RATIO else 'no'} |"
        )
    lines += [
        "",
        "Params: trainable (total, with batch-norm statistics).",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    config = SIZES["tiny" if args.tiny else "default"]
    for option in ("batch_size", "steps", "repeats", "image_size"):
        if getattr(args, option) is None:
            setattr(args, option, config[option])
    names = [m for m in args.models.split(",") if m]
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        parser.error(f"unknown --models {unknown}; choose from {MODELS}")
    for option in ("batch_size", "steps", "repeats", "image_size"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1")

    rows = []
    for name in names:
        rows.append(run_pair(name, config, args))
        print(
            f"{name}: hand-written "
            f"{rows[-1]['hand_written']['median_ms_per_step']:.1f} ms/step, "
            f"keras_mm {rows[-1]['keras_mm']['median_ms_per_step']:.1f} "
            f"ms/step, ratio {rows[-1]['ratio']:.3f}",
            flush=True,
        )
    backend = keras.config.backend()
    header = (
        f"Keras {keras.__version__}, backend {backend}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"cores; batch {args.batch_size}, images {args.image_size} px, "
        f"{'tiny' if args.tiny else 'default'} sizes; median over "
        f"{args.repeats} rounds of {args.steps} steps (hand-written, then "
        f"keras_mm, in each round). Peak resident memory "
        f"{peak_rss_mib():.0f} MiB."
    )
    print(table(rows, header))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "backend": backend,
                    "keras": keras.__version__,
                    "keras_hub": keras_hub.__version__,
                    "keras_mm": keras_mm.__version__,
                    "machine": platform.machine(),
                    "processor": platform.processor(),
                    "cpu_count": os.cpu_count(),
                    "batch_size": args.batch_size,
                    "steps": args.steps,
                    "repeats": args.repeats,
                    "warmup_steps": WARMUP_STEPS,
                    "image_size": args.image_size,
                    "tiny": args.tiny,
                    "sizes": {name: config[name] for name in names},
                    "peak_rss_mib": peak_rss_mib(),
                    "target_ratio": TARGET_RATIO,
                    "results": rows,
                },
                f,
                indent=2,
            )
    return rows


if __name__ == "__main__":
    main()
