"""`Captioner` over an audio encoder: speech to text with attention."""

import os
import warnings

import keras
import numpy as np
import pytest
import scipy.io.wavfile

import keras_mm
from keras_mm.builders import build_captioner
from keras_mm.layers.caption_preprocessor import START_TOKEN_ID
from keras_mm.models.captioner import Captioner
from tests.models.captioner_test import cut_at_end
from tests.test_case import TestCase

SAMPLE_RATE = 8000
TRANSCRIPTS = ["go left", "stop", "turn right now", "go"]
# One tone per transcript, of different lengths (at most 0.5 s).
TONES = [(300, 0.3), (700, 0.2), (1200, 0.45), (2000, 0.25)]


def tones():
    clips = []
    for frequency, seconds in TONES:
        t = np.arange(int(SAMPLE_RATE * seconds)) / SAMPLE_RATE
        clips.append((0.5 * np.sin(2 * np.pi * frequency * t)).astype("f4"))
    return clips


def tiny_speech_captioner(sequence_length=6, **kwargs):
    options = dict(num_layers=1, num_heads=2, hidden_dim=16)
    options.update(kwargs)
    encoder = keras_mm.encoders.audio(
        sample_rate=SAMPLE_RATE,
        max_duration=0.5,
        num_mel_bins=16,
        hidden_dim=16,
    )
    return build_captioner(
        encoder,
        keras_mm.encoders.text_vocabulary(TRANSCRIPTS),
        sequence_length=sequence_length,
        **options,
    )


def model_inputs(model, n=2):
    """Preprocessed inputs: padded audio with its mask, and token ids."""
    audio = model.preprocessor.input_preprocessor(tones()[:n])
    rng = np.random.default_rng(1)
    token_ids = rng.integers(
        0, len(model.vocabulary), (n, model.sequence_length)
    ).astype("int32")
    token_ids[:, 0] = START_TOKEN_ID
    padding_mask = (
        np.arange(model.sequence_length)[None]
        < np.array([[model.sequence_length], [2]] * n)[:n]
    )
    return dict(audio, token_ids=token_ids, padding_mask=padding_mask)


def uncached_greedy(model, audio, max_length):
    """Greedy decoding that reruns the whole model on the prefix each step."""
    inputs = model.preprocessor.input_preprocessor(audio)
    n, length = len(audio), model.sequence_length
    token_ids = np.zeros((n, length + 1), "int32")
    token_ids[:, 0] = START_TOKEN_ID
    for index in range(1, max_length + 1):
        logits = model(
            dict(
                inputs,
                token_ids=token_ids[:, :length],
                padding_mask=np.broadcast_to(
                    np.arange(length) < index, (n, length)
                ),
            )
        )
        logits = keras.ops.convert_to_numpy(logits)
        token_ids[:, index] = logits[:, index - 1].argmax(-1)
    return token_ids[:, : max_length + 1]


