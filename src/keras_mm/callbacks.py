"""Training callbacks."""

import numbers

import keras
import numpy as np

from keras_mm.api_export import keras_mm_export
from keras_mm.metrics.caption_metrics import bleu4
from keras_mm.metrics.caption_metrics import check_captions
from keras_mm.metrics.caption_metrics import cider_d
from keras_mm.metrics.speech_metrics import cer
from keras_mm.metrics.speech_metrics import check_transcripts
from keras_mm.metrics.speech_metrics import wer
from keras_mm.optimizers import Adam
from keras_mm.optimizers import check_learning_rate_multipliers


def _check_schedule(schedule):
    if not isinstance(schedule, dict) or not schedule:
        raise ValueError(
            "`schedule` must be a non-empty dict mapping an epoch (int >= 0, "
            "0-based) to a dict of path prefix to learning-rate multiplier, "
            "e.g. {3: {'image_encoder': 0.1}}. "
            f"Received: schedule={schedule!r}"
        )
    checked = {}
    for epoch, multipliers in schedule.items():
        if (
            isinstance(epoch, bool)
            or not isinstance(epoch, numbers.Integral)
            or epoch < 0
        ):
            raise ValueError(
                "Each key of `schedule` must be an epoch, an int >= 0 "
                f"(0-based). Received: {epoch!r}"
            )
        checked[int(epoch)] = check_learning_rate_multipliers(
            multipliers, name=f"schedule[{epoch}]"
        )
        if not checked[int(epoch)]:
            raise ValueError(
                f"`schedule[{epoch}]` must name at least one prefix, e.g. "
                f"{{'image_encoder': 0.1}}. Received: {multipliers!r}"
            )
    return dict(sorted(checked.items()))


def _print_msg(message):
    if keras.config.is_interactive_logging_enabled():
        print(message)
    else:
        from absl import logging

        logging.info(message)


