import os

import keras
import numpy as np
import pytest

import keras_mm
from keras_mm import visualize
from keras_mm.layers.word_tokenizer import SPECIAL_TOKENS
from tests.test_case import TestCase


class TrainingCurvesTest(TestCase):
    def test_writes_png_with_a_panel_per_metric(self):
        path = os.path.join(self.get_temp_dir(), "curves.png")
        figure = visualize.training_curves(
            {
                "loss": [1.0, 0.6, 0.4],
                "val_loss": [1.2, 0.9, 0.8],
                "accuracy": [0.3, 0.6, 0.9],
            },
            path=path,
        )
        self.assertEqual(
            [a.get_title() for a in figure.axes], ["loss", "accuracy"]
        )
        self.assertEqual(len(figure.axes[0].lines), 2)  # train, validation
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_bad_history(self):
        with pytest.raises(ValueError, match="History"):
            visualize.training_curves({})


class AttentionMapTest(TestCase):
    def test_attention_map_of_a_fused_classifier(self):
        texts = ["the circles are red", "the squares are big"]
        vocab = keras_mm.encoders.text_vocabulary(texts)
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(64, 64, 3)
                ),
                "text": keras_mm.encoders.text(
                    "bigru_small", vocabulary=vocab, sequence_length=6
                ),
            },
            num_classes=3,
            fusion="cross_attention",
            hidden_dim=8,
        )
        x = {"images": np.zeros((2, 64, 64, 3), "uint8"), "text": texts}
        scores = keras_mm.visualize.attention_scores(model, x)
        # 4 heads, 6 text tokens, a 4 x 4 grid of image tokens.
        self.assertEqual(scores["text->images"].shape, (2, 4, 6, 16))
        self.assertAllClose(
            scores["text->images"][0, :, :4].sum(-1), np.ones((4, 4)), atol=1e-5
        )
        path = self.get_temp_dir() + "/attention.png"
        figure = keras_mm.visualize.attention_map(model, x, index=0, path=path)
        self.assertEqual(
            [axis.get_title() for axis in figure.axes],
            ["all words", "the", "circles", "are", "red"],
        )
        self.assertGreater(os.path.getsize(path), 1000)
        # Saved and loaded, the model still gives its scores.
        model_path = self.get_temp_dir() + "/model.keras"
        model.save(model_path)
        restored = keras.saving.load_model(model_path)
        self.assertAllClose(
            keras_mm.visualize.attention_scores(restored, x)["text->images"],
            scores["text->images"],
            atol=1e-5,
        )
        with pytest.raises(ValueError, match="index"):
            keras_mm.visualize.attention_map(model, x, index=5)
        concat = keras_mm.build_classifier(
            {"text": keras_mm.encoders.text("bigru_small", vocabulary=vocab)},
            num_classes=2,
        )
        with pytest.raises(ValueError, match="cross_attention"):
            keras_mm.visualize.attention_scores(concat, {"text": texts})


class CaptionAttentionTest(TestCase):
    def test_scores_follow_the_generated_words(self):
        from tests.models.captioner_test import solid_images
        from tests.models.captioner_test import tiny_captioner

        model = tiny_captioner(num_layers=2)
        images = solid_images()
        words, scores = visualize.caption_attention_scores(
            model, images, max_length=5
        )
        # 2 layers, 2 heads, 5 steps, a 2 x 2 grid of image tokens.
        self.assertEqual(scores.shape, (4, 2, 2, 5, 4))
        self.assertAllClose(scores.sum(-1), np.ones((4, 2, 2, 5)), atol=1e-5)
        captions = model.generate(images, max_length=5)
        self.assertEqual(
            [[w for w in row if w not in SPECIAL_TOKENS] for row in words],
            [caption.split() for caption in captions],
        )
        # The recording hook is gone afterwards.
        for layer in model.decoder_layers:
            attention = layer._cross_attention_layer
            self.assertNotIn("_compute_attention", attention.__dict__)

    def test_plot_has_a_panel_per_word(self):
        from tests.models.captioner_test import CAPTIONS
        from tests.models.captioner_test import solid_images
        from tests.models.captioner_test import tiny_captioner

        model = tiny_captioner()
        images = solid_images()
        model.fit({"images": images, "text": CAPTIONS}, epochs=30, verbose=0)
        path = os.path.join(self.get_temp_dir(), "caption.png")
        figure = visualize.caption_attention(model, images, index=1, path=path)
        words = model.generate(images[1:2])[0].split()
        self.assertEqual(
            [axis.get_title() for axis in figure.axes], ["all words"] + words
        )
        self.assertEqual(figure._suptitle.get_text(), " ".join(words))
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

    def test_bad_arguments(self):
        from tests.models.captioner_test import solid_images
        from tests.models.captioner_test import tiny_captioner

        model = tiny_captioner()
        with pytest.raises(ValueError, match=r"\[0, 4\).*index=4"):
            visualize.caption_attention(model, solid_images(), index=4)
        with pytest.raises(ValueError, match=r"\[-1, 1\).*layer=1"):
            visualize.caption_attention(model, solid_images(), layer=1)
        with pytest.raises(ValueError, match="Received: Sequential"):
            visualize.caption_attention_scores(
                keras.Sequential([keras.layers.Dense(1)]), solid_images()
            )


