"""`keras_mm.models.Captioner`: images or audio to text, cached decoding."""

import copy
import functools
import itertools
import warnings

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_mm.api_export import keras_mm_export
from keras_mm.data.audio_io import read_waveforms
from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
from keras_mm.layers.caption_preprocessor import PAD_TOKEN_ID
from keras_mm.layers.caption_preprocessor import START_TOKEN_ID
from keras_mm.layers.caption_preprocessor import CaptionPreprocessor
from keras_mm.models.beam_sampler import BeamSampler
from keras_mm.models.pipeline_model import PipelineModel
from keras_mm.models.pipeline_model import check_inputs
from keras_mm.optimizers import Adam
from keras_mm.utils.inputs import inputs_like
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_rate

SAMPLERS = ("greedy", "top_k", "top_p", "beam")
# Compiled generation functions kept per model, one per sampler setting.
_MAX_GENERATE_FUNCTIONS = 8


def _check_no_labels(x, y):
    if y is not None and isinstance(x, dict) and "text" in x:
        raise ValueError(
            "A captioner makes its labels from the captions in x['text']; "
            "pass no `y`. Received: y of type "
            f"{type(y).__name__}"
        )


def one_encoder(encoder, image_encoder):
    """`encoder`, or `image_encoder` (its former name); not both."""
    if image_encoder is not None:
        if encoder is not None:
            raise ValueError(
                "Pass the encoder once: as `encoder` (or `image_encoder`, "
                "its former name), not both."
            )
        encoder = image_encoder
    return encoder


def encoder_modality(encoder):
    """`"images"` or `"audio"`: what `encoder` takes; or a `ValueError`."""
    # Imported here: encoders build on `keras_mm.models`.
    from keras_mm.encoders.encoder import Encoder

    if not isinstance(encoder, Encoder):
        raise ValueError(
            "`encoder` must be a keras_mm.encoders.Encoder, from "
            "`keras_mm.encoders.image(...)` or `keras_mm.encoders.audio(...)`."
            f" Received: {type(encoder).__name__}"
        )
    inputs = encoder.input
    if isinstance(inputs, dict):
        if set(inputs) == {"audio", "audio_padding_mask"}:
            return "audio"
    elif len(inputs.shape) == 4:
        return "images"
    raise ValueError(
        "A captioner's encoder must take images (batch, height, width, "
        "channels), as `keras_mm.encoders.image(...)` does, or audio, as "
        f"`keras_mm.encoders.audio(...)` does. Received an encoder with "
        f"inputs {inputs}"
    )


