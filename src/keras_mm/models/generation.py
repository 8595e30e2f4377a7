"""Cached generation for tasks that write text: sampler options, the
compiled loop per backend, and batching.

A task that generates (`keras_mm.models.Captioner`) implements
`generate_step(inputs, sampler, max_length, num_beams)`, one compiled-able
loop from encoder inputs to token ids (KerasHub's `CausalLM` pattern), with
`decode_with_cache` here: a Transformer decoder run one token at a time
with its key/value cache. This module also validates the user's sampler
options, builds the sampler, compiles the step once per setting
(`jax.jit` over an explicit variable state, or `tf.function` with XLA) and
feeds it batches of one size.
"""

import functools
import itertools

import keras
import keras_hub
import numpy as np
from keras import ops

from keras_mm.base.replicas import batch_shards
from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
from keras_mm.layers.caption_preprocessor import PAD_TOKEN_ID
from keras_mm.layers.caption_preprocessor import START_TOKEN_ID
from keras_mm.models.beam_sampler import BeamSampler
from keras_mm.utils.validation import check_integers

SAMPLERS = ("greedy", "top_k", "top_p", "beam")
# Compiled generation functions kept per model, one per sampler setting.
MAX_GENERATE_FUNCTIONS = 8


def check_generate_options(
    sequence_length,
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
    """Validates `generate`'s arguments; returns the sampler setting (a
    hashable tuple of options, or the `keras_hub.samplers.Sampler` given)
    and `max_length`."""
    if max_length is None:
        max_length = sequence_length
    check_integers(max_length=max_length, batch_size=batch_size)
    if max_length > sequence_length:
        raise ValueError(
            "`max_length` must be at most the model's `sequence_length` "
            f"({sequence_length}). Received: max_length={max_length}"
        )
    if seed is not None:
        check_integers(minimum=0, seed=seed)
    if isinstance(sampler, keras_hub.samplers.Sampler):
        return sampler, max_length
    if sampler not in SAMPLERS:
        raise ValueError(
            f"`sampler` must be one of {list(SAMPLERS)} or a "
            "`keras_hub.samplers.Sampler`. Received: "
            f"sampler={sampler!r}"
        )
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


def make_sampler(options):
    """A setting from `check_generate_options` -> a sampler."""
    if isinstance(options, keras_hub.samplers.Sampler):
        return options
    name, values = options[0], dict(options[1:])
    temperature = values["temperature"]
    if name == "greedy":
        return keras_hub.samplers.GreedySampler()
    if name == "top_k":
        return keras_hub.samplers.TopKSampler(
            k=values["k"], temperature=temperature
        )
    if name == "top_p":
        return keras_hub.samplers.TopPSampler(
            p=values["p"], temperature=temperature
        )
    return BeamSampler(
        values["num_beams"],
        length_penalty=values["length_penalty"],
        temperature=temperature,
    )


def compile_step(model, step):
    """Compiles `step(inputs)` (which reads `model`'s variables and
    `step.sampler`'s seeds) for this backend, as KerasHub's
    `CausalLM.make_generate_function` does."""
    sampler = step.keywords["sampler"]
    backend = keras.config.backend()
    if model.run_eagerly:
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
                zip(model.trainable_variables, trainable),
                zip(model.non_trainable_variables, non_trainable),
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
                [v.value for v in model.trainable_variables],
                [v.value for v in model.non_trainable_variables],
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


def generate_function(model, cache, options, max_length):
    """`(function, sampler)` for a setting: `model.generate_step` compiled
    once per setting and kept in `cache` (a dict; the oldest of more than
    `MAX_GENERATE_FUNCTIONS` settings is dropped)."""
    setting = (
        ("sampler", id(options)) if not isinstance(options, tuple) else options
    )
    key = (setting, max_length, bool(model.run_eagerly))
    if key not in cache:
        sampler = make_sampler(options)
        step = functools.partial(
            model.generate_step,
            sampler=sampler,
            max_length=max_length,
            num_beams=getattr(sampler, "num_beams", 1),
        )
        if len(cache) >= MAX_GENERATE_FUNCTIONS:
            del cache[next(iter(cache))]  # Dicts keep insertion order.
        cache[key] = (compile_step(model, step), sampler)
    return cache[key]


def seed_sampler(sampler, seed):
    """Sets the seed of a sampler's random stream (`None` keeps it)."""
    if seed is None:
        return
    for variable in sampler.variables:
        dtype = keras.backend.standardize_dtype(variable.dtype)
        variable.assign(np.array([seed, 0], dtype))


def run_in_batches(function, inputs, batch_size):
    """`function` over `inputs` (arrays, or a dict of them) in batches of
    one size (the last padded with copies of its last row, so that one
    compiled function serves them all); returns the int32 NumPy outputs
    of every row.

    Under a `keras.distribution` (JAX), each batch is split over the
    devices of its batch axis: the size is rounded up to a multiple of
    their number."""
    rows = len(keras.tree.flatten(inputs)[0])
    shards = batch_shards()
    size = -(-min(batch_size, rows) // shards) * shards
    distribution = keras.distribution.distribution()
    outputs = []
    for start in range(0, rows, size):
        stop = min(start + size, rows)

        def batch(x, start=start, stop=stop):
            x = x[start:stop]
            if stop - start < size:
                filler = np.repeat(x[-1:], size - (stop - start), axis=0)
                x = np.concatenate([x, filler])
            if distribution is not None:
                layout = distribution.get_data_layout(x.shape)
                return keras.distribution.distribute_tensor(x, layout)
            return ops.convert_to_tensor(x)

        token_ids = function(keras.tree.map_structure(batch, inputs))
        outputs.append(ops.convert_to_numpy(token_ids)[: stop - start])
    return np.concatenate(outputs).astype("int32")


def initial_cache(decoder, tokens, token_mask, length):
    """Runs the `"[START]"` token through the decoder: returns the
    self-attention caches `(batch, 2, length, heads, head_dim)` and the
    cross-attention caches (keys and values of the encoder tokens), one
    5-D tensor per layer."""
    batch_size = ops.shape(tokens)[0]
    num_tokens = ops.shape(tokens)[1]
    head_dim = decoder.hidden_dim // decoder.num_heads
    dtype = decoder.decoder_layers[0].compute_dtype
    self_cache = ops.zeros(
        (batch_size, 2, length, decoder.num_heads, head_dim), dtype
    )
    cross_cache = ops.zeros(
        (batch_size, 2, num_tokens, decoder.num_heads, head_dim), dtype
    )
    start = ops.full((batch_size, 1), START_TOKEN_ID, "int32")
    x = decoder.token_embedding(start, start_index=0)
    self_caches, cross_caches = [], []
    for layer in decoder.decoder_layers:
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


def decode_step(decoder, token_ids, index, tokens, token_mask, caches, cross):
    """One token per row `(batch, 1)` at position `index` -> logits
    `(batch, 1, vocabulary_size)`, hidden states and updated caches."""
    x = decoder.token_embedding(token_ids, start_index=index)
    new_caches = []
    for layer, cache, cross_cache in zip(decoder.decoder_layers, caches, cross):
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
    return decoder.logits_dense(x), x, tuple(new_caches)


def decode_with_cache(
    decoder, tokens, token_mask, sampler, max_length, num_beams=1
):
    """Encoder tokens `(batch, tokens, hidden_dim)` (and their padding
    mask, or `None`) -> token ids `(batch, max_length + 1)`, `"[START]"`
    first, one token per step with the sampler.

    `decoder` is the model that holds the decoder: its `token_embedding`
    (a `keras_hub.layers.TokenAndPositionEmbedding`), `decoder_layers`
    (`keras_hub.layers.TransformerDecoder`s), `logits_dense`, `num_heads`
    and `hidden_dim`. The encoder tokens' cross-attention keys and values
    are computed once; the self-attention keys and values are cached, one
    5-D tensor per layer."""
    batch_size = ops.shape(tokens)[0]
    length = max_length + 1
    caches, cross = initial_cache(decoder, tokens, token_mask, length)
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
        logits, hidden, cache = decode_step(
            decoder, token_ids, index - 1, tokens, token_mask, cache, cross
        )
        return logits[:, 0, :], hidden[:, 0, :], cache

    return sampler(
        next,
        prompt,
        cache=caches,
        index=1,
        mask=mask,
        stop_token_ids=(END_TOKEN_ID,),
        model=decoder,
    )