class SpeechPlotsTest(TestCase):
    def test_waveform_and_spectrogram(self):
        clip = np.sin(np.arange(4000) / 3).astype("float32")
        path = os.path.join(self.get_temp_dir(), "wave.png")
        figure = visualize.waveform(
            clip, sample_rate=8000, num_mel_bins=16, title="a tone", path=path
        )
        self.assertEqual(figure.axes[0].get_title(), "a tone")
        # 0.5 s of 10 ms frames, 16 mel bands.
        self.assertEqual(figure.axes[1].images[0].get_array().shape, (16, 48))
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with pytest.raises(ValueError, match=r"shape \(2, 100\)"):
            visualize.waveform(np.zeros((2, 100), "float32"))
        with pytest.raises(ValueError, match="at least one 25 ms frame"):
            visualize.waveform(np.zeros(10, "float32"))

    def test_ctc_alignment(self):
        from tests.models.speech_recognizer_test import tiny_recognizer
        from tests.models.speech_recognizer_test import tone_data

        model = tiny_recognizer()
        audio, _ = tone_data(2)
        figure = visualize.ctc_alignment(model, audio, index=1)
        (text,) = model.transcribe(audio[1:])
        self.assertEqual(figure.axes[0].get_title(), f"transcription: {text!r}")
        labels = [t.get_text() for t in figure.axes[1].get_yticklabels()]
        self.assertEqual(labels, ["_", "a", "b", "␣"])
        # One column per 40 ms step of the clip.
        steps = -(-len(audio[1]) * 25 // 8000)
        self.assertEqual(figure.axes[1].images[0].get_array().shape, (4, steps))
        top = visualize.ctc_alignment(model, audio, max_classes=2)
        self.assertEqual(len(top.axes[1].get_yticklabels()), 2)
        with pytest.raises(ValueError, match="index=2"):
            visualize.ctc_alignment(model, audio, index=2)
        with pytest.raises(ValueError, match="SpeechRecognizer"):
            visualize.ctc_alignment(keras.Sequential(), audio)

    def test_image_audio_attention(self):
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                ),
                "audio": keras_mm.encoders.audio(
                    sample_rate=8000, max_duration=0.5
                ),
            },
            num_classes=2,
            fusion="cross_attention",
            hidden_dim=8,
            class_names=["go", "stop"],
        )
        rng = np.random.default_rng(0)
        x = {
            "images": rng.integers(0, 256, (2, 32, 32, 3)).astype("uint8"),
            # The second clip is shorter than the encoder's 0.5 s.
            "audio": [
                rng.normal(0, 0.1, 4000).astype("float32"),
                rng.normal(0, 0.1, 3000).astype("float32"),
            ],
        }
        path = os.path.join(self.get_temp_dir(), "fused.png")
        figure = visualize.image_audio_attention(model, x, index=1, path=path)
        left, right, twin = figure.axes
        probabilities = model.predict(
            {"images": x["images"][1:], "audio": x["audio"][1:]}, verbose=0
        )[0]
        name = ["go", "stop"][int(probabilities.argmax())]
        self.assertEqual(
            figure._suptitle.get_text(),
            f"predicted: {name} ({probabilities.max():.2f})",
        )
        # The image under a 2 x 2 grid of image tokens ...
        self.assertEqual(left.images[1].get_array().shape, (2, 2))
        scores = visualize.attention_scores(model, x)
        expected = scores["audio->images"][1].mean(axis=(0, 1))
        self.assertAllClose(
            left.images[1].get_array().ravel(), expected, atol=1e-6
        )
        # ... and the spectrogram of the 3000 samples, under one attention
        # value per sound token.
        frames = 1 + (3000 - 200) // 80  # 25 ms frames every 10 ms.
        self.assertEqual(right.images[0].get_array().shape[1], frames)
        (line,) = twin.lines
        self.assertAllClose(
            line.get_ydata(), scores["images->audio"][1].mean(axis=(0, 1))
        )
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with pytest.raises(ValueError, match="index=2"):
            visualize.image_audio_attention(model, x, index=2)
        with pytest.raises(ValueError, match=r"holding 'images' and 'sound'"):
            visualize.image_audio_attention(model, x, audio="sound")
