import keras
import keras_hub
import numpy as np
import pytest

import keras_mm
from keras_mm.base.pipeline_model import PipelineModel
from tests.test_case import TestCase

TEXTS = ["A red circle.", "two blue squares, small", "", "a green triangle!"]
TINY = dict(sequence_length=6, hidden_dim=8, num_layers=1, num_heads=2)


def tiny_bert():
    vocab = [
        "[PAD]",
        "[UNK]",
        "[CLS]",
        "[SEP]",
        "[MASK]",
        "a",
        "red",
        "circle",
        ".",
    ]
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocab),
        num_layers=1,
        num_heads=2,
        hidden_dim=4,
        intermediate_dim=8,
        max_sequence_length=8,
    )
    return backbone, keras_hub.models.BertTokenizer(vocabulary=vocab)


def with_head(encoder, num_classes=2):
    """Encoder + a Dense head, fit on raw strings through the pipeline."""
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name),
        encoder.input,
    )
    logits = keras.layers.Dense(num_classes)(encoder(inputs)["pooled_output"])
    model = PipelineModel(inputs, logits, preprocessor=encoder.preprocessor)
    return model


class TextVocabularyTest(TestCase):
    def test_ranked_by_count_with_special_tokens_first(self):
        vocab = keras_mm.encoders.text_vocabulary(
            ["b a", "a c.", "A"], vocabulary_size=7
        )
        self.assertEqual(
            vocab, ["[PAD]", "[UNK]", "[START]", "[END]", "a", ".", "b"]
        )

    def test_bad_arguments(self):
        with pytest.raises(ValueError, match="vocabulary_size=3"):
            keras_mm.encoders.text_vocabulary(["a"], vocabulary_size=3)
        with pytest.raises(ValueError, match="not one string"):
            keras_mm.encoders.text_vocabulary("a b c")


