"""Properties of the data pipeline: `make_dataset` and the adapters keep
every row, in order (or, shuffled, together), whatever the row count,
batch size and mix of dense and ragged inputs."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from keras_mm.data.adapters import batch_examples
from keras_mm.data.adapters import batches_dataset
from keras_mm.data.adapters import generator_dataset
from keras_mm.data.adapters import holds_raw_inputs
from keras_mm.data.pipeline import make_dataset
from tests.properties import settings
from tests.test_case import TestCase

# tf.data and string tensors only: no Keras backend runs here.
pytestmark = pytest.mark.backend_independent

words = st.one_of(
    st.sampled_from(["", "\x00", "a\x00b", "🙂", "e\u0301", "שלום", " "]),
    st.text(max_size=5),
)


@st.composite
def tables(draw, max_rows=12):
    """`(x, y, sample_weight)` of a random number of rows: strings,
    waveforms of random lengths, ragged lists of strings and each row's
    position under `"id"`."""
    rows = draw(st.integers(0, max_rows))
    texts = draw(st.lists(words, min_size=rows, max_size=rows))
    lengths = draw(st.lists(st.integers(0, 5), min_size=rows, max_size=rows))
    tags = draw(
        st.lists(st.lists(words, max_size=3), min_size=rows, max_size=rows)
    )
    x = {
        "text": texts,
        "audio": [
            np.arange(n, dtype="float32") + row for row, n in enumerate(lengths)
        ],
        "tags": tf.RaggedTensor.from_row_lengths(
            tf.constant([t for row in tags for t in row], tf.string),
            [len(row) for row in tags],
        ),
        "id": np.arange(rows, dtype="int64"),
    }
    y = np.arange(rows, dtype="int64") * 10
    sample_weight = np.linspace(0.0, 1.0, rows, dtype="float32")
    return x, y, sample_weight


def to_rows(tensor):
    """A batched tensor, dense or ragged, as a list of Python rows."""
    if isinstance(tensor, tf.RaggedTensor):
        return tensor.to_list()
    return tensor.numpy().tolist()


def expected_rows(x, y, sample_weight):
    """Each input row as `to_rows` gives it back."""
    return {
        "text": [t.encode("utf-8") for t in x["text"]],
        "audio": [a.tolist() for a in x["audio"]],
        "tags": x["tags"].to_list(),
        "id": x["id"].tolist(),
        "y": y.tolist(),
        "sample_weight": sample_weight.tolist(),
    }


def read_batches(dataset):
    """The batches of `(x, y, sample_weight)`, each as columns of rows."""
    batches = []
    for x, y, sample_weight in dataset:
        columns = {key: to_rows(value) for key, value in x.items()}
        columns["y"] = to_rows(y)
        columns["sample_weight"] = to_rows(sample_weight)
        batches.append(columns)
    return batches


def concatenate(batches):
    keys = batches[0] if batches else {}
    return {key: [row for b in batches for row in b[key]] for key in keys}


def batch_sizes(rows, batch_size):
    full, rest = divmod(rows, batch_size)
    return [batch_size] * full + ([rest] if rest else [])


class MakeDatasetPropertiesTest(TestCase):
    @settings(15)
    @given(tables(), st.integers(1, 16))
    def test_batches_keep_rows_in_order(self, table, batch_size):
        x, y, sample_weight = table
        dataset = make_dataset(x, y, sample_weight, batch_size=batch_size)
        batches = read_batches(dataset)
        rows = len(y)
        self.assertEqual(
            [len(b["id"]) for b in batches], batch_sizes(rows, batch_size)
        )
        if rows:
            self.assertEqual(concatenate(batches), expected_rows(*table))
        # The same batches on every pass.
        self.assertEqual(read_batches(dataset), batches)

    @settings(15)
    @given(tables(), st.integers(1, 16))
    def test_shuffle_keeps_rows_together(self, table, batch_size):
        x, y, sample_weight = table
        dataset = make_dataset(
            x, y, sample_weight, batch_size=batch_size, shuffle=True
        )
        batches = read_batches(dataset)
        self.assertEqual(
            [len(b["id"]) for b in batches], batch_sizes(len(y), batch_size)
        )
        if not batches:
            return
        shuffled = concatenate(batches)
        self.assertEqual(sorted(shuffled["id"]), list(range(len(y))))
        expected = expected_rows(*table)
        for key, column in shuffled.items():
            self.assertEqual(
                column, [expected[key][i] for i in shuffled["id"]], msg=key
            )

    @settings(8)
    @given(
        tables(max_rows=9),
        st.integers(1, 5),
        st.integers(0, 2),
        st.integers(1, 3),
        st.integers(0, 2**31 - 1),
    )
    def test_epochs_are_seeded_permutations(
        self, table, batch_size, first, count, seed
    ):
        x, y, sample_weight = table
        rows = len(y)
        epochs = (first, first + count)

        def dataset(epochs):
            return make_dataset(
                x,
                y,
                sample_weight,
                batch_size=batch_size,
                shuffle=True,
                epochs=epochs,
                seed=seed,
            )

        steps = len(batch_sizes(rows, batch_size))
        full = dataset(epochs)
        self.assertEqual(int(full.cardinality()), count * steps)
        batches = read_batches(full)
        self.assertEqual(len(batches), count * steps)
        expected = expected_rows(*table)
        for epoch in range(count):
            rows_of_epoch = concatenate(
                batches[epoch * steps : (epoch + 1) * steps]
            )
            order = rows_of_epoch.get("id", [])
            self.assertEqual(sorted(order), list(range(rows)))
            for key, column in rows_of_epoch.items():
                self.assertEqual(column, [expected[key][i] for i in order])
        # Drawn from the seed and the epoch alone: the same on every pass,
        # and a run resumed at a later epoch sees the full run's orders.
        self.assertEqual(read_batches(full), batches)
        if count > 1:
            resumed = read_batches(dataset((first + 1, first + count)))
            self.assertEqual(resumed, batches[steps:])

    @settings(12)
    @given(tables(), st.integers(1, 8), st.booleans())
    def test_read_fn_gets_positions_and_map_fn_batches(
        self, table, batch_size, shuffle
    ):
        x, y, _ = table

        def read_fn(dataset):
            # The positions ride along as sample weights, to `map_fn`.
            return dataset.map(lambda positions, batch: (*batch, positions))

        def map_fn(x, y=None, sample_weight=None):
            return x["id"], y, sample_weight

        dataset = make_dataset(
            x,
            y,
            batch_size=batch_size,
            shuffle=shuffle,
            read_fn=read_fn,
            map_fn=map_fn,
        )
        seen = []
        for ids, labels, positions in dataset:
            # The positions are the rows' own, and `y` stays with them.
            np.testing.assert_array_equal(positions, ids)
            np.testing.assert_array_equal(labels, ids * 10)
            seen.extend(ids.numpy().tolist())
        if shuffle:
            seen.sort()
        self.assertEqual(seen, list(range(len(y))))

    @settings(15)
    @given(st.integers(0, 6), st.integers(0, 6))
    def test_row_counts_must_agree(self, rows, other):
        if rows == other:
            other += 1
        with self.assertRaisesRegex(ValueError, "same number of rows"):
            make_dataset(
                {"text": ["a"] * rows, "id": np.arange(other)},
                batch_size=2,
            )


def raw_batches(draw_sizes):
    """Raw batches as a user's `PyDataset` or generator yields them:
    `({"text", "audio", "number"}, labels)`; one clip length per batch
    where `equal` says so, as when clips are cut to one length."""
    batches = []
    row = 0
    for size, equal in draw_sizes:
        lengths = (
            [3] * size if equal else [1 + (row + i) % 4 for i in range(size)]
        )
        batches.append(
            (
                {
                    "text": [f"row {row + i}" for i in range(size)],
                    "audio": [
                        np.full(n, row + i, "float32")
                        for i, n in enumerate(lengths)
                    ],
                    "number": np.arange(row, row + size, dtype="float32")[
                        :, None
                    ],
                },
                np.arange(row, row + size, dtype="float32"),
            )
        )
        row += size
    return batches


class RawBatches(keras.utils.PyDataset):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def as_columns(batch):
    x, y = batch
    columns = {key: to_rows(value) for key, value in x.items()}
    columns["y"] = to_rows(y)
    return columns


def raw_columns(batch):
    x, y = batch
    return {
        "text": [t.encode() for t in x["text"]],
        "audio": [a.tolist() for a in x["audio"]],
        "number": x["number"].tolist(),
        "y": y.tolist(),
    }


class AdaptersPropertiesTest(TestCase):
    @settings(10)
    @given(
        st.lists(
            st.tuples(st.integers(1, 4), st.booleans()), min_size=1, max_size=5
        )
    )
    def test_py_datasets_and_generators_keep_their_batches(self, sizes):
        batches = raw_batches(sizes)
        self.assertTrue(holds_raw_inputs(batches[0], {"number": None}))
        expected = [raw_columns(b) for b in batches]
        dataset = batches_dataset(RawBatches(batches))
        self.assertEqual(int(dataset.cardinality()), len(batches))
        self.assertEqual([as_columns(b) for b in dataset], expected)
        # Read again each epoch.
        self.assertEqual([as_columns(b) for b in dataset], expected)
        dataset = generator_dataset(iter(batches))
        self.assertEqual([as_columns(b) for b in dataset], expected)

    @settings(12)
    @given(st.integers(1, 10), st.integers(1, 4))
    def test_single_examples_are_batched_in_order(self, rows, batch_size):
        texts = [f"row {i}" for i in range(rows)]
        audio = tf.ragged.constant(
            [[float(i)] * (1 + i % 3) for i in range(rows)], dtype=tf.float32
        )
        examples = tf.data.Dataset.from_tensor_slices(
            ({"text": texts, "audio": audio}, np.arange(rows))
        )
        model_inputs = {"audio": keras.KerasTensor((None, None))}
        with self.assertRaisesRegex(ValueError, "holds single examples"):
            batch_examples(examples, model_inputs, None)
        batched = batch_examples(examples, model_inputs, batch_size)
        columns = [as_columns(b) for b in batched]
        self.assertEqual(
            [len(c["y"]) for c in columns], batch_sizes(rows, batch_size)
        )
        self.assertEqual(
            concatenate(columns),
            {
                "text": [t.encode() for t in texts],
                "audio": audio.to_list(),
                "y": list(range(rows)),
            },
        )

    def test_no_batches_are_refused(self):
        with self.assertRaisesRegex(ValueError, "holds no batch"):
            batches_dataset(RawBatches([]))
        with self.assertRaisesRegex(ValueError, "yielded no batch"):
            generator_dataset(iter([]))