@keras_mm_export
class UnfreezeEncoders(keras.callbacks.Callback):
    """Unfreezes encoders in stages, by raising their learning rates.

    The usual recipe for pretrained encoders: train the new fusion layers
    and head first with the encoders frozen, then let the encoders learn,
    at a small learning rate and later a larger one. Compile with
    `keras_mm.optimizers.Adam` and a multiplier of 0 for each frozen
    encoder, e.g. `learning_rate_multipliers={"image_encoder": 0.0}`, and
    pass this callback to `fit`. At the start of each epoch in `schedule`
    it calls `optimizer.set_learning_rate_multiplier` for each prefix there.
    The change needs no recompiling.

    While its multiplier is 0 an encoder is frozen, but unlike
    `trainable=False` it still runs in training mode (dropout is active and
    batch normalization updates its moving statistics), and its gradients
    are still computed. To freeze batch-norm statistics as well, set
    `trainable=False` on those layers before compiling.

    On `fit(..., initial_epoch=k)` (resuming), the stages of epochs up to
    `k` are applied at the start of epoch `k`.

    Args:
        schedule: dict. Epoch (int, 0-based: the epoch at whose start the
            change happens) to a dict of path prefix to multiplier, as in
            `keras_mm.optimizers.Adam`'s `learning_rate_multipliers`.
        verbose: int. `1` prints one line when a stage starts, `0` (the
            default, to keep `fit`'s output clean) prints nothing.

    Raises:
        ValueError: at the start of `fit`, when the model's optimizer is not
            a `keras_mm.optimizers.Adam`, or a prefix matches no variable.

    Examples:
    >>> images = keras.Input((3,))
    >>> encoder = keras.Model(
    ...     images, keras.layers.Dense(4, name="proj")(images),
    ...     name="image_encoder")
    >>> inputs = keras.Input((3,))
    >>> model = keras_mm.models.PipelineModel(
    ...     inputs, keras.layers.Dense(1, name="head")(encoder(inputs)))
    >>> model.compile(
    ...     optimizer=keras_mm.optimizers.Adam(
    ...         1e-3, learning_rate_multipliers={"image_encoder": 0.0}),
    ...     loss="mse")
    >>> unfreeze = keras_mm.callbacks.UnfreezeEncoders(
    ...     {1: {"image_encoder": 0.1}, 2: {"image_encoder": 1.0}},
    ...     verbose=1)
    >>> _ = model.fit(np.ones((4, 3)), np.zeros((4, 1)), epochs=3,
    ...               callbacks=[unfreeze], verbose=0)
    Epoch 2: UnfreezeEncoders: learning-rate multiplier image_encoder=0.1
    Epoch 3: UnfreezeEncoders: learning-rate multiplier image_encoder=1.0
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = _check_schedule(schedule)
        if verbose not in (0, 1):
            raise ValueError(
                f"`verbose` must be 0 or 1. Received: verbose={verbose!r}"
            )
        self.verbose = int(verbose)
        self._applied_until = -1

    def _optimizer(self):
        optimizer = getattr(self.model, "optimizer", None)
        # A `LossScaleOptimizer` (mixed_float16) wraps ours.
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        if not isinstance(inner, Adam):
            kind = type(inner).__module__ + "." + type(inner).__name__
            raise ValueError(
                "`UnfreezeEncoders` needs the model compiled with "
                "`keras_mm.optimizers.Adam`, whose learning-rate multipliers "
                "it changes, e.g. `model.compile(optimizer="
                "keras_mm.optimizers.Adam(1e-3, learning_rate_multipliers="
                "{'image_encoder': 0.0}), loss=...)`. "
                f"Received: an optimizer of type {kind}"
            )
        return inner

    def on_train_begin(self, logs=None):
        prefixes = {p for stage in self.schedule.values() for p in stage}
        self._optimizer()._check_prefixes(
            sorted(prefixes), "`schedule`", self.model
        )
        self._applied_until = -1

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self._optimizer()
        for stage, multipliers in self.schedule.items():
            if not self._applied_until < stage <= epoch:
                continue
            for prefix, value in multipliers.items():
                optimizer.set_learning_rate_multiplier(prefix, value)
            if self.verbose:
                changes = ", ".join(
                    f"{prefix}={value}" for prefix, value in multipliers.items()
                )
                _print_msg(
                    f"Epoch {epoch + 1}: UnfreezeEncoders: learning-rate "
                    f"multiplier {changes}"
                )
        self._applied_until = max(self._applied_until, epoch)

    def get_config(self):
        return {
            "schedule": {
                epoch: dict(multipliers)
                for epoch, multipliers in self.schedule.items()
            },
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # JSON turns the epoch keys into strings.
        config["schedule"] = {
            int(epoch): multipliers
            for epoch, multipliers in config["schedule"].items()
        }
        return cls(**config)


class _TextMetrics(keras.callbacks.Callback):
    """Base of callbacks that generate text for validation inputs every
    `frequency` epochs (and after the last) and log scores of it.

    Subclasses set `method` (the model's generating method), `names` (the
    logged scores, `val_` first) and implement `score(predictions)`.
    """

    method = None
    names = ()

    def __init__(self, inputs, references, frequency=1, verbose=0, **kwargs):
        super().__init__()
        if isinstance(frequency, bool) or not isinstance(
            frequency, numbers.Integral
        ):
            frequency = 0
        if frequency < 1:
            raise ValueError(
                "`frequency` must be an int >= 1 (epochs between scores). "
                f"Received: frequency={frequency!r}"
            )
        if verbose not in (0, 1):
            raise ValueError(
                f"`verbose` must be 0 or 1. Received: verbose={verbose!r}"
            )
        self.inputs = inputs
        self.references = references
        self.frequency = int(frequency)
        self.verbose = int(verbose)
        self.kwargs = kwargs
        self.history = {"epoch": [], **{name: [] for name in self.names}}
        self.predictions = []
        self._epochs = None

    def score(self, predictions):
        raise NotImplementedError

    def on_train_begin(self, logs=None):
        if not hasattr(self.model, self.method):
            raise ValueError(
                f"`{type(self).__name__}` needs a model with a "
                f"`{self.method}` method. Received: a "
                f"{type(self.model).__name__}"
            )
        self._epochs = self.params.get("epochs") if self.params else None

    def on_epoch_end(self, epoch, logs=None):
        last = self._epochs is not None and epoch + 1 == self._epochs
        if (epoch + 1) % self.frequency and not last:
            # NaN keeps History's lists one value per epoch (for pandas and
            # plots); `training_curves` draws the gaps.
            if logs is not None:
                logs.update({name: float("nan") for name in self.names})
            return
        generate = getattr(self.model, self.method)
        predictions = generate(self.inputs, **self.kwargs)
        scores = self.score(predictions)
        self.predictions = predictions
        self.history["epoch"].append(epoch + 1)
        for name, value in scores.items():
            self.history[name].append(value)
        if logs is not None:
            logs.update(scores)
        if self.verbose:
            values = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
            examples = "\n".join(f"  {text!r}" for text in predictions[:3])
            _print_msg(
                f"Epoch {epoch + 1}: {type(self).__name__}: {values}; "
                f"for example:\n{examples}"
            )


class CaptionMetrics(_TextMetrics):
    """Captions validation images during `fit` and logs BLEU-4 and CIDEr-D.

    Every `frequency` epochs (and after the last epoch), the captioner
    being trained generates captions for `images` and scores them against
    `references` with `keras_mm.metrics.bleu4` (0-100) and
    `keras_mm.metrics.cider_d`. The scores go into the epoch's logs as
    `val_bleu4` and `val_cider_d`, so the progress bar shows them, the
    `History` that `fit` returns holds them, and callbacks after this one
    (`EarlyStopping`, `ModelCheckpoint`) can monitor them. Epochs that are
    not scored log NaN, so that History keeps one value per epoch; monitor
    the scores with `frequency=1`. `self.history` maps `"epoch"` (1-based),
    `"val_bleu4"` and `"val_cider_d"` to lists of the scored epochs only,
    and `self.predictions` holds the latest captions.

    Generation adds time to each scored epoch, which grows with the number
    of images and with `sampler="beam"`; keep `images` to a few hundred.

    Args:
        images: array `(n, height, width, channels)` of validation images,
            as `Captioner.generate` takes them.
        references: list of `n` lists of str, the reference captions of
            each image.
        frequency: int. Score every this many epochs. Defaults to `1`.
        verbose: int. `1` prints a few generated captions each time.
            Defaults to `0`.
        **generate_kwargs: passed to `Captioner.generate`, e.g.
            `sampler="beam", num_beams=3`.

    Examples:
    >>> captions = ["a red circle", "a blue square"]
    >>> model = keras_mm.build_captioner(
    ...     keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
    ...     keras_mm.encoders.text_vocabulary(captions), sequence_length=6,
    ...     num_layers=1, num_heads=2, hidden_dim=16)
    >>> images = np.zeros((2, 32, 32, 3), "uint8")
    >>> scores = keras_mm.callbacks.CaptionMetrics(
    ...     images, [[c] for c in captions], frequency=2, max_length=4)
    >>> history = model.fit({"images": images, "text": captions}, epochs=3,
    ...                     callbacks=[scores], verbose=0)
    >>> scores.history["epoch"]
    [2, 3]
    >>> sorted(history.history)
    ['loss', 'next_token_accuracy', 'val_bleu4', 'val_cider_d']
    >>> len(history.history["val_bleu4"])  # NaN at epoch 1.
    3
    """

    method = "generate"
    names = ("val_bleu4", "val_cider_d")

    def __init__(
        self, images, references, frequency=1, verbose=0, **generate_kwargs
    ):
        if isinstance(images, (list, tuple)):
            images = np.stack([np.asarray(image) for image in images])
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(
                "`images` must be an array (n, height, width, channels). "
                f"Received: shape {images.shape}"
            )
        check_captions([""] * len(images), references)
        super().__init__(
            images,
            [list(refs) for refs in references],
            frequency,
            verbose,
            **generate_kwargs,
        )

    @property
    def images(self):
        return self.inputs

    def score(self, predictions):

        return {
            "val_bleu4": bleu4(predictions, self.references),
            "val_cider_d": cider_d(predictions, self.references),
        }


class TranscriptionMetrics(_TextMetrics):
    """Transcribes validation clips during `fit` and logs CER and WER.

    Every `frequency` epochs (and after the last epoch), the speech
    recognizer being trained transcribes `audio`, scored against
    `transcripts` with `keras_mm.metrics.cer` and `wer` (fractions, lower
    is better). The scores go into the epoch's logs as `val_cer` and
    `val_wer` (NaN on epochs not scored), as `CaptionMetrics` does; see
    there for `history`, `predictions` and monitoring.

    Args:
        audio: validation clips, as `SpeechRecognizer.transcribe` takes
            them.
        transcripts: list of str, one per clip.
        frequency: int. Score every this many epochs. Defaults to `1`.
        verbose: int. `1` prints a few transcriptions each time. Defaults
            to `0`.
        **transcribe_kwargs: passed to `SpeechRecognizer.transcribe`, e.g.
            `sampler="beam"`.

    Examples:
    >>> asr = keras_mm.build_speech_recognizer(
    ...     list("ab "), sample_rate=8000, max_duration=0.5,
    ...     num_mel_bins=16, hidden_dim=16, num_layers=1, filters=4)
    >>> audio = [np.zeros(4000, "float32"), np.zeros(2000, "float32")]
    >>> scores = keras_mm.callbacks.TranscriptionMetrics(audio, ["ab", "b"])
    >>> history = asr.fit(audio, ["ab", "b"], epochs=2, callbacks=[scores],
    ...                   verbose=0)
    >>> sorted(history.history)
    ['loss', 'val_cer', 'val_wer']
    """

    method = "transcribe"
    names = ("val_cer", "val_wer")

    def __init__(
        self, audio, transcripts, frequency=1, verbose=0, **transcribe_kwargs
    ):

        check_transcripts([""] * len(transcripts), transcripts)
        if len(audio) != len(transcripts):
            raise ValueError(
                "There must be one transcript per clip. Received: "
                f"{len(audio)} clips and {len(transcripts)} transcripts."
            )
        super().__init__(
            audio, list(transcripts), frequency, verbose, **transcribe_kwargs
        )

    def score(self, predictions):

        return {
            "val_cer": cer(predictions, self.references),
            "val_wer": wer(predictions, self.references),
        }
