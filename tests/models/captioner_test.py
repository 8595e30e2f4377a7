import json

import keras
import keras_hub
import numpy as np
import pytest

import keras_mm
from keras_mm.builders import build_captioner
from keras_mm.layers.caption_preprocessor import END_TOKEN_ID
from keras_mm.layers.caption_preprocessor import START_TOKEN_ID
from keras_mm.models.captioner import Captioner
from tests.test_case import TestCase

CAPTIONS = ["a red circle", "a blue square", "two green circles", "a square"]
COLOURS = [(255, 0, 0), (0, 0, 255), (0, 255, 0), (255, 255, 0)]


def vocabulary():
    return keras_mm.encoders.text_vocabulary(CAPTIONS)


def solid_images():
    return np.stack([np.full((32, 32, 3), c, "uint8") for c in COLOURS])


def random_images(n=3):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 32, 32, 3)).astype("uint8")


def tiny_captioner(sequence_length=6, **kwargs):
    options = dict(num_layers=1, num_heads=2, hidden_dim=16)
    options.update(kwargs)
    return build_captioner(
        keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3)),
        vocabulary(),
        sequence_length=sequence_length,
        **options,
    )


def model_inputs(model, n=2):
    rng = np.random.default_rng(1)
    token_ids = rng.integers(
        0, len(model.vocabulary), (n, model.sequence_length)
    ).astype("int32")
    token_ids[:, 0] = START_TOKEN_ID
    lengths = np.array([model.sequence_length, 2] * n)[:n, None]
    padding_mask = np.arange(model.sequence_length)[None] < lengths
    return {
        "images": random_images(n),
        "token_ids": token_ids,
        "padding_mask": padding_mask,
    }


def cut_at_end(token_ids):
    """Token ids after `"[START]"`, up to and with the first `"[END]"`."""
    rows = []
    for row in np.asarray(token_ids)[:, 1:].tolist():
        rows.append(
            row[: row.index(END_TOKEN_ID) + 1] if END_TOKEN_ID in row else row
        )
    return rows


def uncached_greedy(model, images, max_length):
    """Greedy decoding that reruns the whole model on the prefix each step."""
    n, length = len(images), model.sequence_length
    token_ids = np.zeros((n, length + 1), "int32")
    token_ids[:, 0] = START_TOKEN_ID
    for index in range(1, max_length + 1):
        logits = model(
            {
                "images": images,
                "token_ids": token_ids[:, :length],
                "padding_mask": np.broadcast_to(
                    np.arange(length) < index, (n, length)
                ),
            }
        )
        logits = keras.ops.convert_to_numpy(logits)
        token_ids[:, index] = logits[:, index - 1].argmax(-1)
    return token_ids[:, : max_length + 1]


def log_softmax(logits):
    logits = logits - logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def best_of_two_tokens(model, image, length_penalty):
    """All captions of at most two tokens, scored as beam search scores
    them (summed log-probability / length ** length_penalty), by brute
    force; returns the best one."""
    length = model.sequence_length
    size = len(model.vocabulary)
    token_ids = np.zeros((size + 1, length), "int32")
    token_ids[:, 0] = START_TOKEN_ID
    token_ids[1:, 1] = np.arange(size)
    padding_mask = np.broadcast_to(np.arange(length) < 2, (size + 1, length))
    logits = model(
        {
            "images": np.repeat(image[None], size + 1, axis=0),
            "token_ids": token_ids,
            "padding_mask": padding_mask,
        }
    )
    log_probs = log_softmax(keras.ops.convert_to_numpy(logits))
    first = log_probs[0, 0]
    candidates = {(END_TOKEN_ID,): first[END_TOKEN_ID]}
    for token in range(size):
        if token == END_TOKEN_ID:
            continue
        for second in range(size):
            score = first[token] + log_probs[token + 1, 1, second]
            candidates[(token, second)] = score / 2.0**length_penalty
    return list(max(candidates, key=candidates.get))