class TextEncoderTest(TestCase):
    def setUp(self):
        super().setUp()
        self.vocab = keras_mm.encoders.text_vocabulary(TEXTS, 20)

    def test_builtins_on_raw_strings(self):
        for name in ("transformer_small", "bigru_small", "bag_of_words_small"):
            encoder = keras_mm.encoders.text(
                name, vocabulary=self.vocab, **TINY
            )
            out = encoder.predict(TEXTS, verbose=0)
            self.assertEqual(out["sequence_output"].shape, (4, 6, 8))
            self.assertEqual(out["pooled_output"].shape, (4, 8))
            self.assertTrue(np.isfinite(out["pooled_output"]).all())
            # An empty string pools to zeros, not NaN.
            np.testing.assert_array_equal(out["pooled_output"][2], 0.0)

    def test_bag_of_words_ignores_order_and_padding(self):
        encoder = keras_mm.encoders.text(
            "bag_of_words_small", vocabulary=self.vocab, **TINY
        )
        out = encoder.predict(
            ["a red circle", "circle a red", "red circle"], verbose=0
        )
        pooled = out["pooled_output"]
        self.assertAllClose(pooled[0], pooled[1], atol=1e-6)
        self.assertGreater(np.abs(pooled[0] - pooled[2]).max(), 1e-3)
        # Normalised: zero mean over the features.
        self.assertAllClose(pooled.mean(axis=-1), np.zeros(3), atol=1e-5)
        # One vector per word, whatever its neighbours: "red" is the same
        # token in both texts.
        self.assertAllClose(
            out["sequence_output"][0, 1], out["sequence_output"][1, 2]
        )
        # The embeddings are its only weights, so every weight gets a
        # gradient whichever output a fusion reads.
        self.assertEqual(
            [w.path for w in encoder.weights],
            ["text_encoder_embedding/embeddings"],
        )

    def test_fit_on_raw_strings(self):
        encoder = keras_mm.encoders.text(
            "transformer_small", vocabulary=self.vocab, **TINY
        )
        model = with_head(encoder)
        model.compile(
            optimizer=keras.optimizers.Adam(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        labels = np.array([0, 1, 0, 1])
        history = model.fit(
            TEXTS,
            labels,
            batch_size=2,
            epochs=3,
            verbose=0,
            validation_split=0.5,
        )
        self.assertLess(history.history["loss"][-1], history.history["loss"][0])
        self.assertIn("val_loss", history.history)
        self.assertEqual(model.predict(TEXTS, verbose=0).shape, (4, 2))
        self.assertEqual(
            len(model.evaluate(TEXTS, labels, verbose=0, return_dict=True)), 1
        )

    def test_freeze(self):
        encoder = keras_mm.encoders.text(
            "bigru_small", vocabulary=self.vocab, trainable=False, **TINY
        )
        self.assertEqual(encoder.trainable_weights, [])
        self.assertNotEqual(encoder.non_trainable_weights, [])

    def test_saving(self):
        for name in ("transformer_small", "bag_of_words_small"):
            encoder = keras_mm.encoders.text(
                name, vocabulary=self.vocab, **TINY
            )
            restored = self.run_model_saving_test(
                encoder, encoder.preprocessor(TEXTS)
            )
            self.assertAllClose(
                encoder.predict(TEXTS, verbose=0),
                restored.predict(TEXTS, verbose=0),
            )

    @pytest.mark.slow
    def test_cross_backend(self):
        encoder = keras_mm.encoders.text(
            "bigru_small", vocabulary=self.vocab, **TINY
        )
        self.run_cross_backend_test(encoder, np.array(TEXTS), mode="predict")

    def test_keras_hub_backbone_object(self):
        backbone, tokenizer = tiny_bert()
        encoder = keras_mm.encoders.text(
            backbone, tokenizer=tokenizer, sequence_length=8
        )
        out = encoder.predict(["a red circle.", ""], verbose=0)
        self.assertEqual(out["sequence_output"].shape, (2, 8, 4))
        self.assertEqual(out["pooled_output"].shape, (2, 4))

    def test_classifier_with_keras_hub_tokenizer_saves_and_loads(self):
        # The classifier's preprocessor and the encoder's share the
        # tokenizer, whose vocabulary is saved once, as an asset.
        backbone, tokenizer = tiny_bert()
        model = keras_mm.build_classifier(
            {
                "text": keras_mm.encoders.text(
                    backbone, tokenizer=tokenizer, sequence_length=8
                )
            },
            num_classes=3,
            hidden_dim=8,
        )
        texts = ["a red circle.", "a circle"]
        path = self.get_temp_dir() + "/model.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        self.assertAllClose(
            loaded.predict({"text": texts}, verbose=0),
            model.predict({"text": texts}, verbose=0),
            atol=1e-6,
        )
        self.assertIs(
            loaded.preprocessor.preprocessors["text"],
            loaded.get_layer("text_encoder").preprocessor,
        )

    def test_local_preset_directory(self):
        backbone, tokenizer = tiny_bert()
        directory = self.get_temp_dir()
        backbone.save_to_preset(directory)
        tokenizer.save_to_preset(directory)
        encoder = keras_mm.encoders.text(directory, sequence_length=8)
        expected = backbone(encoder.preprocessor(["a red circle"]))
        out = encoder.predict(["a red circle"], verbose=0)
        self.assertAllClose(
            out["pooled_output"], expected["pooled_output"], atol=1e-5
        )
        self.run_model_saving_test(encoder, encoder.preprocessor(["a red"]))

    def test_unreachable_preset_names_alternatives(self):
        self.run_offline_preset_test(
            keras_mm.encoders.text,
            "bert_tiny_en_uncased",
            builtins=(
                "transformer_small",
                "bigru_small",
                "bag_of_words_small",
            ),
        )

    def test_bad_arguments(self):
        with pytest.raises(
            ValueError, match="Unknown text encoder.*bigru_small"
        ):
            keras_mm.encoders.text("gpt_huge", vocabulary=self.vocab)
        with pytest.raises(ValueError, match="needs a `vocabulary`"):
            keras_mm.encoders.text("transformer_small")
        with pytest.raises(ValueError, match="sequence_length=0"):
            keras_mm.encoders.text(
                "transformer_small", vocabulary=self.vocab, sequence_length=0
            )
        backbone, _ = tiny_bert()
        with pytest.raises(ValueError, match="needs its `tokenizer`"):
            keras_mm.encoders.text(backbone)
        encoder = keras_mm.encoders.text(
            "transformer_small", vocabulary=self.vocab, **TINY
        )
        with pytest.raises(ValueError, match="must be strings"):
            encoder.predict(np.array([1.0, 2.0]), verbose=0)
