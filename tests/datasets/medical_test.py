import os

import numpy as np
import pytest

import keras_mm
from keras_mm.datasets.medical import medical
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

# Where `medical` puts the lungs and their zones, as fractions of the image.
_LUNG_X = {"right": 0.29, "left": 0.71}
_ZONE_Y = {"upper": (0.28, 0.5), "lower": (0.5, 0.72)}
_SEEN = {
    "nodule": "a small round nodule",
    "mass": "a large irregular mass",
    "consolidation": "patchy consolidation",
}


def _zone(image, side, zone):
    """The grey pixels of a lung zone, away from the heart."""
    size = image.shape[0]
    top, bottom = (int(v * size) for v in _ZONE_Y[zone])
    x = _LUNG_X[side]
    left, right = int((x - 0.08) * size), int((x + 0.08) * size)
    return image[top:bottom, left:right, 0].astype("float32")


class MedicalTest(TestCase):
    def make(self, **kwargs):
        kwargs.setdefault("cache_dir", self.get_temp_dir())
        return medical(**{"num_samples": 60, "image_size": 32, **kwargs})

    def test_splits_shapes_and_types(self):
        data = self.make()
        self.assertEqual(data["class_names"], medical.FINDINGS)
        self.assertEqual(data["activation"], "sigmoid")
        self.assertEqual(
            sorted(data), ["activation", "class_names", "test", "train",
                           "validation"],
        )  # fmt: skip
        sizes = {split: len(data[split]["labels"]) for split in medical.SPLITS}
        self.assertEqual(sizes, {"train": 42, "validation": 6, "test": 12})
        train = data["train"]
        self.assertEqual(train["images"].shape, (42, 32, 32, 3))
        self.assertEqual(train["images"].dtype, np.uint8)
        self.assertEqual(train["labels"].shape, (42, 4))
        self.assertEqual(train["labels"].dtype, np.int32)
        self.assertEqual(train["ages"].dtype, np.int32)
        self.assertNotIn("sample_rate", train)
        for key in ("text", "reports", "lesions", "sides", "zones"):
            self.assertEqual(len(train[key]), 42)
        for key in ("symptoms", "histories", "sexes"):
            self.assertEqual(len(train[key]), 42)
        # Grey scans: the three channels are equal.
        np.testing.assert_array_equal(
            train["images"][..., 0], train["images"][..., 2]
        )
        np.testing.assert_array_equal(
            train["images"][..., 1], train["images"][..., 2]
        )
        # A text encoder of 24 tokens reads every note whole.
        for note in train["text"]:
            self.assertLessEqual(len(note.split()), 20, note)

    def test_labels_follow_the_rule_and_the_reports_the_scan(self):
        data = self.make(num_samples=300)
        for split in medical.SPLITS:
            rows = data[split]
            for i, label in enumerate(rows["labels"]):
                found = medical.findings(
                    rows["lesions"][i], rows["symptoms"][i],
                    rows["histories"][i],
                )  # fmt: skip
                expected = [int(f in found) for f in medical.FINDINGS]
                self.assertEqual(label.tolist(), expected)
                lesion, side, zone = (
                    rows[key][i] for key in ("lesions", "sides", "zones")
                )
                report = rows["reports"][i]
                if lesion == "none":
                    self.assertEqual((side, zone), ("", ""))
                    self.assertEqual(report, "no focal lesion is seen")
                else:
                    self.assertIn(side, medical.SIDES)
                    self.assertIn(zone, medical.ZONES)
                    self.assertEqual(
                        report, f"{_SEEN[lesion]} in the {zone} {side} lung"
                    )
        # Every finding occurs; rows without a lesion have none.
        labels = np.concatenate([data[s]["labels"] for s in medical.SPLITS])
        self.assertTrue(np.all(labels.sum(0) > 10), labels.sum(0))
        lesions = sum((data[s]["lesions"] for s in medical.SPLITS), [])
        none = np.array(lesions) == "none"
        self.assertTrue(none.any())
        self.assertEqual(int(labels[none].sum()), 0)

    def test_the_same_lesion_reads_differently_with_the_history(self):
        findings = medical.findings
        self.assertEqual(findings("none", "fever", "past cancer"), ())
        self.assertEqual(
            findings("nodule", "cough", "past cancer"),
            ("malignancy suspected",),
        )
        self.assertEqual(
            findings("nodule", "cough", "past tuberculosis"),
            ("old scarring",),
        )
        self.assertEqual(
            findings("nodule", "cough", "smoker"), ("follow-up advised",)
        )
        self.assertEqual(
            findings("mass", "weight loss", "none"), ("malignancy suspected",)
        )
        self.assertEqual(findings("mass", "fever", "none"), ("infection",))
        self.assertEqual(
            findings("consolidation", "fever", "smoker"),
            ("infection", "follow-up advised"),
        )
        self.assertEqual(
            findings("consolidation", "cough", "none"), ("follow-up advised",)
        )

    def test_same_arguments_same_data_and_the_cache_is_used(self):
        directory = self.get_temp_dir()
        first = self.make(seed=3, cache_dir=directory)
        (name,) = os.listdir(directory)
        self.assertTrue(name.startswith("medical-n60-32px-seed3-"))
        again = self.make(seed=3, cache_dir=directory)
        fresh = self.make(seed=3)  # Built again, in another directory.
        other = self.make(seed=4)
        for split in medical.SPLITS:
            for data in (again, fresh):
                self.assertEqual(sorted(first[split]), sorted(data[split]))
                for key, value in first[split].items():
                    if isinstance(value, np.ndarray):
                        np.testing.assert_array_equal(value, data[split][key])
                        self.assertEqual(value.dtype, data[split][key].dtype)
                    else:
                        self.assertEqual(value, data[split][key])
        self.assertFalse(
            np.array_equal(first["train"]["images"], other["train"]["images"])
        )
        self.assertNotEqual(first["train"]["text"], other["train"]["text"])

    def test_each_lesion_kind_looks_different(self):
        # In the lesion's zone, against the same zone of the other lung: a
        # mass adds many bright pixels, a nodule a few, a consolidation a
        # dimmer haze; a scan without a lesion, neither.
        data = self.make(num_samples=300, image_size=64)
        bright, excess = {}, {}
        for split in medical.SPLITS:
            rows = data[split]
            for image, lesion, side, zone in zip(
                rows["images"], rows["lesions"], rows["sides"], rows["zones"]
            ):
                if lesion == "none":
                    side, zone = "right", "upper"
                other = "left" if side == "right" else "right"
                here, there = (
                    _zone(image, side, zone),
                    _zone(image, other, zone),
                )
                count = int((here > np.median(there) + 80).sum())
                bright.setdefault(lesion, []).append(count)
                excess.setdefault(lesion, []).append(here.mean() - there.mean())
        bright = {k: float(np.median(v)) for k, v in bright.items()}
        excess = {k: float(np.median(v)) for k, v in excess.items()}
        self.assertGreater(bright["mass"], 2 * bright["nodule"])
        self.assertGreater(bright["nodule"], 2 * bright["consolidation"] + 5)
        self.assertGreater(bright["nodule"], bright["none"] + 10)
        self.assertGreater(excess["consolidation"], excess["none"] + 15)
        self.assertGreater(excess["nodule"], excess["none"] + 10)
        self.assertGreater(excess["mass"], excess["consolidation"] + 15)

    def test_bad_arguments_say_what_was_received(self):
        for kwargs, message in (
            ({"num_samples": 10}, "num_samples=10"),
            ({"num_samples": 10**6}, "at most 200000.*num_samples=1000000"),
            ({"num_samples": 3.5}, "num_samples=3.5"),
            ({"image_size": 16}, "image_size=16"),
            ({"image_size": 1024}, "at most 512.*image_size=1024"),
            ({"seed": -1}, "seed=-1"),
            ({"seed": "0"}, "seed='0'"),
            ({"cache_dir": 3}, "cache_dir=3"),
        ):
            with self.assertRaisesRegex(ValueError, message):
                medical(**kwargs)

    def test_a_fused_classifier_fits_the_multi_hot_labels(self):
        data = self.make(num_samples=90)
        train = data["train"]
        model = keras_mm.build_classifier(
            {
                "images": keras_mm.encoders.image(
                    "cnn_small", image_shape=(32, 32, 3)
                ),
                "text": keras_mm.encoders.text(
                    "transformer_small",
                    vocabulary=keras_mm.encoders.text_vocabulary(train["text"]),
                    sequence_length=24,
                ),
            },
            num_classes=len(data["class_names"]),
            activation="sigmoid",
            fusion="cross_attention",
        )
        history = model.fit(
            {"images": train["images"], "text": train["text"]},
            train["labels"],
            epochs=1,
            verbose=0,
        )
        self.assertTrue(np.isfinite(history.history["loss"][-1]))
        predicted = model.predict(
            {"images": train["images"][:4], "text": train["text"][:4]},
            verbose=0,
        )
        self.assertEqual(predicted.shape, (4, 4))