@keras_mm_export
class Captioner(PipelineModel):
    """A captioner: an image or audio encoder and a Transformer decoder.

    The encoder's tokens (`sequence_output`) are projected to `hidden_dim`,
    given learned positions (when their number is fixed), and optionally
    refined by `num_encoder_layers` Transformer encoder layers. A decoder of
    `num_layers` `keras_hub.layers.TransformerDecoder` layers reads the
    caption so far (token and learned position embeddings) with causal
    self-attention and cross-attends to the encoder tokens; a dense layer
    gives next-token logits.

    With an image encoder (`keras_mm.encoders.image`) it captions images;
    with an audio encoder (`keras_mm.encoders.audio`) it transcribes
    speech word by word: sequence-to-sequence recognition with attention,
    the counterpart of the CTC `keras_mm.models.SpeechRecognizer`.

    Training takes raw inputs: `fit({"images": pixels, "text": captions})`
    or `fit({"audio": waveforms, "text": transcripts})`, with no `y`. The
    `preprocessor` (a `keras_mm.layers.CaptionPreprocessor`) runs in
    `tf.data` on every backend and makes teacher forcing: the model reads
    `"[START]"` and the caption, and learns to predict the caption and
    `"[END]"`; padding is weighted out of the loss and the metric. Captions
    longer than `sequence_length - 1` words (punctuation marks count as
    words) are truncated; words outside `vocabulary` become `"[UNK]"`.
    Waveforms (or audio file paths) are cropped or padded to the audio
    encoder's `max_duration` in the pipeline; clips longer than it are
    refused for training, since their transcripts would not match.

    `generate(inputs)` returns captions as strings. Each step computes one
    token: the encoder tokens and the cross-attention keys and values are
    computed once per batch, and the self-attention keys and values are
    cached (KerasHub's `CausalLM` pattern). The generation loop is compiled
    once per sampler setting and input shape (`jax.jit`, or `tf.function`
    with XLA) and reused.

    Calling the model takes preprocessed tensors: `{"images": (batch,
    height, width, channels)` (or `"audio": float32 (batch, samples),
    "audio_padding_mask": bool (batch, samples)`), `"token_ids": int32
    (batch, sequence_length), "padding_mask": bool (batch,
    sequence_length)}` and returns float32 logits `(batch, sequence_length,
    vocabulary_size)`.

    Masking: `padding_mask` hides padded caption tokens from self-attention
    (with the causal mask). All image tokens are attended to; audio tokens
    over padding (after the end of a clip) are not.

    dtype: every new layer follows `dtype` (or the global policy), and the
    logits layer computes in float32, so `mixed_bfloat16` keeps logits,
    softmax and loss in full precision.

    `keras_mm.build_captioner` builds and compiles one.

    Args:
        encoder: `keras_mm.encoders.Encoder` from `keras_mm.encoders.image`
            or `keras_mm.encoders.audio`.
        vocabulary: list of str, from `keras_mm.encoders.text_vocabulary`
            (special tokens first).
        sequence_length: int. Decoder length: captions of up to
            `sequence_length - 1` words fit whole. Defaults to `20`.
        num_layers: int. Decoder layers. Defaults to `2`.
        num_heads: int. Attention heads; must divide `hidden_dim`.
            Defaults to `4`.
        hidden_dim: int. Width of the decoder. Defaults to `128`.
        intermediate_dim: int or `None`. Width of the feed-forward layers.
            Defaults to `4 * hidden_dim`.
        dropout: float. Dropout of the Transformer layers. Defaults to `0.1`.
        num_encoder_layers: int. Transformer encoder layers over the
            encoder tokens. Defaults to `0`.
        dtype: `None`, str or `keras.DTypePolicy`. Defaults to the global
            policy.
        image_encoder: the former name of `encoder`, still accepted.

    Examples:
    >>> captions = ["a red circle", "a blue square"]
    >>> model = keras_mm.models.Captioner(
    ...     keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
    ...     keras_mm.encoders.text_vocabulary(captions), sequence_length=6,
    ...     num_layers=1, num_heads=2, hidden_dim=16)
    >>> model.compile()
    >>> images = np.zeros((2, 32, 32, 3), "uint8")
    >>> history = model.fit({"images": images, "text": captions}, verbose=0)
    >>> outputs = model.generate(images, max_length=4)
    >>> len(outputs), type(outputs[0])
    (2, <class 'str'>)
    """

    def __init__(
        self,
        encoder=None,
        vocabulary=None,
        sequence_length=20,
        num_layers=2,
        num_heads=4,
        hidden_dim=128,
        intermediate_dim=None,
        dropout=0.1,
        num_encoder_layers=0,
        dtype=None,
        image_encoder=None,
        **kwargs,
    ):
        encoder = one_encoder(encoder, image_encoder)
        modality = encoder_modality(encoder)
        if vocabulary is None:
            raise ValueError(
                "A captioner needs a `vocabulary`, from "
                "`keras_mm.encoders.text_vocabulary(captions)`."
            )
        check_integers(
            sequence_length=sequence_length,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
        )
        check_integers(minimum=0, num_encoder_layers=num_encoder_layers)
        if intermediate_dim is None:
            intermediate_dim = 4 * hidden_dim
        check_integers(intermediate_dim=intermediate_dim)
        check_rate(dropout=dropout)
        if hidden_dim % num_heads:
            raise ValueError(
                "`hidden_dim` must be a multiple of `num_heads`. Received: "
                f"hidden_dim={hidden_dim}, num_heads={num_heads}"
            )

        # === Layers ===
        self.encoder = encoder
        self.preprocessor = CaptionPreprocessor(
            vocabulary,
            sequence_length,
            modality=modality,
            input_preprocessor=(
                encoder.preprocessor if modality == "audio" else None
            ),
            name="caption_preprocessor",
        )
        vocabulary_size = self.preprocessor.vocabulary_size
        self.encoder_projection = keras.layers.Dense(
            hidden_dim, dtype=dtype, name="encoder_projection"
        )
        num_encoder_tokens = encoder.output["sequence_output"].shape[1]
        self.encoder_position_embedding = (
            keras_hub.layers.PositionEmbedding(
                num_encoder_tokens,
                dtype=dtype,
                name="encoder_position_embedding",
            )
            if num_encoder_tokens
            else None
        )
        self.encoder_layers = [
            keras_hub.layers.TransformerEncoder(
                intermediate_dim,
                num_heads,
                dropout=dropout,
                dtype=dtype,
                name=f"encoder_transformer_layer_{i}",
            )
            for i in range(num_encoder_layers)
        ]
        self.token_embedding = keras_hub.layers.TokenAndPositionEmbedding(
            vocabulary_size,
            sequence_length,
            hidden_dim,
            dtype=dtype,
            name="token_embedding",
        )
        self.decoder_layers = [
            keras_hub.layers.TransformerDecoder(
                intermediate_dim,
                num_heads,
                dropout=dropout,
                dtype=dtype,
                name=f"decoder_layer_{i}",
            )
            for i in range(num_layers)
        ]
        # Logits in float32 under any policy.
        self.logits_dense = keras.layers.Dense(
            vocabulary_size, dtype="float32", name="logits"
        )

        # === Functional Model ===
        if modality == "images":
            inputs = {"images": inputs_like(encoder.input, name="images")}
        else:
            inputs = inputs_like(encoder.input)
        inputs |= {
            "token_ids": keras.Input(
                (sequence_length,), dtype="int32", name="token_ids"
            ),
            "padding_mask": keras.Input(
                (sequence_length,), dtype="bool", name="padding_mask"
            ),
        }
        tokens, token_mask = self.encode(
            inputs["images"]
            if modality == "images"
            else {key: inputs[key] for key in encoder.input}
        )
        x = self.token_embedding(inputs["token_ids"])
        for layer in self.decoder_layers:
            x = layer(
                x,
                tokens,
                decoder_padding_mask=inputs["padding_mask"],
                encoder_padding_mask=token_mask,
            )
        logits = self.logits_dense(x)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        if dtype is not None:
            self.dtype_policy = dtype

        # === Config ===
        self.modality = modality
        self.vocabulary = list(self.preprocessor.vocabulary)
        self.sequence_length = sequence_length
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.dropout = dropout
        self.num_encoder_layers = num_encoder_layers
        # Compiled generation functions, kept out of Keras' tracking.
        object.__setattr__(self, "_generate_functions", {})

    def encode(self, inputs, training=None):
        """The encoder's inputs (pixels `(batch, height, width, channels)`,
        or `{"audio", "audio_padding_mask"}`) to the tokens the decoder
        attends to, `(batch, tokens, hidden_dim)`, and their bool padding
        mask `(batch, tokens)` (`None` when all tokens are valid)."""
        outputs = self.encoder(inputs, training=training)
        mask = outputs.get("padding_mask")
        x = self.encoder_projection(outputs["sequence_output"])
        if self.encoder_position_embedding is not None:
            x = x + self.encoder_position_embedding(x)
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=mask, training=training)
        return x, mask

    def compile(
        self,
        optimizer="auto",
        loss="auto",
        weighted_metrics="auto",
        **kwargs,
    ):
        """Configures training, with defaults for captioning.

        Args:
            optimizer: `"auto"` (`keras_mm.optimizers.Adam(1e-3)`) or an
                optimizer.
            loss: `"auto"` (sparse categorical cross-entropy from logits,
                averaged over the caption tokens that are not padding) or a
                loss.
            weighted_metrics: `"auto"` (`next_token_accuracy`: the share of
                caption tokens predicted exactly, padding excluded) or a
                list of metrics, weighted by the padding mask.
            **kwargs: passed to `keras.Model.compile`.
        """
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = Adam(1e-3)
        if isinstance(loss, str) and loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            )
        if isinstance(weighted_metrics, str) and weighted_metrics == "auto":
            weighted_metrics = [
                keras.metrics.SparseCategoricalAccuracy(
                    name="next_token_accuracy"
                )
            ]
        super().compile(
            optimizer=optimizer,
            loss=loss,
            weighted_metrics=weighted_metrics,
            **kwargs,
        )

    # === Input checks ===
    def _check_images(self, images):
        """Returns `images` as a NumPy array, or raises a `ValueError` that
        says what was received."""
        if isinstance(images, (list, tuple)):
            try:
                images = np.stack([np.asarray(image) for image in images])
            except ValueError:
                raise ValueError(
                    "`images` given as a list must all have the same shape. "
                    "Received shapes: "
                    f"{sorted({np.shape(image) for image in images})}"
                ) from None
        elif keras.ops.is_tensor(images):
            images = keras.ops.convert_to_numpy(images)
        images = np.asarray(images)
        channels = self.encoder.input.shape[-1]
        if images.dtype.kind not in "uif":
            raise ValueError(
                "`images` must hold pixel numbers (uint8 in [0, 255], or "
                f"floats). Received: an array of dtype {images.dtype}"
            )
        if images.ndim != 4 or images.shape[-1] not in (channels, None):
            hint = (
                " (one image: pass `images[None]`)" if images.ndim == 3 else ""
            )
            raise ValueError(
                "`images` must have shape (batch, height, width, "
                f"{channels}){hint}. Received: shape {images.shape}"
            )
        return images

    def _too_long(self, waveforms):
        """Rows of the waveforms longer than the audio encoder takes."""
        limit = self.preprocessor.input_preprocessor.num_samples
        return [i for i, clip in enumerate(waveforms) if len(clip) > limit]

    def _read_inputs(self, inputs, sample_rate=None):
        """Checked images (an array) or audio (a list of waveforms, files
        read and resampled), or a `ValueError` that says what was
        received."""
        if self.modality == "images":
            return self._check_images(inputs)
        rate = self.preprocessor.input_preprocessor.sample_rate
        return read_waveforms(inputs, rate, sample_rate)

    def _prepare(self, x, y):
        """Checks raw `{modality, "text"}` before any function is traced;
        returns `x` with audio read into waveforms, and `y`."""
        _check_no_labels(x, y)
        if x is None or isinstance(x, keras.utils.PyDataset):
            return x, y
        if hasattr(x, "element_spec"):  # A tf.data.Dataset.
            return x, y
        modality = self.modality
        if not isinstance(x, dict):
            raise ValueError(
                f"A captioner's inputs must be a dict with keys '{modality}' "
                f"and 'text' (one caption per input), or a batched "
                "`tf.data.Dataset` of such dicts. Received: "
                f"{type(x).__name__}"
            )
        if "text" not in x and {"token_ids", "padding_mask"} <= set(x):
            check_inputs(x, self.input)
            return x, y
        if set(x) != {modality, "text"}:
            raise ValueError(
                f"A captioner's inputs must be a dict with keys '{modality}' "
                f"and 'text'. Received keys: {sorted(x)}"
            )
        inputs = self._read_inputs(x[modality])
        text = x["text"]
        if isinstance(text, (str, bytes)):
            text = [text]
        text = list(np.asarray(text, dtype=object).reshape(-1))
        if not text:
            raise ValueError(
                "A captioner needs at least one caption to train or "
                "evaluate on. Received: an empty list of captions."
            )
        bad = [i for i, t in enumerate(text) if not isinstance(t, str)]
        if bad:
            raise ValueError(
                "Captions must be strings. Received non-strings at rows "
                f"{bad[:5]}: {[text[i] for i in bad[:5]]}"
            )
        if len(text) != len(inputs):
            raise ValueError(
                f"There must be one caption per input. Received: "
                f"{len(inputs)} {modality} and {len(text)} captions."
            )
        if modality == "audio":
            too_long = self._too_long(inputs)
            if too_long:
                audio = self.preprocessor.input_preprocessor
                raise ValueError(
                    f"{len(too_long)} clips are longer than the encoder's "
                    f"max_duration={audio.max_duration} s (rows "
                    f"{too_long[:5]}): their transcripts would no longer "
                    "match the cropped audio. Build the audio encoder with "
                    "a larger `max_duration`, or drop those clips."
                )
        return {modality: inputs, "text": x["text"]}, y

    # === Generation ===
    def _initial_cache(self, tokens, token_mask, length):
        """Runs the `"[START]"` token through the decoder: returns the
        self-attention caches `(batch, 2, length, heads, head_dim)` and the
        cross-attention caches (keys and values of the encoder tokens), one
        5-D tensor per layer."""
        batch_size = ops.shape(tokens)[0]
        num_tokens = ops.shape(tokens)[1]
        head_dim = self.hidden_dim // self.num_heads
        dtype = self.decoder_layers[0].compute_dtype
        self_cache = ops.zeros(
            (batch_size, 2, length, self.num_heads, head_dim), dtype
        )
        cross_cache = ops.zeros(
            (batch_size, 2, num_tokens, self.num_heads, head_dim), dtype
        )
        start = ops.full((batch_size, 1), START_TOKEN_ID, "int32")
        x = self.token_embedding(start, start_index=0)
        self_caches, cross_caches = [], []
        for layer in self.decoder_layers:
            x, layer_self_cache, layer_cross_cache = layer(
                x,
                tokens,
                encoder_padding_mask=token_mask,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=0,
                cross_attention_cache=cross_cache,
                cross_attention_cache_update_index=0,
                training=False,
            )
            self_caches.append(layer_self_cache)
            cross_caches.append(layer_cross_cache)
        return tuple(self_caches), tuple(cross_caches)

    def _decode_step(self, token_ids, index, tokens, token_mask, caches, cross):
        """One token per row `(batch, 1)` at position `index` -> logits
        `(batch, 1, vocabulary_size)`, hidden states and updated caches."""
        x = self.token_embedding(token_ids, start_index=index)
        new_caches = []
        for layer, cache, cross_cache in zip(
            self.decoder_layers, caches, cross
        ):
            x, cache, _ = layer(
                x,
                tokens,
                encoder_padding_mask=token_mask,
                self_attention_cache=cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
                cross_attention_cache_update_index=None,
                training=False,
            )
            new_caches.append(cache)
        return self.logits_dense(x), x, tuple(new_caches)

    def _generate_step(self, inputs, sampler, max_length, num_beams=1):
        """Encoder inputs -> token ids `(batch, max_length + 1)`,
        `"[START]"` first."""
        tokens, token_mask = self.encode(inputs, training=False)
        batch_size = ops.shape(tokens)[0]
        length = max_length + 1
        caches, cross = self._initial_cache(tokens, token_mask, length)
        if num_beams > 1:
            # The beams of an input share its tokens and their keys/values.
            tokens = ops.repeat(tokens, num_beams, axis=0)
            if token_mask is not None:
                token_mask = ops.repeat(token_mask, num_beams, axis=0)
            cross = tuple(ops.repeat(c, num_beams, axis=0) for c in cross)
        prompt = ops.concatenate(
            [
                ops.full((batch_size, 1), START_TOKEN_ID, "int32"),
                ops.full((batch_size, max_length), PAD_TOKEN_ID, "int32"),
            ],
            axis=1,
        )
        mask = ops.arange(length)[None, :] < 1
        mask = ops.broadcast_to(mask, (batch_size, length))

        def next(prompt, cache, index):
            rows = ops.shape(prompt)[0]
            token_ids = ops.slice(prompt, [0, index - 1], [rows, 1])
            logits, hidden, cache = self._decode_step(
                token_ids, index - 1, tokens, token_mask, cache, cross
            )
            return logits[:, 0, :], hidden[:, 0, :], cache

        return sampler(
            next,
            prompt,
            cache=caches,
            index=1,
            mask=mask,
            stop_token_ids=(END_TOKEN_ID,),
            model=self,
        )

    def _make_generate_function(self, sampler, max_length, num_beams):
        """Compiles `_generate_step` for this backend (KerasHub's
        `CausalLM.make_generate_function`)."""
        step = functools.partial(
            self._generate_step,
            sampler=sampler,
            max_length=max_length,
            num_beams=num_beams,
        )
        backend = keras.config.backend()
        if self.run_eagerly:
            return step
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.function(step, jit_compile=True)
        if backend == "jax":
            import jax

            @jax.jit
            def compiled(inputs, state):
                sampler_values, trainable, non_trainable = state
                mapping = itertools.chain(
                    zip(sampler.variables, sampler_values),
                    zip(self.trainable_variables, trainable),
                    zip(self.non_trainable_variables, non_trainable),
                )
                with keras.StatelessScope(state_mapping=mapping) as scope:
                    outputs = step(inputs)
                sampler_values = []
                for variable in sampler.variables:
                    value = scope.get_current_value(variable)
                    sampler_values.append(
                        variable.value if value is None else value
                    )
                return outputs, sampler_values

            def run(inputs):
                state = (
                    [v.value for v in sampler.variables],
                    [v.value for v in self.trainable_variables],
                    [v.value for v in self.non_trainable_variables],
                )
                outputs, sampler_values = compiled(inputs, state)
                # Only the sampler's seeds change during generation.
                for variable, value in zip(sampler.variables, sampler_values):
                    variable.assign(value)
                return outputs

            return run
        if backend == "torch":
            import torch

            def run_without_grad(inputs):
                with torch.no_grad():
                    return step(inputs)

            return run_without_grad
        return step

    def _generate_function(self, options, max_length):
        """Returns `(function, sampler)`, made once per setting."""
        key = (options, max_length, bool(self.run_eagerly))
        if key not in self._generate_functions:
            name, values = options[0], dict(options[1:])
            temperature = values["temperature"]
            num_beams = 1
            if name == "greedy":
                sampler = keras_hub.samplers.GreedySampler()
            elif name == "top_k":
                sampler = keras_hub.samplers.TopKSampler(
                    k=values["k"], temperature=temperature
                )
            elif name == "top_p":
                sampler = keras_hub.samplers.TopPSampler(
                    p=values["p"], temperature=temperature
                )
            else:
                num_beams = values["num_beams"]
                sampler = BeamSampler(
                    num_beams,
                    length_penalty=values["length_penalty"],
                    temperature=temperature,
                )
            function = self._make_generate_function(
                sampler, max_length, num_beams
            )
            if len(self._generate_functions) >= _MAX_GENERATE_FUNCTIONS:
                # Forget the oldest setting (dicts keep insertion order).
                del self._generate_functions[
                    next(iter(self._generate_functions))
                ]
            self._generate_functions[key] = (function, sampler)
        return self._generate_functions[key]

    def _check_generate_options(
        self,
        sampler="greedy",
        max_length=None,
        num_beams=4,
        length_penalty=1.0,
        k=5,
        p=0.9,
        temperature=1.0,
        seed=None,
        batch_size=32,
    ):
        """Validates `generate`'s arguments; returns the sampler options as
        a hashable tuple, and `max_length`."""
        if sampler not in SAMPLERS:
            raise ValueError(
                f"`sampler` must be one of {list(SAMPLERS)}. Received: "
                f"sampler={sampler!r}"
            )
        if max_length is None:
            max_length = self.sequence_length
        check_integers(max_length=max_length, batch_size=batch_size)
        if max_length > self.sequence_length:
            raise ValueError(
                "`max_length` must be at most the model's `sequence_length` "
                f"({self.sequence_length}). Received: max_length={max_length}"
            )
        if seed is not None:
            check_integers(minimum=0, seed=seed)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or temperature <= 0
        ):
            raise ValueError(
                "`temperature` must be a number > 0. Received: "
                f"temperature={temperature!r}"
            )
        options = [sampler, ("temperature", float(temperature))]
        if sampler == "top_k":
            check_integers(k=k)
            options.append(("k", k))
        elif sampler == "top_p":
            if isinstance(p, bool) or not isinstance(p, (int, float)):
                p = -1
            if not 0 < p <= 1:
                raise ValueError(f"`p` must be in (0, 1]. Received: p={p!r}")
            options.append(("p", float(p)))
        elif sampler == "beam":
            check_integers(num_beams=num_beams)
            if isinstance(length_penalty, bool) or not isinstance(
                length_penalty, (int, float)
            ):
                raise ValueError(
                    "`length_penalty` must be a number. Received: "
                    f"length_penalty={length_penalty!r}"
                )
            options.append(("num_beams", num_beams))
            options.append(("length_penalty", float(length_penalty)))
        return tuple(options), max_length

    def _encoder_arrays(self, inputs):
        """Checked images, or waveforms cropped or padded with their mask
        (`{"audio", "audio_padding_mask"}`), as NumPy arrays."""
        if self.modality == "images":
            return inputs
        too_long = self._too_long(inputs)
        if too_long:
            warnings.warn(
                f"{len(too_long)} clips are longer than the encoder's "
                f"max_duration (rows {too_long[:5]}); only their first "
                "max_duration seconds are captioned.",
                stacklevel=4,
            )
        return self.preprocessor.input_preprocessor(inputs)

    def _generate_ids(
        self, inputs, batch_size=32, seed=None, sample_rate=None, **options
    ):
        """Images or audio -> generated token ids `(n, max_length + 1)`
        (NumPy), `"[START]"` first, anything after the first `"[END]"`
        included."""
        inputs = self._read_inputs(inputs, sample_rate)
        options, max_length = self._check_generate_options(
            batch_size=batch_size, seed=seed, **options
        )
        if not len(inputs):
            return np.zeros((0, max_length + 1), "int32")
        inputs = self._encoder_arrays(inputs)
        function, sampler = self._generate_function(options, max_length)
        if seed is not None:
            for variable in sampler.variables:
                variable.assign(
                    np.array(
                        [seed, 0],
                        keras.backend.standardize_dtype(variable.dtype),
                    )
                )
        # Every batch has the same size (the last one is padded with copies
        # of its last row), so one compiled function serves them all.
        rows = len(keras.tree.flatten(inputs)[0])
        size = min(batch_size, rows)
        outputs = []
        for start in range(0, rows, size):
            stop = min(start + size, rows)

            def batch(x, start=start, stop=stop):
                x = x[start:stop]
                if stop - start < size:
                    filler = np.repeat(x[-1:], size - (stop - start), axis=0)
                    x = np.concatenate([x, filler])
                return ops.convert_to_tensor(x)

            token_ids = function(keras.tree.map_structure(batch, inputs))
            outputs.append(ops.convert_to_numpy(token_ids)[: stop - start])
        return np.concatenate(outputs).astype("int32")

    def generate(
        self,
        inputs,
        sampler="greedy",
        max_length=None,
        num_beams=4,
        length_penalty=1.0,
        k=5,
        p=0.9,
        temperature=1.0,
        seed=None,
        batch_size=32,
        sample_rate=None,
    ):
        """Captions images, or transcribes audio.

        Generation stops at `"[END]"` or after `max_length` tokens. The
        captions are lower-cased words joined by single spaces, closing
        punctuation attached (`"a red circle, on grass."`), without the
        special tokens; `"[UNK]"` tokens are dropped. An untrained model
        still returns strings, possibly empty or repetitive.

        Samplers:
        - `"greedy"`: the most likely token at each step.
        - `"top_k"`: samples among the `k` most likely tokens.
        - `"top_p"`: samples among the most likely tokens whose
          probabilities add up to `p` (nucleus sampling).
        - `"beam"`: beam search over `num_beams` beams. Beams are ranked by
          their summed log-probability divided by `length **
          length_penalty`, where `length` counts the generated tokens,
          `"[END]"` included: `0` is plain beam search, larger values favour
          longer captions. A beam that ends keeps its score. With
          `num_beams=1` this is greedy search.

        Inputs are processed `batch_size` at a time; each sampler setting
        and input shape compiles the generation loop once.

        Args:
            inputs: what the encoder takes. Images: an array `(batch,
                height, width, channels)`, pixels in `[0, 255]` (`uint8` or
                float), or a list of such images. Audio: a list of 1-D float
                waveforms, an array `(batch, samples)` or a list of audio
                file paths; clips longer than the encoder's `max_duration`
                are cropped to it, with a warning.
            sampler: str. `"greedy"`, `"top_k"`, `"top_p"` or `"beam"`.
                Defaults to `"greedy"`.
            max_length: int or `None`. Most tokens to generate, `"[END]"`
                included; at most `sequence_length`, the default.
            num_beams: int. Beams of `"beam"`. Defaults to `4`.
            length_penalty: float. Length normalisation exponent of
                `"beam"`. Defaults to `1.0`.
            k: int. Candidates of `"top_k"`. Defaults to `5`.
            p: float. Probability mass of `"top_p"`. Defaults to `0.9`.
            temperature: float. Logits are divided by it before sampling
                (and before beam scoring). Defaults to `1.0`.
            seed: int or `None`. Seed of `"top_k"` and `"top_p"`: the same
                seed gives the same captions. `None` continues the random
                stream of earlier calls.
            batch_size: int. Inputs per compiled call. Defaults to `32`.
            sample_rate: int or `None`. The rate of waveforms in `inputs`
                when it is not the audio encoder's: they are resampled.
                Defaults to `None`, the encoder's rate.

        Returns:
            A list of str, one caption per input.

        Raises:
            ValueError: for images of the wrong rank, channel count or
                dtype, audio that is not a batch of float waveforms or
                readable files (the message says what was received), or a
                bad argument.
        """
        if sample_rate is not None:
            check_integers(sample_rate=sample_rate)
        token_ids = self._generate_ids(
            inputs,
            batch_size=batch_size,
            seed=seed,
            sample_rate=sample_rate,
            sampler=sampler,
            max_length=max_length,
            num_beams=num_beams,
            length_penalty=length_penalty,
            k=k,
            p=p,
            temperature=temperature,
        )
        if not len(token_ids):
            return []
        return self.preprocessor.detokenize(token_ids)

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": keras.layers.serialize(self.encoder),
            "vocabulary": list(self.vocabulary),
            "sequence_length": self.sequence_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "num_encoder_layers": self.num_encoder_layers,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Deserialising consumes nested dicts: leave the caller's intact.
        config = copy.deepcopy(config)
        # Files saved before audio encoders name the encoder `image_encoder`.
        encoder = config.pop("image_encoder", None) or config["encoder"]
        config["encoder"] = keras.layers.deserialize(
            encoder, custom_objects=custom_objects
        )
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