class CaptionerTest(TestCase):
    def test_fit_evaluate_predict(self):
        model = tiny_captioner()
        self.assertIsInstance(model, Captioner)
        x = {"images": solid_images(), "text": CAPTIONS}
        history = model.fit(x, epochs=2, batch_size=2, verbose=0)
        self.assertEqual(
            sorted(history.history), ["loss", "next_token_accuracy"]
        )
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        scores = model.evaluate(x, verbose=0, return_dict=True)
        self.assertBetween(scores["next_token_accuracy"], 0.0, 1.0)
        logits = model.predict(x, verbose=0)
        self.assertEqual(logits.shape, (4, 6, len(model.vocabulary)))
        self.assertEqual(logits.dtype, np.float32)

    def test_fit_on_a_dataset_of_raw_inputs(self):
        import tensorflow as tf

        model = tiny_captioner()
        dataset = tf.data.Dataset.from_tensor_slices(
            {"images": solid_images(), "text": CAPTIONS}
        ).batch(2)
        history = model.fit(dataset, verbose=0)
        self.assertTrue(np.isfinite(history.history["loss"][0]))

    def test_generate_with_each_sampler(self):
        model = tiny_captioner(num_encoder_layers=1)
        images = random_images(3)
        for sampler in ("greedy", "top_k", "top_p", "beam"):
            captions = model.generate(images, sampler=sampler, batch_size=2)
            self.assertIsInstance(captions, list)
            self.assertLen(captions, 3)
            for caption in captions:
                self.assertIsInstance(caption, str)
                self.assertLessEqual(len(caption.split()), 6)
        # A seed makes sampling repeatable.
        first = model.generate(images, sampler="top_k", k=8, seed=3)
        second = model.generate(images, sampler="top_k", k=8, seed=3)
        self.assertEqual(first, second)
        self.assertEqual(model.generate(images[:0]), [])

    def test_generate_takes_a_keras_hub_sampler(self):
        model = tiny_captioner()
        images = random_images(3)
        self.assertEqual(
            model.generate(images, sampler=keras_hub.samplers.GreedySampler()),
            model.generate(images),
        )
        sampler = keras_hub.samplers.TopKSampler(k=4)
        first = model.generate(images, sampler=sampler, seed=5)
        self.assertEqual(model.generate(images, sampler=sampler, seed=5), first)
        self.assertLen(first, 3)
        with pytest.raises(ValueError, match="keras_hub.samplers.Sampler"):
            model.generate(images, sampler="nucleus")

    def test_generate_compiles_once_per_setting(self):
        model = tiny_captioner()
        # The step runs in Python only while a function is traced.
        traces = []
        step = model.generate_step

        def counted_step(*args, **kwargs):
            traces.append(kwargs["max_length"])
            return step(*args, **kwargs)

        object.__setattr__(model, "generate_step", counted_step)
        images = random_images(3)
        model.generate(images, max_length=3)
        model.generate(images[::-1], max_length=3)
        model.generate(random_images(3) // 2, max_length=3)
        self.assertEqual(traces, [3])
        model.generate(images, max_length=4)
        self.assertLen(model._generate_functions, 2)
        self.assertEqual(traces, [3, 4])

    def test_cached_decoding_equals_uncached(self):
        model = tiny_captioner(
            sequence_length=8, num_layers=2, num_encoder_layers=1
        )
        images = random_images(3)
        cached = model.generate_token_ids(images, sampler="greedy")
        uncached = uncached_greedy(model, images, max_length=8)
        self.assertEqual(cut_at_end(cached), cut_at_end(uncached))

    def test_beam_with_one_beam_is_greedy(self):
        model = tiny_captioner(sequence_length=8, num_layers=2)
        images = random_images(4)
        greedy = model.generate_token_ids(images, sampler="greedy")
        for length_penalty in (0.0, 2.0):
            beam = model.generate_token_ids(
                images,
                sampler="beam",
                num_beams=1,
                length_penalty=length_penalty,
            )
            self.assertEqual(cut_at_end(beam), cut_at_end(greedy))

    @pytest.mark.slow
    def test_beam_search_finds_the_best_short_caption(self):
        # With as many beams as tokens, beam search over two steps is
        # exhaustive: it must find the brute-force best under its score.
        model = tiny_captioner()
        images = random_images(2)
        num_beams = len(model.vocabulary)
        for length_penalty in (0.0, 1.0, 4.0, -2.0):
            beam = model.generate_token_ids(
                images,
                sampler="beam",
                num_beams=num_beams,
                length_penalty=length_penalty,
                max_length=2,
            )
            expected = [
                best_of_two_tokens(model, image, length_penalty)
                for image in images
            ]
            self.assertEqual(cut_at_end(beam), expected)

    @pytest.mark.slow
    def test_overfits_four_captions(self):
        model = tiny_captioner(hidden_dim=32, dropout=0.0, learning_rate=2e-3)
        images = solid_images()
        # Compiled before training: generation must see the new weights.
        self.assertLen(model.generate(images), 4)
        x = {"images": np.concatenate([images] * 4), "text": CAPTIONS * 4}
        model.fit(x, epochs=15, batch_size=4, verbose=0)
        self.assertEqual(model.generate(images), CAPTIONS)
        self.assertEqual(
            model.generate(images, sampler="beam", num_beams=3), CAPTIONS
        )

    def test_saving(self):
        model = tiny_captioner(num_encoder_layers=1)
        model.fit({"images": solid_images(), "text": CAPTIONS}, verbose=0)
        # Generating first leaves nothing behind that saving would trip on.
        captions = model.generate(solid_images(), sampler="top_k", seed=1)
        restored = self.run_model_saving_test(model, model_inputs(model))
        self.assertEqual(
            json.dumps(restored.get_config()), json.dumps(model.get_config())
        )
        self.assertEqual(
            restored.generate(solid_images(), sampler="top_k", seed=1),
            captions,
        )
        # The compiled loss and metric come back too.
        self.assertEqual(restored.loss.reduction, "mean_with_sample_weight")
        self.assertIn(
            "next_token_accuracy",
            restored.get_compile_config()["weighted_metrics"][0]["config"][
                "name"
            ],
        )

    def test_mixed_precision(self):
        keras.config.set_dtype_policy("mixed_bfloat16")
        model = tiny_captioner()
        keras.config.set_dtype_policy("float32")
        self.assertEqual(model.dtype_policy.name, "mixed_bfloat16")
        self.assertEqual(
            model.decoder_layers[0].dtype_policy.name, "mixed_bfloat16"
        )
        logits = model(model_inputs(model))
        self.assertEqual(
            keras.backend.standardize_dtype(logits.dtype), "float32"
        )
        self.assertLen(model.generate(random_images(2)), 2)
        revived = Captioner.from_config(model.get_config())
        self.assertEqual(
            revived.decoder_layers[0].dtype_policy.name, "mixed_bfloat16"
        )

    def test_config_round_trip(self):
        model = tiny_captioner(intermediate_dim=24)
        config = model.get_config()
        self.assertEqual(config["intermediate_dim"], 24)
        revived = Captioner.from_config(config)
        self.assertEqual(revived.get_config(), config)
        self.assertEqual(tiny_captioner(hidden_dim=8).intermediate_dim, 32)

    def test_bad_images(self):
        model = tiny_captioner()
        with pytest.raises(
            ValueError,
            match=r"\(batch, height, width, 3\)"
            r".*images\[None\].*\(32, 32, 3\)",
        ):
            model.generate(np.zeros((32, 32, 3), "uint8"))
        with pytest.raises(
            ValueError, match=r"Received: shape \(2, 32, 32, 1\)"
        ):
            model.generate(np.zeros((2, 32, 32, 1), "uint8"))
        with pytest.raises(ValueError, match="dtype <U1"):
            model.generate(np.full((1, 2, 2, 3), "a"))
        with pytest.raises(ValueError, match="Received: shape"):
            model.fit(
                {"images": np.zeros((4, 32, 32), "uint8"), "text": CAPTIONS},
                verbose=0,
            )

    def test_bad_captions(self):
        model = tiny_captioner()
        with pytest.raises(ValueError, match="empty list of captions"):
            model.fit(
                {"images": np.zeros((0, 32, 32, 3), "uint8"), "text": []},
                verbose=0,
            )
        with pytest.raises(ValueError, match="4 images and 3 captions"):
            model.fit(
                {"images": solid_images(), "text": CAPTIONS[:3]}, verbose=0
            )
        with pytest.raises(ValueError, match="must be strings.*None"):
            model.fit(
                {"images": solid_images(), "text": CAPTIONS[:3] + [None]},
                verbose=0,
            )
        with pytest.raises(ValueError, match="Received keys: \\['images'\\]"):
            model.fit({"images": solid_images()}, verbose=0)
        with pytest.raises(ValueError, match="must be a dict"):
            model.fit(solid_images(), verbose=0)
        with pytest.raises(ValueError, match="pass no `y`"):
            model.fit(
                {"images": solid_images(), "text": CAPTIONS},
                np.zeros(4),
                verbose=0,
            )

    def test_bad_arguments(self):
        model = tiny_captioner()
        images = solid_images()
        with pytest.raises(ValueError, match="`sampler` must be one of"):
            model.generate(images, sampler="nucleus")
        with pytest.raises(ValueError, match="at most.*6.*max_length=7"):
            model.generate(images, max_length=7)
        with pytest.raises(ValueError, match="num_beams=0"):
            model.generate(images, sampler="beam", num_beams=0)
        with pytest.raises(ValueError, match="p=1.5"):
            model.generate(images, sampler="top_p", p=1.5)
        with pytest.raises(ValueError, match="temperature=0"):
            model.generate(images, temperature=0)
        with pytest.raises(ValueError, match="multiple of `num_heads`"):
            tiny_captioner(hidden_dim=10, num_heads=4)
        with pytest.raises(ValueError, match="Unknown image encoder"):
            build_captioner("no_such_encoder", vocabulary())
        with pytest.raises(ValueError, match="Received: Dense"):
            build_captioner(keras.layers.Dense(2), vocabulary())
        with pytest.raises(ValueError, match="learning_rate=0"):
            tiny_captioner(learning_rate=0)


def tone(frequency, seconds, sample_rate=8000):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (0.5 * np.sin(2 * np.pi * frequency * t)).astype("float32")


def image_audio_captioner(**kwargs):
    return build_captioner(
        {
            "audio": keras_mm.encoders.audio(
                sample_rate=8000,
                max_duration=0.25,
                num_mel_bins=16,
                hidden_dim=16,
            ),
            "images": keras_mm.encoders.image(
                "cnn_small", image_shape=(32, 32, 3)
            ),
        },
        keras_mm.encoders.text_vocabulary(
            ["red low", "red high", "blue low", "blue high"]
        ),
        sequence_length=4,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        **kwargs,
    )


class ImageAudioCaptionerTest(TestCase):
    def test_decoder_attends_to_both_encoders(self):
        model = image_audio_captioner()
        self.assertEqual(model.modalities, ("images", "audio"))
        self.assertEqual(sorted(model.encoder), ["audio", "images"])
        # Image tokens first, all valid; audio tokens over padding masked.
        clips = [tone(300, 0.25), tone(300, 0.1)]
        x = model.encoder_inputs({"images": solid_images()[:2], "audio": clips})
        tokens, mask = model.encode(x)
        mask = keras.ops.convert_to_numpy(mask)
        image_tokens = model.encoders["images"].output["sequence_output"]
        num_image = image_tokens.shape[1]
        self.assertEqual(keras.ops.shape(tokens)[1], mask.shape[1])
        self.assertTrue(mask[:, :num_image].all())
        self.assertTrue(mask[0, num_image:].all())
        self.assertFalse(mask[1, num_image:].all())

        # A caption that needs the colour of the image and the pitch of
        # the sound is learned from both.
        colours = {"red": (255, 0, 0), "blue": (0, 0, 255)}
        pitches = {"low": 300.0, "high": 2000.0}
        captions = [f"{c} {p}" for c in colours for p in pitches] * 4
        images = np.stack(
            [
                np.full((32, 32, 3), colours[c.split()[0]], "uint8")
                for c in captions
            ]
        )
        audio = [tone(pitches[c.split()[1]], 0.25) for c in captions]
        model.fit(
            {"images": images, "audio": audio, "text": captions},
            epochs=30,
            batch_size=16,
            verbose=0,
        )
        self.assertEqual(
            model.generate({"images": images[:4], "audio": audio[:4]}),
            captions[:4],
        )

    def test_bad_encoders(self):
        image = keras_mm.encoders.image("cnn_small", image_shape=(32, 32, 3))
        with pytest.raises(
            ValueError, match=r"keys among \['images', 'audio'\]"
        ):
            build_captioner({"video": image}, vocabulary())
        with pytest.raises(
            ValueError, match=r"encoder\['audio'\] must take audio"
        ):
            build_captioner({"audio": image}, vocabulary())
