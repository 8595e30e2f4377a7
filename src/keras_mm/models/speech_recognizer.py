"""`SpeechRecognizer`: waveforms to characters, trained with CTC."""

import copy
import warnings

import keras
from keras import ops

from keras_mm.api_export import keras_mm_export
from keras_mm.data.audio_io import read_waveforms
from keras_mm.encoders.encoder import Encoder
from keras_mm.layers.audio_features import AudioFeatures
from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from keras_mm.layers.masked_average_pooling import MaskedAveragePooling
from keras_mm.layers.padded_gru import PaddedGRU
from keras_mm.layers.speech_preprocessor import BLANK_ID
from keras_mm.layers.speech_preprocessor import SpeechPreprocessor
from keras_mm.layers.speech_preprocessor import check_character_vocabulary
from keras_mm.models.task import Task
from keras_mm.models.task import audio_assets
from keras_mm.models.task import spec
from keras_mm.models.task import top_one
from keras_mm.models.task import waveform_specs
from keras_mm.utils.inputs import inputs_like
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_rate

SAMPLERS = ("greedy", "beam")
# Subsampling of the convolutional front end: 2 stride-2 blocks.
_CONV_LAYERS = 2


@keras_mm_export
class BlankPadding(keras.layers.Layer):
    """Makes padded time steps of CTC logits predict the blank, surely.

    CTC allows blanks after the last character, so trailing frames that
    surely say "blank" leave the loss of a clip unchanged: the loss of a
    padded batch is the loss of each clip at its own length, with no
    per-clip lengths to carry.

    Call arguments:
        logits: float `(batch, steps, classes)`, class `0` the blank.
        padding_mask: bool `(batch, steps)`, `True` on audio.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # Consumes the recurrent layers' Keras mask: the logits carry none,
        # so the loss sees whole clips.
        self.supports_masking = True

    def compute_mask(self, logits, padding_mask=None, mask=None):
        return None

    def call(self, logits, padding_mask):
        classes = ops.shape(logits)[-1]
        blank = ops.where(ops.arange(classes) == BLANK_ID, 0.0, -1e4)
        blank = ops.cast(blank, logits.dtype)
        return ops.where(padding_mask[..., None], logits, blank)

    def compute_output_shape(self, logits_shape, padding_mask_shape=None):
        return logits_shape


@keras_mm_export
class SpeechRecognizer(Task):
    """Speech to text: an audio encoder, BiGRUs and a CTC head.

    The audio `encoder` (from `keras_mm.encoders.audio`: log-mel frames in
    the graph, 25 ms every 10 ms, SpecAugment in training, and a conv
    front end, one step every 40 ms with two stride-2 blocks) gives the
    steps and their padding mask; `num_layers` bidirectional GRUs read the
    steps (each clip's padding kept out, `keras_mm.layers.PaddedGRU`) and
    a dense layer gives, per step, logits over the blank and the
    characters of `vocabulary`. `keras_mm.build_speech_recognizer` builds
    the encoder and the recognizer together.

    `fit(audio, transcripts)` takes waveforms (a list of 1-D float arrays
    at the encoder's `sample_rate`, or an array `(batch, samples)`) or
    audio file paths (read and resampled by `keras_mm.data.read_audio`),
    and strings; transcripts are lower-cased and turned into CTC targets in
    the data pipeline. Before training, inputs are checked: a clip longer
    than the encoder's `max_duration`, a transcript with characters outside
    `vocabulary`, or one too long for its clip's number of steps raises a
    `ValueError` naming the rows. Silent and empty clips are valid.

    `transcribe(audio)` returns strings, through `keras.ops.ctc_decode`
    (greedy or beam search), on JAX and TensorFlow.

    Calling the model takes `{"audio": float32 (batch, samples),
    "audio_padding_mask": bool (batch, samples)}` and returns float32 logits
    `(batch, steps, len(vocabulary) + 1)`, class `0` the blank.

    Args:
        encoder: `keras_mm.encoders.Encoder` from
            `keras_mm.encoders.audio(...)`.
        vocabulary: list of single characters, e.g.
            `list("abcdefghijklmnopqrstuvwxyz '")`.
        hidden_dim: int or `None`. Width of each GRU layer (both
            directions together). Defaults to the encoder's `hidden_dim`.
        num_layers: int. Bidirectional GRU layers. Defaults to `3`.
        dropout: float. Dropout between layers. Defaults to `0.1`.

    Examples:
    >>> encoder = keras_mm.encoders.audio(sample_rate=8000, max_duration=0.5,
    ...     num_mel_bins=16, hidden_dim=16, filters=4)
    >>> model = keras_mm.models.SpeechRecognizer(encoder, list("ab "),
    ...                                          num_layers=1)
    >>> model.compile()  # Adam and `keras.losses.CTC`.
    >>> audio = [np.zeros(2000, "float32"), np.ones(3000, "float32") * 0.1]
    >>> history = model.fit(audio, ["ab", "b a"], verbose=0)
    >>> texts = model.transcribe(audio)
    >>> len(texts), type(texts[0])
    (2, <class 'str'>)
    """

    def __init__(
        self,
        encoder,
        vocabulary,
        hidden_dim=None,
        num_layers=3,
        dropout=0.1,
        dtype=None,
        **kwargs,
    ):
        if not isinstance(encoder, Encoder) or not isinstance(
            encoder.preprocessor, AudioPreprocessor
        ):
            raise ValueError(
                "`encoder` must be an audio encoder, from "
                "`keras_mm.encoders.audio(...)`. Received: "
                f"{type(encoder).__name__}"
            )
        vocabulary = check_character_vocabulary(vocabulary)
        if hidden_dim is None:
            hidden_dim = encoder.hidden_dim
        check_integers(hidden_dim=hidden_dim, num_layers=num_layers)
        check_rate(dropout=dropout)
        if hidden_dim % 2:
            raise ValueError(
                "`hidden_dim` must be even (it is split between the two "
                f"directions of each GRU). Received: hidden_dim={hidden_dim}"
            )
        # === Layers ===
        self.encoder = encoder
        # Both directions are made here and all stay referenced until
        # wrapped: `Bidirectional` otherwise copies its layer through
        # serialization, and while `load_model` shares objects by `id()`, a
        # new layer at the address of a collected one would be taken for it
        # (the loaded model then gets two backward GRUs and fails to build).
        grus = [
            [
                PaddedGRU(
                    hidden_dim // 2,
                    return_sequences=True,
                    go_backwards=go_backwards,
                    dtype=dtype,
                    name=f"{direction}_padded_gru",
                )
                for direction, go_backwards in (
                    ("forward", False),
                    ("backward", True),
                )
            ]
            for _ in range(num_layers)
        ]
        self.recurrent_layers = [
            keras.layers.Bidirectional(
                forward, backward_layer=backward, dtype=dtype, name=f"bigru_{i}"
            )
            for i, (forward, backward) in enumerate(grus)
        ]
        self.dropout_layer = keras.layers.Dropout(dropout, dtype=dtype)
        self.logits_dense = keras.layers.Dense(
            len(vocabulary) + 1, dtype="float32", name="logits"
        )
        self.blank_padding = BlankPadding(dtype="float32", name="blank_padding")

        # === Functional Model ===
        inputs = inputs_like(encoder.input)
        x, mask = self._encode(inputs)
        logits = self.blank_padding(self.logits_dense(x), mask)
        audio = encoder.preprocessor
        self.preprocessor = SpeechPreprocessor(
            vocabulary,
            audio.sample_rate,
            audio.max_duration,
            max_label_length=logits.shape[1],
            name="speech_preprocessor",
        )
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        if dtype is not None:
            self.dtype_policy = dtype

        # === Config ===
        self.vocabulary = list(vocabulary)
        self.sample_rate = audio.sample_rate
        self.max_duration = audio.max_duration
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers
        self.dropout = dropout
        self.num_steps = logits.shape[1]

    @property
    def features(self):
        """The encoder's front end (`keras_mm.layers.AudioFeatures`):
        waveforms `(batch, samples)` to the frames the model hears."""
        return next(
            layer
            for layer in self.encoder.network.layers
            if isinstance(layer, AudioFeatures)
        )

    def _encode(self, inputs):
        """Waveform inputs to the last GRU's steps and their padding mask."""
        outputs = self.encoder(inputs)
        x, mask = outputs["sequence_output"], outputs["padding_mask"]
        for layer in self.recurrent_layers:
            x = self.dropout_layer(x)
            x = layer(x, mask=mask)
        return x, mask

    def audio_encoder(self, name=None):
        """The recognizer without its CTC head, as an audio encoder.

        Returns a `keras_mm.encoders.Encoder` over the same layers (the
        front end, the conv blocks and the GRUs: their weights are shared,
        not copied) for `keras_mm.build_classifier` and
        `keras_mm.build_captioner`. Its `"sequence_output"` is the last
        GRU's steps `(batch, steps, hidden_dim)`, one per 40 ms, with their
        `"padding_mask"`; its `"pooled_output"` is their mean over the
        valid steps. Set `trainable = False` on it to keep what
        transcription taught while the new model trains.

        Args:
            name: str or `None`. Defaults to `f"{self.name}_audio_encoder"`.

        Examples:
        >>> asr = keras_mm.build_speech_recognizer(
        ...     list("ab "), sample_rate=8000, max_duration=0.5,
        ...     num_mel_bins=16, hidden_dim=16, num_layers=1, filters=4)
        >>> encoder = asr.audio_encoder()
        >>> encoder.predict([np.zeros(2000, "float32")], verbose=0)[
        ...     "pooled_output"].shape
        (1, 16)
        """
        name = name or f"{self.name}_audio_encoder"
        inputs = inputs_like(self.input)
        sequence, mask = self._encode(inputs)
        pooled = MaskedAveragePooling(name=f"{name}_pooling")(
            sequence, padding_mask=mask
        )
        network = keras.Model(
            inputs,
            {
                "sequence_output": sequence,
                "pooled_output": pooled,
                "padding_mask": mask,
            },
            name=f"{name}_network",
        )
        preprocessor = AudioPreprocessor(
            self.sample_rate,
            self.max_duration,
            name=f"{name}_preprocessor",
        )
        return Encoder(network, preprocessor=preprocessor, name=name)

    def default_loss(self):
        # Targets padded with the blank (0); padded steps predict it.
        return keras.losses.CTC()

    # === Inputs ===
    def _read_audio(self, audio, sample_rate=None):
        return read_waveforms(audio, self.sample_rate, sample_rate)

    def _too_long(self, waveforms):
        limit = self.preprocessor.num_samples
        return [i for i, clip in enumerate(waveforms) if len(clip) > limit]

    def _check_transcripts(self, waveforms, transcripts):
        if isinstance(transcripts, str) or transcripts is None:
            raise ValueError(
                "`y` must be a list of transcripts (str), one per clip. "
                f"Received: {transcripts!r}"
            )
        transcripts = list(transcripts)
        if len(transcripts) != len(waveforms):
            raise ValueError(
                "There must be one transcript per clip. Received: "
                f"{len(waveforms)} clips and {len(transcripts)} transcripts."
            )
        if not transcripts:
            raise ValueError("Received no clips to train or evaluate on.")
        bad = [i for i, t in enumerate(transcripts) if not isinstance(t, str)]
        if bad:
            raise ValueError(
                f"Transcripts must be strings. Received non-strings at rows "
                f"{bad[:5]}: {[transcripts[i] for i in bad[:5]]}"
            )
        known = set(self.vocabulary)
        unknown = {}
        for row, text in enumerate(transcripts):
            for char in set(text.lower()) - known:
                unknown.setdefault(char, []).append(row)
        if unknown:
            listed = ", ".join(
                f"{char!r} (rows {rows[:3]})"
                for char, rows in sorted(unknown.items())
            )
            raise ValueError(
                "Transcripts hold characters outside the vocabulary "
                f"(after lower-casing): {listed}. Normalise the transcripts "
                "or build the model with a vocabulary that has them."
            )
        too_long = self._too_long(waveforms)
        if too_long:
            seconds = max(len(waveforms[i]) for i in too_long)
            raise ValueError(
                f"{len(too_long)} clips are longer than max_duration="
                f"{self.max_duration} s (rows {too_long[:5]}, the longest "
                f"{seconds / self.sample_rate:.2f} s): their transcripts "
                "would no longer match the cropped audio. Build the model "
                "with a larger `max_duration`, or drop those clips."
            )
        for row, (clip, text) in enumerate(zip(waveforms, transcripts)):
            # CTC needs a step per character, and a blank between repeats.
            needed = len(text) + sum(a == b for a, b in zip(text, text[1:]))
            steps = (
                -(-len(clip) // (self.sample_rate // 25)) if len(clip) else 0
            )
            if needed > max(steps, 0) and needed > 0:
                raise ValueError(
                    f"The transcript of row {row} needs {needed} steps but "
                    f"its {len(clip) / self.sample_rate:.2f} s clip gives "
                    f"about {steps} (one per 40 ms). Received: {text!r}"
                )
        return transcripts

    def _prepare(self, x, y):
        if x is None or hasattr(x, "element_spec"):  # A tf.data.Dataset.
            return x, y
        waveforms = self._read_audio(x)
        if y is not None:
            y = self._check_transcripts(waveforms, y)
        return waveforms, y

    # === Transcription ===
    def transcribe(
        self,
        audio,
        sampler="greedy",
        num_beams=8,
        sample_rate=None,
        batch_size=32,
    ):
        """Transcribes clips.

        Args:
            audio: a list of 1-D float waveforms, an array `(batch,
                samples)`, or a list of audio file paths.
            sampler: `"greedy"` (the best class per step, repeats merged,
                blanks dropped) or `"beam"` (CTC prefix beam search), the
                words of `Captioner.generate`. Defaults to `"greedy"`.
            num_beams: int. Beams of `"beam"`. Defaults to `8`.
            sample_rate: int or `None`. The rate of `audio` when it is not
                the model's: waveforms are resampled to the model's rate.
                File paths are always resampled. Defaults to `None`, the
                model's rate.
            batch_size: int. Defaults to `32`.

        Returns:
            A list of str, one per clip. Clips longer than `max_duration`
            are cropped to it, with a warning.
        """
        if sampler not in SAMPLERS:
            raise ValueError(
                f"`sampler` must be one of {list(SAMPLERS)}. Received: "
                f"sampler={sampler!r}"
            )
        check_integers(num_beams=num_beams, batch_size=batch_size)
        if sample_rate is not None:
            check_integers(sample_rate=sample_rate)
        waveforms = self._read_audio(audio, sample_rate)
        if not waveforms:
            return []
        too_long = self._too_long(waveforms)
        if too_long:
            warnings.warn(
                f"{len(too_long)} clips are longer than max_duration="
                f"{self.max_duration} s (rows {too_long[:5]}); only their "
                "first max_duration seconds are transcribed.",
                stacklevel=2,
            )
        logits = super().predict(waveforms, batch_size=batch_size, verbose=0)
        return self.decode(logits, sampler=sampler, num_beams=num_beams)

    def decode(self, logits, sampler="greedy", num_beams=8):
        """CTC logits `(batch, steps, classes)` -> a list of str (a tensor
        of strings inside a TensorFlow graph, as in a served model)."""
        logits = ops.cast(ops.convert_to_tensor(logits), "float32")
        lengths = ops.full((ops.shape(logits)[0],), ops.shape(logits)[1])
        decoded, _ = ops.ctc_decode(
            logits,
            ops.cast(lengths, "int32"),
            strategy="greedy" if sampler == "greedy" else "beam_search",
            beam_width=num_beams,
            top_paths=1,
            mask_index=BLANK_ID,
        )
        return self.preprocessor.detokenize(decoded[0])

    # === Serving ===
    def serving_signatures(self, raw_inputs=True):
        """`serving_default`: float32 waveforms `(batch, samples)` to
        greedy `transcripts`."""

        def serve(inputs):
            logits = self(self.preprocessor(inputs["audio"]), training=False)
            return {"transcripts": self.decode(logits)}

        return {
            "serving_default": (
                serve,
                {"audio": spec((None, None), "float32", "audio")},
            )
        }

    def litert_signature(self):
        """Waveforms padded to `max_duration` with their padding mask, to
        the best class of each frame (`frame_ids`), which `LiteRTModel`
        turns into transcripts."""
        layer = self.preprocessor.audio_preprocessor
        assets = {
            "kind": "speech_recognizer",
            "inputs": {"audio": audio_assets(layer)},
            "vocabulary": list(self.vocabulary),
        }

        def serve(x):
            return {"frame_ids": top_one(self(x, training=False))}

        return assets, waveform_specs("audio", layer), serve

    def serving_request(self, inputs):
        return {"audio": inputs}

    def reference_outputs(self, inputs):
        return {"transcripts": self.transcribe(inputs)}

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.layers.serialize(self.encoder),
            "vocabulary": list(self.vocabulary),
            "hidden_dim": self.hidden_dim,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **self.task_config(),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = copy.deepcopy(config)
        config["encoder"] = keras.layers.deserialize(
            config["encoder"], custom_objects=custom_objects
        )
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
