import os

import numpy as np
import pytest

import keras_mm
from tests.test_case import TestCase

pytestmark = pytest.mark.backend_independent

driving = keras_mm.datasets.driving


class DrivingTest(TestCase):
    def make(self, **kwargs):
        kwargs.setdefault("cache_dir", self.get_temp_dir())
        return driving(**{"num_samples": 60, "image_size": 32, **kwargs})

    def test_splits_shapes_and_types(self):
        data = self.make()
        self.assertEqual(data["class_names"], driving.ACTIONS)
        self.assertEqual(data["max_duration"], 2.0)
        self.assertEqual(data["sample_rate"], 16000)
        sizes = {split: len(data[split]["labels"]) for split in driving.SPLITS}
        self.assertEqual(sizes, {"train": 42, "validation": 6, "test": 12})
        train = data["train"]
        self.assertEqual(train["images"].shape, (42, 32, 32, 3))
        self.assertEqual(train["images"].dtype, np.uint8)
        self.assertEqual(train["labels"].dtype, np.int32)
        for clip in train["audio"]:
            self.assertEqual(clip.shape, (32000,))
            self.assertEqual(clip.dtype, np.float32)
            self.assertBetween(float(np.abs(clip).max()), 0.29, 0.91)
        for key in ("captions", "lights", "sounds", "weather", "times_of_day"):
            self.assertEqual(len(train[key]), 42)

    def test_labels_follow_the_rule_and_the_narration(self):
        data = self.make(num_samples=300)
        for split in driving.SPLITS:
            rows = data[split]
            for label, light, sound, text in zip(
                rows["labels"], rows["lights"], rows["sounds"], rows["captions"]
            ):
                todo = driving.action(light, sound)
                self.assertEqual(driving.ACTIONS[label], todo)
                self.assertTrue(text.endswith(f"the light is {light}: {todo}"))
        self.assertEqual(driving.action("red", "siren approaching"), "stop")
        self.assertEqual(driving.action("amber", "crossing bell"), "stop")
        self.assertEqual(driving.action("amber", "horn"), "slow down")
        # Every action occurs, and the sound changes it for a green light.
        labels = np.concatenate([data[s]["labels"] for s in driving.SPLITS])
        self.assertEqual(sorted(set(labels.tolist())), [0, 1, 2, 3])

    def test_same_arguments_same_data_and_the_cache_is_used(self):
        directory = self.get_temp_dir()
        first = self.make(seed=3, cache_dir=directory)
        (name,) = os.listdir(directory)
        self.assertTrue(name.startswith("driving-n60-32px-seed3-"))
        again = self.make(seed=3, cache_dir=directory)
        fresh = self.make(seed=3)  # Built again, in another directory.
        other = self.make(seed=4)
        for split in driving.SPLITS:
            for data in (again, fresh):
                np.testing.assert_array_equal(
                    first[split]["images"], data[split]["images"]
                )
                np.testing.assert_array_equal(
                    first[split]["audio"][0], data[split]["audio"][0]
                )
                self.assertEqual(
                    first[split]["captions"], data[split]["captions"]
                )
        self.assertFalse(
            np.array_equal(first["train"]["images"], other["train"]["images"])
        )

    def test_the_lit_lamp_shows_its_colour(self):
        # The light must be readable: the scene holds pixels of the lit
        # lamp's colour.
        data = self.make(num_samples=90, image_size=64)
        lamps = {
            "red": (255, 40, 30),
            "amber": (255, 170, 20),
            "green": (40, 235, 80),
        }
        train = data["train"]
        checked = 0
        for image, light, weather in zip(
            train["images"], train["lights"], train["weather"]
        ):
            if weather == "fog":  # Fog pales every colour.
                continue
            distance = np.abs(image.astype(int) - lamps[light]).sum(-1)
            self.assertGreater(int((distance < 150).sum()), 3, light)
            checked += 1
        self.assertGreater(checked, 20)

    def test_bad_arguments_say_what_was_received(self):
        for kwargs, message in (
            ({"num_samples": 10}, "num_samples"),
            ({"num_samples": 10**6}, "at most 200000"),
            ({"image_size": 16}, "image_size"),
            ({"image_size": 1024}, "at most 512.*image_size=1024"),
            ({"seed": -1}, "seed"),
            ({"cache_dir": 3}, "cache_dir"),
        ):
            with self.assertRaisesRegex(ValueError, message):
                driving(**kwargs)
