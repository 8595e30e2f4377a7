import numpy as np
import pytest
import tensorflow as tf

from keras_mm.data.pipeline import make_dataset
from tests.test_case import TestCase


class MakeDatasetTest(TestCase):
    def test_batches_dicts_of_arrays_and_strings(self):
        x = {
            "images": np.zeros((5, 2, 2, 3)),
            "text": ["a", "b", "c", "d", "e"],
        }
        batches = list(make_dataset(x, np.arange(5), batch_size=2))
        self.assertEqual(len(batches), 3)
        (bx, by) = batches[0]
        self.assertEqual(bx["images"].shape, (2, 2, 2, 3))
        self.assertEqual(bx["text"].numpy().tolist(), [b"a", b"b"])
        np.testing.assert_array_equal(by, [0, 1])

    def test_ragged_rows(self):
        audio = [np.ones(3, "float32"), np.ones(5, "float32")]
        (batch,) = list(make_dataset(audio, batch_size=2))
        self.assertIsInstance(batch, tf.RaggedTensor)
        self.assertEqual(batch.row_lengths().numpy().tolist(), [3, 5])

    def test_shuffle_keeps_pairs_and_reshuffles(self):
        x = np.arange(100)
        dataset = make_dataset(x, x * 10, batch_size=100, shuffle=True)
        first, second = [next(iter(dataset)) for _ in range(2)]
        for bx, by in (first, second):
            np.testing.assert_array_equal(by, bx * 10)
            self.assertEqual(sorted(bx.numpy().tolist()), list(range(100)))
        self.assertFalse(np.array_equal(first[0], second[0]))

    def test_map_fn_gets_x_y_sample_weight(self):
        seen = []

        def map_fn(x, y=None, sample_weight=None):
            seen.append((y is None, sample_weight is None))
            return x * 2, y

        (bx, by) = list(
            make_dataset(
                np.arange(2), np.arange(2), batch_size=2, map_fn=map_fn
            )
        )[0]
        np.testing.assert_array_equal(bx, [0, 2])
        self.assertEqual(seen, [(False, True)])

    def test_mismatched_lengths(self):
        with pytest.raises(ValueError, match=r"row counts: \[3, 4\]"):
            make_dataset(np.zeros(4), np.zeros(3))
