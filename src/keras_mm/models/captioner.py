"""`keras_mm.models.Captioner`: images, audio or both to text, cached
decoding."""

import copy

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_mm.api_export import keras_mm_export
from keras_mm.layers.caption_preprocessor import CaptionPreprocessor
from keras_mm.models.beam_sampler import TopOneSampler
from keras_mm.models.caption_inputs import caption_encoders
from keras_mm.models.caption_inputs import check_training_inputs
from keras_mm.models.caption_inputs import encoder_arrays
from keras_mm.models.caption_inputs import num_rows
from keras_mm.models.caption_inputs import read_inputs
from keras_mm.models.generation import check_generate_options
from keras_mm.models.generation import decode_with_cache
from keras_mm.models.generation import generate_function
from keras_mm.models.generation import run_in_batches
from keras_mm.models.generation import seed_sampler
from keras_mm.models.task import Task
from keras_mm.models.task import audio_assets
from keras_mm.models.task import image_spec
from keras_mm.models.task import spec
from keras_mm.models.task import waveform_specs
from keras_mm.utils.inputs import inputs_like
from keras_mm.utils.validation import check_integers
from keras_mm.utils.validation import check_rate


@keras_mm_export
class Captioner(Task):
    """A captioner: an image or audio encoder (or both) and a Transformer
    decoder.

    The encoder's tokens (`sequence_output`) are projected to `hidden_dim`
    and given learned positions (when their number is fixed). With two
    encoders (`{"images": ..., "audio": ...}`), each one's tokens are
    projected and placed on their own, then laid side by side, image
    tokens first, so that the decoder attends to both at once. The tokens
    are optionally refined by `num_encoder_layers` Transformer encoder
    layers. A decoder of
    `num_layers` `keras_hub.layers.TransformerDecoder` layers reads the
    caption so far (token and learned position embeddings) with causal
    self-attention and cross-attends to the encoder tokens; a dense layer
    gives next-token logits.

    With an image encoder (`keras_mm.encoders.image`) it captions images;
    with an audio encoder (`keras_mm.encoders.audio`) it transcribes
    speech word by word: sequence-to-sequence recognition with attention,
    the counterpart of the CTC `keras_mm.models.SpeechRecognizer`; with
    both it narrates a scene from its picture and its sound
    (`keras_mm.datasets.driving`).

    Training takes raw inputs: `fit({"images": pixels, "text": captions})`
    or `fit({"audio": waveforms, "text": transcripts})` (or all three
    keys), with no `y`. The
    `preprocessor` (a `keras_mm.layers.CaptionPreprocessor`) runs in
    `tf.data` on every backend and makes teacher forcing: the model reads
    `"[START]"` and the caption, and learns to predict the caption and
    `"[END]"`; padding is weighted out of the loss and the metric. Captions
    longer than `sequence_length - 1` words (punctuation marks count as
    words) are truncated; words outside `vocabulary` become `"[UNK]"`.
    Waveforms (or audio file paths) are cropped or padded to the audio
    encoder's `max_duration` in the pipeline; clips longer than it are
    refused for training, since their transcripts would not match.

    `generate(inputs)` returns captions as strings, one token per step
    with cached keys and values (KerasHub's `CausalLM` pattern; see
    `keras_mm.models.generation`).

    Calling the model takes preprocessed tensors: `{"images": (batch,
    height, width, channels)` (and/or `"audio": float32 (batch, samples),
    "audio_padding_mask": bool (batch, samples)`), `"token_ids": int32
    (batch, sequence_length), "padding_mask": bool (batch,
    sequence_length)}` and returns float32 logits `(batch, sequence_length,
    vocabulary_size)`.

    `padding_mask` hides padded caption tokens from self-attention; audio
    tokens over padding are not attended to. The logits are float32 under
    any dtype policy (`mixed_bfloat16` keeps softmax and loss exact).

    `keras_mm.build_captioner` builds and compiles one.

    Args:
        encoder: `keras_mm.encoders.Encoder` from `keras_mm.encoders.image`
            or `keras_mm.encoders.audio`, or a dict of both keyed by
            `"images"` and `"audio"`.
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
        **kwargs,
    ):
        encoders = caption_encoders(encoder)
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
        self.encoders = encoders
        self.preprocessor = CaptionPreprocessor(
            vocabulary,
            sequence_length,
            modalities=tuple(encoders),
            input_preprocessor=(
                encoders["audio"].preprocessor if "audio" in encoders else None
            ),
            name="caption_preprocessor",
        )
        vocabulary_size = self.preprocessor.vocabulary_size
        self.encoder_projections = {
            modality: keras.layers.Dense(
                hidden_dim, dtype=dtype, name=f"{modality}_projection"
            )
            for modality in encoders
        }
        # Learned positions for the encoders whose token count is fixed.
        self.encoder_position_embeddings = {
            modality: keras_hub.layers.PositionEmbedding(
                num_tokens,
                dtype=dtype,
                name=f"{modality}_position_embedding",
            )
            for modality, num_tokens in (
                (m, e.output["sequence_output"].shape[1])
                for m, e in encoders.items()
            )
            if num_tokens
        }
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
        inputs = {}
        for modality, layer in encoders.items():
            if modality == "images":
                inputs["images"] = inputs_like(layer.input, name="images")
            else:
                inputs |= inputs_like(layer.input)
        inputs |= {
            "token_ids": keras.Input(
                (sequence_length,), dtype="int32", name="token_ids"
            ),
            "padding_mask": keras.Input(
                (sequence_length,), dtype="bool", name="padding_mask"
            ),
        }
        tokens, token_mask = self.encode(inputs)
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
        self.modalities = tuple(encoders)
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

    @property
    def encoder(self):
        """The encoder, or the dict of encoders, the model was built with."""
        if len(self.encoders) == 1:
            return next(iter(self.encoders.values()))
        return dict(self.encoders)

    def encode(self, inputs, training=None):
        """The encoders' inputs (a dict with `"images"` `(batch, height,
        width, channels)` and/or `"audio"`, `"audio_padding_mask"`; other
        keys are ignored) to the tokens the decoder attends to, `(batch,
        tokens, hidden_dim)`, image tokens first, and their bool padding
        mask `(batch, tokens)` (`None` when all tokens are valid)."""
        pieces, masks = [], []
        for modality, encoder in self.encoders.items():
            if modality == "images":
                outputs = encoder(inputs["images"], training=training)
            else:
                outputs = encoder(
                    {key: inputs[key] for key in encoder.input},
                    training=training,
                )
            x = self.encoder_projections[modality](outputs["sequence_output"])
            if modality in self.encoder_position_embeddings:
                x = x + self.encoder_position_embeddings[modality](x)
            pieces.append(x)
            masks.append(outputs.get("padding_mask"))
        x = ops.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
        if all(mask is None for mask in masks):
            mask = None
        else:
            mask = ops.concatenate(
                [
                    ops.ones_like(piece[..., 0], "bool") if m is None else m
                    for piece, m in zip(pieces, masks)
                ],
                axis=1,
            )
        for layer in self.encoder_layers:
            x = layer(x, padding_mask=mask, training=training)
        return x, mask

    def default_loss(self):
        # Averaged over the caption tokens that are not padding.
        return keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, reduction="mean_with_sample_weight"
        )

    def default_metrics(self):
        # The share of caption tokens predicted exactly, padding excluded.
        return {
            "weighted_metrics": [
                keras.metrics.SparseCategoricalAccuracy(
                    name="next_token_accuracy"
                )
            ]
        }

    # === Input checks (`keras_mm.models.caption_inputs`) ===
    def _read_inputs(self, inputs, sample_rate=None):
        return read_inputs(
            inputs,
            self.encoders,
            self.preprocessor.input_preprocessor,
            sample_rate,
        )

    def _prepare(self, x, y):
        """Checks raw `{*modalities, "text"}` before any function is
        traced; returns `x` with audio read into waveforms, and `y`."""
        return check_training_inputs(
            x,
            y,
            self.modalities,
            self.input,
            self._read_inputs,
            self.preprocessor.input_preprocessor,
        )

    def _check_labels(self, x, y, method):
        """A captioner's labels are the captions in `x["text"]`, checked
        by `_prepare`."""
        return y

    def encoder_inputs(self, inputs, sample_rate=None):
        """Raw inputs, as `generate` takes them, to the encoders' inputs
        as NumPy arrays (`"images"`; `"audio"` cropped or padded, with its
        `"audio_padding_mask"`), as `encode` takes them."""
        return encoder_arrays(
            self._read_inputs(inputs, sample_rate),
            self.preprocessor.input_preprocessor,
        )

    # === Generation ===
    def generate_step(self, inputs, sampler, max_length, num_beams=1):
        """Encoder inputs (a dict, as `encode` takes) -> token ids
        `(batch, max_length + 1)`,
        `"[START]"` first: the encoder runs once, then the decoder one
        token at a time with its key/value cache
        (`keras_mm.models.generation.decode_with_cache`)."""
        tokens, token_mask = self.encode(inputs, training=False)
        return decode_with_cache(
            self, tokens, token_mask, sampler, max_length, num_beams
        )

    def generate_token_ids(
        self, inputs, batch_size=32, seed=None, sample_rate=None, **options
    ):
        """Generates as `generate` does (same arguments) and returns token
        ids instead of strings: a NumPy int32 array `(n, max_length + 1)`,
        `"[START]"` first, anything after the first `"[END]"` included.
        `keras_mm.visualize.caption_attention` reads them back."""
        inputs = self._read_inputs(inputs, sample_rate)
        options, max_length = check_generate_options(
            self.sequence_length, batch_size=batch_size, seed=seed, **options
        )
        if not num_rows(inputs):
            return np.zeros((0, max_length + 1), "int32")
        inputs = encoder_arrays(inputs, self.preprocessor.input_preprocessor)
        function, sampler = generate_function(
            self, self._generate_functions, options, max_length
        )
        seed_sampler(sampler, seed)
        return run_in_batches(function, inputs, batch_size)

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
        """Captions images, transcribes audio, or narrates both.

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

        Args:
            inputs: what the encoder takes. Images: an array `(batch,
                height, width, channels)`, pixels in `[0, 255]` (`uint8` or
                float), or a list of such images. Audio: a list of 1-D float
                waveforms, an array `(batch, samples)` or a list of audio
                file paths; clips longer than the encoder's `max_duration`
                are cropped to it, with a warning. A captioner of both
                takes a dict `{"images": ..., "audio": ...}`, one entry per
                example in each.
            sampler: str. `"greedy"`, `"top_k"`, `"top_p"` or `"beam"`,
                or a `keras_hub.samplers.Sampler` instance (whose own
                options then apply; `num_beams`, `k`, `p`, `temperature`
                and `length_penalty` are ignored). Defaults to `"greedy"`.
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
        token_ids = self.generate_token_ids(
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

    # === Serving ===
    def _image_spec(self):
        encoder = self.encoders["images"]
        return image_spec("images", encoder.input.shape, encoder)

    def serving_signatures(self, raw_inputs=True):
        """`serving_default`: uint8 pixels and/or float32 waveforms to
        `captions`, generated greedily in the graph."""
        sampler = keras_hub.samplers.GreedySampler()
        audio = self.preprocessor.input_preprocessor
        specs = {}
        if "images" in self.encoders:
            specs["images"] = self._image_spec()
        if "audio" in self.encoders:
            specs["audio"] = spec((None, None), "float32", "audio")

        def serve(inputs):
            x = dict(inputs)
            if audio is not None:
                x.update(audio(x["audio"]))
            token_ids = self.generate_step(x, sampler, self.sequence_length)
            return {"captions": self.preprocessor.detokenize(token_ids)}

        return {"serving_default": (serve, specs)}

    def litert_signature(self):
        """Pixels and/or waveforms padded with their mask to `token_ids`,
        generated greedily inside the file with the key/value cache."""
        sampler = TopOneSampler()
        inputs, specs = {}, {}
        if "images" in self.encoders:
            specs["images"] = self._image_spec()
            shape = list(specs["images"].shape[1:])
            inputs["images"] = {"type": "images", "shape": shape}
        if "audio" in self.encoders:
            layer = self.preprocessor.input_preprocessor
            specs.update(waveform_specs("audio", layer))
            inputs["audio"] = audio_assets(layer)
        assets = {
            "kind": "captioner",
            "inputs": inputs,
            "vocabulary": list(self.vocabulary),
        }

        def serve(x):
            token_ids = self.generate_step(x, sampler, self.sequence_length)
            return {"token_ids": ops.cast(token_ids, "int32")}

        return assets, specs, serve

    def serving_request(self, inputs):
        if len(self.modalities) == 1 and not isinstance(inputs, dict):
            return {self.modalities[0]: inputs}
        return super().serving_request(inputs)

    def reference_outputs(self, inputs):
        return {"captions": self.generate(inputs)}

    # === Config ===
    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "encoder": (
                keras.layers.serialize(self.encoder)
                if len(self.encoders) == 1
                else {
                    modality: keras.layers.serialize(encoder)
                    for modality, encoder in self.encoders.items()
                }
            ),
            "vocabulary": list(self.vocabulary),
            "sequence_length": self.sequence_length,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "dropout": self.dropout,
            "num_encoder_layers": self.num_encoder_layers,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            **self.task_config(),
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        # Deserialising consumes nested dicts: leave the caller's intact.
        config = copy.deepcopy(config)
        encoder = config["encoder"]
        if "class_name" in encoder:  # One encoder, not a dict of them.
            config["encoder"] = keras.layers.deserialize(
                encoder, custom_objects=custom_objects
            )
        else:
            config["encoder"] = {
                modality: keras.layers.deserialize(
                    value, custom_objects=custom_objects
                )
                for modality, value in encoder.items()
            }
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)