class SpeechCaptionerTest(TestCase):
    def test_fit_evaluate_predict_on_waveforms_and_files(self):
        model = tiny_speech_captioner(num_encoder_layers=1)
        self.assertEqual(model.modalities, ("audio",))
        x = {"audio": tones(), "text": TRANSCRIPTS}
        history = model.fit(x, epochs=2, batch_size=2, verbose=0)
        self.assertTrue(np.all(np.isfinite(history.history["loss"])))
        scores = model.evaluate(x, verbose=0, return_dict=True)
        self.assertBetween(scores["next_token_accuracy"], 0.0, 1.0)
        logits = model.predict(x, verbose=0)
        self.assertEqual(logits.shape, (4, 6, len(model.vocabulary)))
        # Files, at another rate, are read and resampled.
        directory = self.get_temp_dir()
        paths = []
        for i, clip in enumerate(tones()):
            paths.append(os.path.join(directory, f"{i}.wav"))
            pcm = (np.repeat(clip, 2) * 32767).astype("int16")
            scipy.io.wavfile.write(paths[-1], 2 * SAMPLE_RATE, pcm)
        from_files = model.generate(paths)
        self.assertEqual(from_files, model.generate(tones()))
        self.assertLen(from_files, 4)
        self.assertTrue(all(isinstance(text, str) for text in from_files))

    def test_cached_decoding_equals_uncached(self):
        model = tiny_speech_captioner(
            sequence_length=7, num_layers=2, num_encoder_layers=1
        )
        cached = model.generate_token_ids(tones(), sampler="greedy")
        uncached = uncached_greedy(model, tones(), max_length=7)
        self.assertEqual(cut_at_end(cached), cut_at_end(uncached))

    def test_beam_with_one_beam_is_greedy(self):
        model = tiny_speech_captioner(sequence_length=7, num_encoder_layers=1)
        greedy = model.generate_token_ids(tones(), sampler="greedy")
        beam = model.generate_token_ids(tones(), sampler="beam", num_beams=1)
        self.assertEqual(cut_at_end(beam), cut_at_end(greedy))
        self.assertLen(model.generate(tones(), sampler="beam", num_beams=3), 4)

    def test_padded_audio_tokens_are_not_attended_to(self):
        # The same clip, padded to the encoder's length, gives the same
        # logits whatever the encoder computes on the padding: only the
        # valid tokens are attended to.
        model = tiny_speech_captioner(num_encoder_layers=1)
        inputs = model_inputs(model, n=2)
        tokens, mask = model.encode(
            {
                "audio": inputs["audio"],
                "audio_padding_mask": inputs["audio_padding_mask"],
            }
        )
        mask = keras.ops.convert_to_numpy(mask)
        self.assertTrue(mask[0].any() and not mask[0].all())
        decoder = model.decoder_layers[0]
        embedded = model.token_embedding(inputs["token_ids"])
        noise = np.random.default_rng(0).normal(size=keras.ops.shape(tokens))
        changed = np.where(mask[..., None], tokens, noise).astype("float32")
        outputs = [
            decoder(
                embedded,
                encoder_tokens,
                decoder_padding_mask=inputs["padding_mask"],
                encoder_padding_mask=mask,
            )
            for encoder_tokens in (tokens, changed)
        ]
        self.assertAllClose(outputs[0], outputs[1], atol=1e-5)

    @pytest.mark.slow
    def test_learns_four_transcripts(self):
        model = tiny_speech_captioner(
            hidden_dim=32,
            dropout=0.0,
            num_encoder_layers=1,
            learning_rate=3e-3,
        )
        x = {"audio": tones() * 4, "text": TRANSCRIPTS * 4}
        model.fit(x, epochs=25, batch_size=4, verbose=0)
        self.assertEqual(model.generate(tones()), TRANSCRIPTS)
        self.assertEqual(
            model.generate(tones(), sampler="beam", num_beams=2), TRANSCRIPTS
        )

    def test_saving(self):
        model = tiny_speech_captioner(num_encoder_layers=1)
        model.fit({"audio": tones(), "text": TRANSCRIPTS}, verbose=0)
        texts = model.generate(tones())
        with warnings.catch_warnings():
            # Loading must restore the optimizer whole (no skipped state).
            warnings.filterwarnings("error", "Skipping variable loading")
            restored = self.run_model_saving_test(model, model_inputs(model))
        self.assertEqual(restored.modalities, ("audio",))
        self.assertEqual(restored.generate(tones()), texts)
        self.assertEqual(
            Captioner.from_config(model.get_config()).get_config(),
            model.get_config(),
        )

    def test_bad_audio(self):
        model = tiny_speech_captioner()
        long_clip = np.zeros(SAMPLE_RATE, "float32")
        with pytest.raises(ValueError, match=r"1 clips are longer.*rows \[1\]"):
            model.fit(
                {"audio": [tones()[0], long_clip], "text": ["go", "stop"]},
                verbose=0,
            )
        with pytest.warns(UserWarning, match="only their first"):
            self.assertLen(model.generate([long_clip]), 1)
        with pytest.raises(ValueError, match="1-D float array.*int64"):
            model.generate([np.zeros(100, "int64")])
        with pytest.raises(ValueError, match="wrap it in a list"):
            model.generate(tones()[0])
        with pytest.raises(ValueError, match="could not be read.*nope.wav"):
            model.generate(["nope.wav"])
        with pytest.raises(ValueError, match=r"keys \['audio', 'text'\]"):
            model.fit({"images": tones(), "text": TRANSCRIPTS}, verbose=0)
        with pytest.raises(ValueError, match="4 audio and 3 captions"):
            model.fit({"audio": tones(), "text": TRANSCRIPTS[:3]}, verbose=0)

    def test_attention_maps_need_images(self):
        model = tiny_speech_captioner()
        with pytest.raises(ValueError, match="captioner of audio"):
            keras_mm.visualize.caption_attention_scores(model, tones())

    def test_bad_encoders(self):
        vocabulary = keras_mm.encoders.text_vocabulary(TRANSCRIPTS)
        text_encoder = keras_mm.encoders.text(
            "transformer_small", vocabulary=vocabulary, sequence_length=4
        )
        with pytest.raises(ValueError, match="must take images.*or audio"):
            build_captioner(text_encoder, vocabulary)
        encoder = keras_mm.encoders.audio(sample_rate=SAMPLE_RATE)
        with pytest.raises(ValueError, match="needs a `vocabulary`"):
            build_captioner(encoder)
