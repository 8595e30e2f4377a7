import keras
import numpy as np
import tensorflow as tf

from keras_mm.layers.audio_preprocessor import AudioPreprocessor
from tests.test_case import TestCase


class AudioPreprocessorTest(TestCase):
    def test_preprocessing_layer_contract(self):
        clips = [np.ones(300, "float32"), np.ones(900, "float32") * 0.5]
        out = self.run_preprocessing_layer_test(
            AudioPreprocessor,
            {"sample_rate": 1000, "max_duration": 0.5},
            clips,
        )
        self.assertEqual(out["audio"].shape, (2, 500))
        self.assertEqual(
            out["audio_padding_mask"].sum(axis=1).tolist(), [300, 500]
        )

    def test_ragged_list_is_padded_and_cropped(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.25)
        clips = [np.full(500, 0.5), np.ones(3000), np.zeros(0)]
        outputs = layer(clips)
        self.assertEqual(outputs["audio"].shape, (3, 2000))
        self.assertEqual(outputs["audio"].dtype, np.float32)
        self.assertEqual(outputs["audio_padding_mask"].dtype, np.bool_)
        np.testing.assert_array_equal(
            outputs["audio_padding_mask"].sum(axis=1), [500, 2000, 0]
        )
        self.assertAllClose(outputs["audio"][0, :500], np.full(500, 0.5))
        self.assertAllClose(outputs["audio"][0, 500:], np.zeros(1500))
        self.assertAllClose(outputs["audio"][1], np.ones(2000))

    def test_dense_batch_and_labels(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.25)
        x, y = layer(np.ones((2, 100), "float32"), y=np.array([0, 1]))
        self.assertEqual(x["audio"].shape, (2, 2000))
        np.testing.assert_array_equal(x["audio_padding_mask"].sum(1), [100] * 2)
        np.testing.assert_array_equal(y, [0, 1])

    def test_dict_input_keeps_mask_and_other_keys(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.25)
        mask = np.arange(2100)[None] < 700
        outputs = layer(
            {
                "audio": np.ones((1, 2100), "float32"),
                "audio_padding_mask": mask,
                "label_text": np.array(["a"]),
            }
        )
        np.testing.assert_array_equal(outputs["audio_padding_mask"].sum(), 700)
        self.assertEqual(outputs["audio"].shape, (1, 2000))
        self.assertEqual(outputs["label_text"].tolist(), [b"a"])

    def test_stereo_is_mixed_down(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.25)
        stereo = np.stack([np.ones((2, 100)), np.zeros((2, 100))], axis=-1)
        outputs = layer(stereo.astype("float32"))
        self.assertAllClose(outputs["audio"][:, :100], np.full((2, 100), 0.5))
        ragged = layer([np.ones((50, 2)), np.ones((80, 2))])
        np.testing.assert_array_equal(
            ragged["audio_padding_mask"].sum(axis=1), [50, 80]
        )

    def test_int16_is_scaled(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.25)
        pcm = np.array([[16384, -32768]], "int16")
        self.assertAllClose(layer(pcm)["audio"][0, :2], [0.5, -1.0])

    def test_in_tf_data_graph(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.25)
        ragged = tf.ragged.constant([[0.1] * 10, [0.2] * 3000])
        dataset = tf.data.Dataset.from_tensor_slices(ragged).ragged_batch(2)
        batch = next(iter(dataset.map(layer)))
        self.assertEqual(tuple(batch["audio"].shape), (2, 2000))
        np.testing.assert_array_equal(
            batch["audio_padding_mask"].numpy().sum(axis=1), [10, 2000]
        )

    def test_config_round_trip(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.5)
        revived = keras.saving.deserialize_keras_object(
            keras.saving.serialize_keras_object(layer)
        )
        self.assertIsInstance(revived, AudioPreprocessor)
        self.assertEqual(revived.get_config(), layer.get_config())
        self.assertEqual(revived.num_samples, 4000)

    def test_bad_inputs(self):
        layer = AudioPreprocessor(sample_rate=8000, max_duration=0.25)
        with self.assertRaisesRegex(ValueError, "not strings.*read_audio"):
            layer(np.array(["clip.wav"]))
        with self.assertRaisesRegex(ValueError, "Received: dtype=int64"):
            layer(np.zeros((1, 10), "int64"))
        with self.assertRaisesRegex(ValueError, "Received: dtype=bool"):
            layer(np.zeros((1, 10), "bool"))
        with self.assertRaisesRegex(ValueError, r"wrap it, as `\[waveform\]`"):
            layer(np.zeros(10, "float32"))
        with self.assertRaisesRegex(ValueError, "at most 8 channels"):
            layer(np.zeros((1, 2, 100), "float32"))
        with self.assertRaisesRegex(ValueError, "shape=.*1, 2, 3, 4"):
            layer(np.zeros((1, 2, 3, 4), "float32"))
        with self.assertRaisesRegex(ValueError, "the key 'audio'"):
            layer({"audio_padding_mask": np.ones((1, 10), "bool")})
        with self.assertRaisesRegex(ValueError, "max_duration=0"):
            AudioPreprocessor(max_duration=0)
        with self.assertRaisesRegex(ValueError, "sample_rate=8000.0"):
            AudioPreprocessor(sample_rate=8000.0)
