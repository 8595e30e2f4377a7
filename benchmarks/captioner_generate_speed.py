"""Captions per second of `Captioner.generate` (greedy, key/value cache)
against greedy decoding that reruns the whole model on the prefix at each
step, both compiled (`jax.jit` / `tf.function(jit_compile=True)`), and of
cached beam search with 3 beams.

The model is `keras_mm.build_captioner`'s default size (hidden 128, 2
layers, sequence length 20) over `cnn_small` at 64x64, untrained, with the
`"[END]"` logit pushed down so every caption runs the full 20 steps.

    KERAS_BACKEND=jax python -m benchmarks.captioner_generate_speed
    KERAS_BACKEND=tensorflow python -m benchmarks.captioner_generate_speed
"""

import argparse
import time

import keras
import numpy as np
from keras import ops

import keras_mm
from keras_mm.builders import build_captioner
from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
from keras_mm.layers.caption_preprocessor import START_TOKEN_ID


def uncached_greedy_function(model, max_length):
    """A compiled greedy loop that calls the full model on every step."""
    length = model.sequence_length

    def step(images, trainable=None, non_trainable=None):
        batch = ops.shape(images)[0]
        tokens = ops.concatenate(
            [
                ops.full((batch, 1), START_TOKEN_ID, "int32"),
                ops.zeros((batch, length - 1), "int32"),
            ],
            axis=1,
        )

        def body(index, tokens):
            inputs = {
                "images": images,
                "token_ids": tokens,
                "padding_mask": ops.broadcast_to(
                    ops.arange(length)[None] < index, (batch, length)
                ),
            }
            if trainable is None:
                logits = model(inputs, training=False)
            else:
                logits, _ = model.stateless_call(
                    trainable, non_trainable, inputs, training=False
                )
            next_token = ops.argmax(
                ops.take(logits, index - 1, axis=1), axis=-1
            )
            next_token = ops.cast(next_token, "int32")[:, None]
            # Position `length` has no slot: the last token is dropped, as
            # it would only be read by a next step.
            index = ops.minimum(index, length - 1)
            return ops.slice_update(tokens, [0, index], next_token)

        return ops.fori_loop(1, max_length + 1, body, tokens)

    if keras.config.backend() == "jax":
        import jax

        compiled = jax.jit(step)
        return lambda images: compiled(
            images,
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
        )
    import tensorflow as tf

    return tf.function(step, jit_compile=True)


def timed(function, repeats):
    function()  # Compiles.
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch-sizes", default="1,32")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    words = [f"word{i}" for i in range(60)]
    model = build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(64, 64, 3)),
        keras_mm.encoders.text_vocabulary([" ".join(words)]),
        sequence_length=20,
    )
    bias = np.array(model.logits_dense.bias.numpy())
    bias[END_TOKEN_ID] = -1e4
    model.logits_dense.bias.assign(bias)
    max_length = model.sequence_length
    uncached = uncached_greedy_function(model, max_length)
    rows = []
    for batch_size in [int(b) for b in args.batch_sizes.split(",")]:
        images = np.random.default_rng(0).integers(
            0, 256, (batch_size, 64, 64, 3)
        )
        images = images.astype("uint8")
        cached_s = timed(
            lambda: model.generate(images, batch_size=batch_size),
            args.repeats,
        )
        tensor = ops.convert_to_tensor(images)
        uncached_s = timed(
            lambda: ops.convert_to_numpy(uncached(tensor)), args.repeats
        )
        beam_s = timed(
            lambda: model.generate(
                images, sampler="beam", num_beams=3, batch_size=batch_size
            ),
            args.repeats,
        )
        rows.append(
            (
                batch_size,
                batch_size / cached_s,
                batch_size / uncached_s,
                batch_size / beam_s,
            )
        )
    print(f"backend {keras.config.backend()}, {max_length} tokens per caption")
    print(
        "| batch | greedy, cached | greedy, uncached | cache speed-up "
        "| beam (3), cached |"
    )
    print("|---|---|---|---|---|")
    for batch_size, cached, uncached_rate, beam in rows:
        print(
            f"| {batch_size} | {cached:.1f} | {uncached_rate:.1f} | "
            f"{cached / uncached_rate:.1f}x | {beam:.1f} |"
        )
    return rows


if __name__ == "__main__":
    main()
