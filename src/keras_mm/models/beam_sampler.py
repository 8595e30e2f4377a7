"""Beam search with length normalisation, for `Captioner.generate`."""

import keras
import keras_hub
from keras import ops

from keras_mm.layers.caption_preprocessor import PAD_TOKEN_ID
from keras_mm.models.task import top_one

# A log-probability that never wins, but stays finite (no inf - inf = NaN).
_NEVER = -1e9


class BeamSampler(keras_hub.samplers.Sampler):
    """Beam search with length normalisation, for `Captioner.generate`.

    KerasHub's `BeamSampler` ranks beams by their summed log-probability and
    keeps extending beams that have ended. Here a beam that emits a stop
    token is finished: it stays among the beams with its score frozen (its
    only continuation is padding, at no cost), and beams compete on their
    summed log-probability divided by `length ** length_penalty`, where
    `length` counts the generated tokens, the stop token included. All
    beams alive at a step have the same length, so the normalisation only
    matters between finished and unfinished beams, and for the final pick.
    `length_penalty=0` is plain beam search; larger values favour longer
    captions. With `num_beams=1` this is greedy search, token for token.
    """

    def __init__(self, num_beams, length_penalty=1.0, **kwargs):
        super().__init__(**kwargs)
        self.num_beams = num_beams
        self.length_penalty = length_penalty

    def __call__(
        self,
        next,
        prompt,
        cache=None,
        index=0,
        mask=None,
        stop_token_ids=None,
        hidden_states=None,
        model=None,
    ):
        num_beams = self.num_beams
        batch_size = ops.shape(prompt)[0]
        index = ops.cast(index, "int32")
        stop = stop_token_ids[0] if stop_token_ids else -1

        def flatten_beams(x):
            return ops.reshape(x, (-1,) + tuple(ops.shape(x)[2:]))

        def unflatten_beams(x):
            return ops.reshape(x, (-1, num_beams) + tuple(ops.shape(x)[1:]))

        def normalise(log_probs, lengths):
            lengths = ops.maximum(ops.cast(lengths, "float32"), 1.0)
            return log_probs / ops.power(lengths, self.length_penalty)

        cache = () if cache is None else cache
        prompt = ops.repeat(prompt, num_beams, axis=0)
        cache = keras.tree.map_structure(
            lambda x: ops.repeat(x, num_beams, axis=0), cache
        )
        # At first only the original beam counts; the others are copies.
        log_probs = ops.broadcast_to(
            ops.convert_to_tensor(
                [[0.0] + [_NEVER] * (num_beams - 1)], "float32"
            ),
            (batch_size, num_beams),
        )
        log_probs = flatten_beams(log_probs)
        finished = ops.zeros((batch_size * num_beams,), "bool")
        lengths = ops.zeros((batch_size * num_beams,), "int32")

        def cond(prompt, cache, index, log_probs, finished, lengths):
            return ops.logical_not(ops.all(finished))

        def body(prompt, cache, index, log_probs, finished, lengths):
            logits, _, cache = next(prompt, cache, index)
            logits = ops.cast(logits, "float32") / self.temperature
            step = ops.log_softmax(logits, axis=-1)
            vocabulary_size = ops.shape(step)[-1]
            # A finished beam continues with padding only, at no cost.
            pad_only = ops.where(
                ops.arange(vocabulary_size) == PAD_TOKEN_ID, 0.0, _NEVER
            )
            step = ops.where(finished[:, None], pad_only[None, :], step)
            totals = log_probs[:, None] + step
            candidate_lengths = ops.where(finished, lengths, index)
            scores = normalise(totals, candidate_lengths[:, None])
            scores = ops.reshape(scores, (-1, num_beams * vocabulary_size))
            totals = ops.reshape(totals, (-1, num_beams * vocabulary_size))
            _, indices = ops.top_k(scores, k=num_beams)
            beams = indices // vocabulary_size
            tokens = flatten_beams(indices % vocabulary_size)
            log_probs = flatten_beams(
                ops.take_along_axis(totals, indices, axis=1)
            )

            def gather_beams(x):
                x = unflatten_beams(x)
                beam_indices = beams
                for _ in range(2, len(x.shape)):
                    beam_indices = ops.expand_dims(beam_indices, -1)
                return flatten_beams(
                    ops.take_along_axis(x, beam_indices, axis=1)
                )

            prompt = gather_beams(prompt)
            cache = keras.tree.map_structure(gather_beams, cache)
            was_finished = gather_beams(finished)
            lengths = ops.where(was_finished, gather_beams(lengths), index)
            finished = ops.logical_or(was_finished, tokens == stop)
            tokens = ops.cast(tokens, prompt.dtype)[:, None]
            prompt = ops.slice_update(prompt, [0, index], tokens)
            return prompt, cache, index + 1, log_probs, finished, lengths

        max_length = ops.cast(ops.shape(prompt)[-1], "int32")
        prompt, _, _, log_probs, _, lengths = self.run_loop(
            cond,
            body,
            loop_vars=(prompt, cache, index, log_probs, finished, lengths),
            maximum_iterations=max_length - index,
            model=model,
        )
        scores = unflatten_beams(normalise(log_probs, lengths))
        best = ops.argmax(scores, axis=-1)[:, None, None]
        prompt = ops.take_along_axis(unflatten_beams(prompt), best, axis=1)
        return ops.squeeze(prompt, axis=1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_beams": self.num_beams,
                "length_penalty": self.length_penalty,
            }
        )
        return config


class TopOneSampler(keras_hub.samplers.GreedySampler):
    """Greedy search through `top_k(k=1)`: the stock argmax of the
    TensorFlow backend lowers to `BitwiseAnd`, which TFLite lacks."""

    def get_next_token(self, probabilities):
        return top_one(probabilities)
