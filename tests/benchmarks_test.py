"""The benchmark scripts run on a tiny setting (their figures live in
BENCHMARKS.md, not in tests)."""

import json
import math
import os
import shutil
import subprocess
import sys
from unittest import mock

import keras
import numpy as np
import pytest

import keras_mm
from benchmarks import captioner_generate_speed
from benchmarks import export_benchmark
from benchmarks import export_latency
from benchmarks import fresh_scenes
from benchmarks import fusion_benchmark
from benchmarks import gpu_check
from benchmarks import hardware_benchmark
from benchmarks import input_pipeline_benchmark
from benchmarks import overhead_benchmark
from benchmarks import paired_fusion_benchmark
from benchmarks import recognizer_breakdown
from benchmarks import serving_load
from benchmarks import speech_benchmark
from benchmarks import streaming_benchmark
from tests.test_case import TestCase

# Smoke tests of the benchmark scripts run once (the library calls they make
# are tested on both backends elsewhere): under JAX, but the export
# benchmark under TensorFlow, where exports need no child process.

# A tiny fusion benchmark run, on the best encoders.
TINY_FUSION = [
    "--num-samples",
    "60",
    "--image-size",
    "32",
    "--hidden-dim",
    "8",
    "--image-encoder",
    "cnn_shape_colour_small",
    "--text-encoder",
    "bag_of_words_small",
]


@pytest.mark.one_backend
class FusionBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        output = self.get_temp_dir() + "/table.md"
        rows = fusion_benchmark.main(
            TINY_FUSION
            + ["--epochs", "1", "--fusions", "query,late", "--object-tokens"]
            + ["--output", output]
        )
        # 2 fusions on pixels, 2 on object tokens, image only, text only.
        self.assertEqual(len(rows), 6)
        with open(output) as f:
            table = f.read()
        for label in (
            "| query |",
            "| late |",
            "| query, object tokens |",
            "| images only |",
            "| text only |",
        ):
            self.assertIn(label, table)

    @pytest.mark.slow
    def test_caption_epochs_train_a_captioner_on_the_image_encoder(self):
        captioners = []
        original = keras_mm.build_captioner

        def build_captioner(*args, **kwargs):
            captioners.append(original(*args, **kwargs))
            return captioners[-1]

        with mock.patch.object(
            fusion_benchmark.keras_mm, "build_captioner", build_captioner
        ):
            rows = fusion_benchmark.main(
                TINY_FUSION
                + ["--epochs", "2", "--caption-epochs", "1", "--fusions", ""]
            )
        # An empty --fusions runs the baselines alone.
        self.assertEqual(
            [row.split("|")[1].strip() for row in rows],
            ["images only", "text only"],
        )
        # Only the model with images gets a captioner, over its encoder;
        # 42 training scenes are one batch: 1 epoch first, then 1 per
        # classifier epoch.
        self.assertEqual(len(captioners), 1)
        self.assertEqual(int(captioners[0].optimizer.iterations), 3)
        self.assertIn(
            "image_encoder", [layer.name for layer in captioners[0].layers]
        )

    def test_object_tokens_hold_each_object_and_the_word(self):
        split = keras_mm.datasets.scenes(num_samples=60, image_size=48)["train"]
        tokens = fusion_benchmark.object_tokens(split, 48)
        scenes = keras_mm.datasets.scenes
        self.assertEqual(
            tokens.shape, (42, 9, fusion_benchmark.OBJECT_FEATURES)
        )
        for i, objects in enumerate(split["objects"]):
            shapes = tokens[i, :, : len(scenes.SHAPES)]
            # One shape one-hot per object, each in its own cell.
            self.assertEqual(shapes.sum(), len(objects))
            for o in objects:
                cell = (o["center"][0] // 16) * 3 + o["center"][1] // 16
                self.assertEqual(
                    shapes[cell, scenes.SHAPES.index(o["shape"])], 1
                )
            word_cells = np.flatnonzero(tokens[i, :, -1])
            if not split["word"][i]:
                self.assertEqual(len(word_cells), 0)
                continue
            # The word fills the three cells of its band, none with an
            # object in it.
            self.assertEqual(len(word_cells), 3)
            self.assertEqual(shapes[word_cells].sum(), 0)
            band = {"top": 0, "left": 0, "middle": 1}.get(
                split["word_position"][i], 2
            )
            rows, columns = word_cells // 3, word_cells % 3
            self.assertTrue(
                (rows == band).all() or (columns == band).all(),
                msg=f"{split['word_position'][i]}: cells {word_cells}",
            )


@pytest.mark.one_backend
class FreshScenesTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        path = self.get_temp_dir() + "/fresh.json"
        rows, results = fresh_scenes.main(
            ["--train-size", "16", "--test-size", "8"]
            + ["--budget-seconds", "0.01", "--batch-size", "8"]
            + ["--models", "cross_attention", "--json", path]
            + ["--lr-schedule", "warmup_cosine"]
        )
        # The budget is spent after the first step, which stops `fit`.
        self.assertEqual(len(rows), 1)
        self.assertTrue(rows[0].startswith("| base | cross_attention | 0 |"))
        self.assertEqual(rows[0].count("|"), 10)
        self.assertIsNotNone(results[0]["train_accuracy"])
        self.assertEqual(results[0]["steps"], 1)
        self.assertGreaterEqual(results[0]["cpu_seconds"], 0.01)
        with open(path) as f:
            self.assertEqual(json.load(f)["results"], results)

    def test_holdout_needs_final(self):
        with self.assertRaisesRegex(ValueError, "final"):
            fresh_scenes.generate("holdout", train_size=2, test_size=2)
        with self.assertRaises(SystemExit):
            fresh_scenes.main(["--variants", "holdout"])
        data = fresh_scenes.generate(
            "holdout", train_size=2, test_size=2, final=True
        )
        self.assertEqual(data["test"]["images"].shape, (2, 80, 80, 3))
        # Three objects: a distractor no statement names.
        self.assertEqual(len(data["train"]["objects"][0]), 3)

    def test_generator_is_deterministic_and_balanced(self):
        for variant in fresh_scenes.DEVELOPMENT_VARIANTS:
            first = fresh_scenes.generate(variant, 1, 40, 20)
            second = fresh_scenes.generate(variant, 1, 40, 20)
            other = fresh_scenes.generate(variant, 2, 40, 20)
            size = fresh_scenes.VARIANTS[variant]["image_size"]
            self.assertEqual(
                first["train"]["images"].shape, (40, size, size, 3)
            )
            for split in fresh_scenes.SPLITS:
                np.testing.assert_array_equal(
                    first[split]["images"], second[split]["images"]
                )
                self.assertEqual(
                    first[split]["statements"], second[split]["statements"]
                )
            self.assertFalse(
                np.array_equal(
                    first["train"]["images"], other["train"]["images"]
                )
            )
            self.assertNotEqual(
                first["train"]["statements"], first["test"]["statements"]
            )
            for split in first.values():
                # Every statement is true in exactly half of its images.
                labels = {}
                for text, label in zip(split["statements"], split["labels"]):
                    labels.setdefault(text, []).append(int(label))
                for text, values in labels.items():
                    self.assertEqual(2 * sum(values), len(values), text)
                for objects, text, label in zip(
                    split["objects"], split["statements"], split["labels"]
                ):
                    # The statement's shape and colour are together on one
                    # object exactly when it is true; without mixed
                    # negatives, both are drawn either way.
                    words = set(text.split())
                    named = [(s, c) for s, c in objects if {s, c} <= words]
                    self.assertEqual(len(named), int(label), text)
                    if "negatives" not in fresh_scenes.VARIANTS[variant]:
                        self.assertTrue(any(s in words for s, _ in objects))
                        self.assertTrue(any(c in words for _, c in objects))
                    expected = 3 if variant == "distractor" else 2
                    self.assertEqual(len(objects), expected)

    def test_summary_gives_mean_and_std_over_seeds(self):
        results = [
            {"variant": "base", "model": "text only", "seed": seed,
             "accuracy": accuracy, "train_accuracy": training}
            for seed, accuracy, training in ((0, 0.5, 0.6), (1, 0.7, 0.8))
        ]  # fmt: skip
        lines = fresh_scenes.summarize(results)
        self.assertEqual(len(lines), 3)
        self.assertEqual(
            lines[2],
            "| base | text only | 0, 1 | 0.600 ± 0.100 | 0.500, 0.700 | "
            "0.700 |",
        )

    def test_mixed_negatives_hold_each_kind(self):
        split = fresh_scenes.generate("mixed_negatives", 0, 300, 2)["train"]
        kinds = []
        for objects, text, label in zip(
            split["objects"], split["statements"], split["labels"]
        ):
            if label:
                continue
            words = set(text.split())
            shape_drawn = any(s in words for s, _ in objects)
            colour_drawn = any(c in words for _, c in objects)
            self.assertTrue(shape_drawn or colour_drawn, text)
            kinds.append((shape_drawn, colour_drawn))
        counts = {kind: kinds.count(kind) for kind in set(kinds)}
        # Swapped colours, an absent colour, an absent shape: about a third
        # each of the 150 false rows.
        self.assertEqual(len(counts), 3)
        self.assertGreater(min(counts.values()), 30)


@pytest.mark.one_backend
class CaptionerGenerateSpeedTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        rows = captioner_generate_speed.main(
            ["--batch-sizes", "1", "--repeats", "1"]
        )
        (batch_size, cached, uncached, beam) = rows[0]
        self.assertEqual(batch_size, 1)
        self.assertGreater(cached, 0)
        self.assertGreater(uncached, 0)
        self.assertGreater(beam, 0)


@pytest.mark.one_backend
class SpeechBenchmarkTest(TestCase):
    def run_tiny(self, *args):
        """The benchmark on 40 sentences, 1 epoch, a 16-wide model."""
        return speech_benchmark.main(
            [
                *args,
                "--num-sentences",
                "40",
                "--epochs",
                "1",
                "--hidden-dim",
                "16",
                "--num-layers",
                "1",
                "--verbose",
                "0",
                "--cache-dir",
                self.get_temp_dir(),
            ]
        )

    @pytest.mark.slow
    def test_runs_tiny(self):
        rows, accuracy = self.run_tiny(
            "--num-words", "40", "--keyword-epochs", "1"
        )
        self.assertEqual(
            [row[0] for row in rows],
            [
                "CTC, greedy",
                "CTC, beam",
                "attention, greedy",
                "attention, beam",
            ],
        )
        for _, cer, wer, seconds in rows:
            self.assertGreaterEqual(cer, 0.0)
            self.assertGreaterEqual(wer, 0.0)
            self.assertGreater(seconds, 0.0)
        self.assertBetween(accuracy, 0.0, 1.0)

    @pytest.mark.slow
    @pytest.mark.skipif(
        shutil.which("flite") is None, reason="needs the flite program"
    )
    def test_runs_tiny_with_flite_test(self):
        rows, accuracy = self.run_tiny(
            "--tasks", "ctc", "--test-engine", "flite"
        )
        self.assertEqual(
            [row[0] for row in rows],
            [
                "CTC, greedy",
                "CTC, beam",
                "CTC, greedy, flite",
                "CTC, beam, flite",
            ],
        )
        self.assertIsNone(accuracy)

    @pytest.mark.slow
    @pytest.mark.skipif(
        shutil.which("flite") is None, reason="needs the flite program"
    )
    def test_runs_tiny_trained_on_both_engines(self):
        rows, _ = self.run_tiny(
            "--tasks", "ctc", "--train-engines", "espeak-ng,flite"
        )
        self.assertEqual(
            [row[0] for row in rows],
            [
                "CTC, greedy",
                "CTC, beam",
                "CTC, greedy, espeak-ng",
                "CTC, beam, espeak-ng",
                "CTC, greedy, flite",
                "CTC, beam, flite",
            ],
        )

    def test_engine_rows_keep_one_engine(self):
        split = {
            "audio": np.arange(4),
            "transcripts": ["a", "b", "c", "d"],
            "engines": ["flite", "espeak-ng", "flite", "espeak-ng"],
            "sample_rate": 16000,
        }
        rows = speech_benchmark.engine_rows(split, "flite")
        np.testing.assert_array_equal(rows["audio"], [0, 2])
        self.assertEqual(rows["transcripts"], ["a", "c"])
        self.assertEqual(rows["engines"], ["flite", "flite"])
        self.assertEqual(rows["sample_rate"], 16000)

    def test_engines_are_checked(self):
        for argv in (
            ["--train-engines", "espeak-ng,festival"],
            ["--train-engines", "espeak-ng,flite", "--test-engine", "flite"],
        ):
            with self.assertRaises(SystemExit):
                speech_benchmark.main(argv)

    @pytest.mark.slow
    def test_waveform_augmentation_and_real_speech(self):
        # A stand-in for the sdist: one 1 s recording of a known prompt.
        import tarfile

        import scipy.io.wavfile

        directory = self.get_temp_dir()
        wav = os.path.join(self.get_temp_dir(), "arctic_a0007.wav")
        tone = np.sin(np.arange(16000) * 0.2) * 8000
        scipy.io.wavfile.write(wav, 16000, tone.astype("int16"))
        archive = os.path.join(directory, "pysptk-0.0.tar.gz")
        with tarfile.open(archive, "w:gz") as tar:
            tar.add(
                wav, "pysptk-0.0/pysptk/example_audio_data/x/arctic_a0007.wav"
            )
        build = keras_mm.build_speech_recognizer
        tables, original = [], speech_benchmark.real_speech_lines

        def lines(*args):
            tables.append(original(*args))
            return tables[-1]

        with (
            mock.patch.object(
                keras_mm, "build_speech_recognizer", wraps=build
            ) as built,
            mock.patch.object(
                speech_benchmark, "real_speech_lines", side_effect=lines
            ),
        ):
            rows, _ = self.run_tiny(
                "--tasks",
                "ctc",
                "--waveform-augmentation",
                "--waveform-augmentation-options",
                '{"noise_probability": 0.9}',
                "--real-speech",
                directory,
            )
        self.assertEqual(len(rows), 2)
        layer = built.call_args.kwargs["waveform_augmentation"]
        self.assertEqual(layer.noise_probability, 0.9)
        self.assertTrue(layer.built)  # It runs in the recognizer's encoder.
        (greedy,) = [line for line in tables[0] if "| greedy |" in line]
        self.assertIn("| arctic_a0007 | 1.00 |", greedy)
        self.assertIn("superlative degree", greedy)
        with self.assertRaises(SystemExit):
            self.run_tiny(
                "--tasks",
                "ctc",
                "--waveform-augmentation",
                "--waveform-augmentation-options",
                '{"noise_probability": 2}',
            )

    def test_fetch_real_speech_explains_a_pip_failure(self):
        failed = subprocess.CompletedProcess([], 1, "", "No route to host")
        with mock.patch.object(
            speech_benchmark.subprocess, "run", return_value=failed
        ):
            with self.assertRaisesRegex(RuntimeError, "No route to host"):
                speech_benchmark.fetch_real_speech(self.get_temp_dir())


@pytest.mark.one_backend
class PairedFusionBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        rows = paired_fusion_benchmark.main(
            [
                "--num-samples",
                "40",
                "--image-size",
                "24",
                "--epochs",
                "1",
                "--hidden-dim",
                "16",
                "--fusions",
                "concat",
                "--cache-dir",
                self.get_temp_dir(),
            ]
        )
        self.assertEqual(
            [row[:3] for row in rows],
            [
                ("commands", "audio + text", "concat"),
                ("commands", "audio + text", "audio only"),
                ("commands", "audio + text", "text only"),
                ("scenes", "images + audio", "concat"),
                ("scenes", "images + audio", "images only"),
                ("scenes", "images + audio", "audio only"),
            ],
        )
        for *_, accuracy, seconds in rows:
            self.assertBetween(accuracy, 0.0, 1.0)
            self.assertGreater(seconds, 0.0)

    @pytest.mark.slow
    def test_recognizer_as_the_audio_encoder(self):
        build = keras_mm.build_speech_recognizer
        with mock.patch.object(
            keras_mm, "build_speech_recognizer", wraps=build
        ) as spy:
            rows = paired_fusion_benchmark.main(
                ["--tasks", "commands", "--num-samples", "40", "--epochs"]
                + ["1", "--hidden-dim", "16", "--fusions", "concat"]
                + ["--recognizer-epochs", "1", "--recognizer-sentences"]
                + ["40", "--cache-dir", self.get_temp_dir()]
            )
        # One recognizer, for the commands' longest clips.
        spy.assert_called_once()
        self.assertEqual(spy.call_args.kwargs["max_duration"], 4.5)
        self.assertEqual(
            [row[2] for row in rows], ["concat", "audio only", "text only"]
        )
        # Its encoder is frozen and holds the recognizer's own weights.
        recognizer = build(
            list("ab "), max_duration=4.5, hidden_dim=16, num_layers=1
        )
        encoder = paired_fusion_benchmark.encoders_for(
            ("audio",), None, 4.5, None, recognizer
        )["audio"]
        self.assertFalse(encoder.trainable)
        owned = {id(weight) for weight in recognizer.weights}
        self.assertTrue(all(id(w) in owned for w in encoder.weights))


@pytest.mark.tf_only
class ExportBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        output = self.get_temp_dir() + "/table.md"
        rows, quantized = export_benchmark.main(
            ["--tiny", "--repeats", "1", "--epochs", "1", "--output", output]
        )
        self.assertEqual(
            [row["format"] for row in quantized],
            [
                "Keras",
                "TFLite float32",
                "TFLite dynamic",
                "TFLite float16",
                "TFLite int8",
            ],
        )
        self.assertEqual(
            [row["model"] for row in rows],
            ["classifier", "captioner", "speech recognizer"],
        )
        for row in rows:
            self.assertGreater(row["megabytes"], 0)
            self.assertGreater(row["served_32"], 0)
            self.assertGreater(row["tflite_1"], 0)
        with open(output) as f:
            self.assertIn("| speech recognizer |", f.read())


@pytest.mark.one_backend
class ExportLatencyTest(TestCase):
    @pytest.mark.slow
    def test_runs_with_kept_processes(self):
        path = os.path.join(self.get_temp_dir(), "latency.json")
        rows = export_latency.main(
            ["--repeats", "2", "--processes", "kept", "--json", path]
        )
        self.assertEqual(
            [row["step"] for row in rows], ["saved_model", "verify", "tflite"]
        )
        for row in rows:
            self.assertEqual(row["processes"], "kept")
            self.assertLen(row["later"], 1)
            self.assertGreater(row["first"], 0.0)
        with open(path) as f:
            self.assertEqual(json.load(f), rows)
        with self.assertRaisesRegex(SystemExit, "2"):
            export_latency.main(["--processes", "old"])


@pytest.mark.one_backend
class OverheadBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        path = self.get_temp_dir() + "/overhead.json"
        rows = overhead_benchmark.main(["--tiny", "--json", path])
        self.assertEqual(
            [row["model"] for row in rows],
            ["captioner", "classifier", "recognizer"],
        )
        for row in rows:
            hand, ours = row["hand_written"], row["keras_mm"]
            self.assertEqual(hand["class"], "Functional")
            self.assertIn(
                ours["class"],
                ("Captioner", "MultimodalClassifier", "SpeechRecognizer"),
            )
            for side in (hand, ours):
                self.assertLen(side["ms_per_step"], 2)  # --tiny: 2 rounds.
                for ms in side["ms_per_step"]:
                    self.assertTrue(np.isfinite(ms))
                    self.assertGreater(ms, 0.0)
                self.assertTrue(np.isfinite(side["last_loss"]))
            self.assertGreater(row["ratio"], 0.0)
            # Same architecture on both sides: trainable weights differ only
            # by the captioner's image-token position embedding (4 tokens
            # x 16 here); the classifier and the recognizer match exactly.
            self.assertBetween(row["trainable_params_ratio"], 1.0, 1.01)
        by_model = {row["model"]: row for row in rows}
        self.assertEqual(
            by_model["captioner"]["keras_mm"]["params"]["trainable"]
            - by_model["captioner"]["hand_written"]["params"]["trainable"],
            4 * 16,
        )
        for name in ("classifier", "recognizer"):
            self.assertEqual(
                by_model[name]["keras_mm"]["params"]["trainable"],
                by_model[name]["hand_written"]["params"]["trainable"],
            )
        with open(path) as f:
            written = json.load(f)
        self.assertEqual(written["backend"], keras.config.backend())
        self.assertGreater(written["peak_rss_mib"], 0)
        self.assertEqual(len(written["results"]), 3)


@pytest.mark.one_backend
class HardwareBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        path = self.get_temp_dir() + "/rows.json"
        cache = self.get_temp_dir() + "/flops.json"
        # One model: each runs in two child processes of its own.
        rows = hardware_benchmark.main(
            ["--tiny", "--models=classifier", "--json", path]
            + ["--flops-cache", cache]
        )
        self.assertEqual([r["model"] for r in rows], ["classifier"])
        for row in rows:
            self.assertEqual(row["backend"], keras.config.backend())
            self.assertGreater(row["ms_per_step"], 0)
            self.assertGreater(row["matmul_peak_flops"], 0)
            self.assertGreater(row["peak_memory_mb"], 0)
            # A training step of these models is millions of FLOPs.
            self.assertGreater(row["flops"], 1e6)
        with open(cache) as f:
            self.assertEqual(
                json.load(f),
                {"classifier/cnn_small/32/2/float32": rows[0]["flops"]},
            )
        with open(path) as f:
            self.assertEqual(json.load(f), rows)


@pytest.mark.one_backend
class InputPipelineBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        rows, decoded = input_pipeline_benchmark.main(["--tiny"])
        self.assertEqual(
            [r["model"] for r in rows],
            ["classifier", "captioner", "speech recognizer"],
        )
        for row in rows:
            self.assertGreater(row["pipeline"], 0)
            self.assertGreater(row["model_rate"], 0)
            self.assertAlmostEqual(
                row["ratio"], row["pipeline"] / row["model_rate"]
            )
        self.assertGreater(decoded, 0)


@pytest.mark.one_backend
class RecognizerBreakdownTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        rows = recognizer_breakdown.main(["--tiny", "--repeats", "1"])
        names = [name for name, _ in rows]
        self.assertEqual(len(names), 9)
        self.assertIn("keras_mm build_speech_recognizer", names)
        self.assertIn(
            "Dense + BiGRUs, keras_mm.layers.PaddedGRU, masked", names
        )
        for _, milliseconds in rows:
            self.assertGreater(milliseconds, 0)


@pytest.mark.one_backend
class GpuCheckTest(TestCase):
    @pytest.mark.slow
    def test_smoke_run_of_the_script_on_both_backends(self):
        directory = self.get_temp_dir()
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        result = subprocess.run(
            ["bash", os.path.join(root, "benchmarks", "gpu_check.sh")]
            + [directory, "--smoke"],
            env=dict(os.environ, PYTHON=sys.executable),
            capture_output=True,
            text=True,
            timeout=600,
        )
        self.assertEqual(result.returncode, 0, result.stderr[-3000:])
        runs = {}
        for backend in ("jax", "tensorflow"):
            with open(f"{directory}/gpu_check_{backend}.json") as f:
                runs[backend] = run = json.load(f)
            self.assertEqual(run["backend"], backend)
            self.assertEqual(run["precision"], "mixed_bfloat16")
            self.assertEqual(
                [row["task"] for row in run["rows"]],
                ["classifier", "captioner", "recognizer"],
            )
            cpu = run["device"].startswith("CPU")
            for row in run["rows"]:
                self.assertNotIn("error", row)
                self.assertLen(row["ms_per_step_all"], 2)  # --smoke: 2.
                for ms in row["ms_per_step_all"] + [row["ms_per_step"]]:
                    self.assertTrue(math.isfinite(ms))
                    self.assertGreater(ms, 0.0)
                self.assertAlmostEqual(
                    row["examples_per_second"],
                    row["batch_size"] * 1000 / row["ms_per_step"],
                )
                self.assertTrue(math.isfinite(row["last_loss"]))
                # Millions of FLOPs: a training step, not a forward pass.
                self.assertGreater(row["flops_per_step"], 1e6)
                self.assertGreater(row["tflops_per_second"], 0.0)
                if cpu:  # No bf16 peak or GPU memory to report.
                    self.assertIsNone(row["mfu"])
                    self.assertIsNone(row["peak_memory_mib"])
                else:
                    self.assertBetween(row["mfu"], 0.0, 1.0)
                    self.assertGreater(row["peak_memory_mib"], 0.0)
                self.assertIn(
                    f"| {backend} | {run['device']} | {row['task']} | 4 |",
                    result.stdout,
                )
        # TensorFlow's FLOPs come from the JAX run: the same models.
        self.assertEqual(
            [row["flops_per_step"] for row in runs["tensorflow"]["rows"]],
            [row["flops_per_step"] for row in runs["jax"]["rows"]],
        )
        # tf.data ran beside JAX on no GPU.
        self.assertEqual(runs["jax"]["tensorflow_visible_gpus"], [])
        self.assertEqual(runs["jax"]["tensorflow_gpus_after"], [])

    @pytest.mark.backend_independent
    def test_tensorflow_is_hidden_from_gpus_only_beside_another_backend(
        self,
    ):
        config = gpu_check.tf.config
        for backend, hidden in (("jax", True), ("tensorflow", False)):
            with (
                mock.patch.object(
                    gpu_check.keras.config, "backend", return_value=backend
                ),
                mock.patch.object(config, "set_visible_devices") as hide,
            ):
                gpu_check.keep_tensorflow_off_gpus()
            if hidden:
                hide.assert_called_once_with([], "GPU")
            else:
                hide.assert_not_called()

    @pytest.mark.backend_independent
    def test_bf16_peaks_by_device_name(self):
        for name, tflops in (
            ("NVIDIA H200", 989.0),
            ("NVIDIA H100 80GB HBM3", 989.0),
            ("NVIDIA H100 PCIe", 756.0),
            ("NVIDIA A100-SXM4-80GB", 312.0),
            ("NVIDIA L4", 121.0),
            ("Tesla T4", 65.0),
            ("NVIDIA L40S", None),  # Not an L4.
        ):
            self.assertEqual(gpu_check.peak_tflops(name, None)[0], tflops)
        self.assertEqual(gpu_check.peak_tflops("NVIDIA L40S", 362.0)[0], 362.0)

    @pytest.mark.backend_independent
    def test_no_gpu_needs_smoke_and_a_spent_budget_skips_tasks(self):
        with (
            mock.patch.object(gpu_check, "on_gpu", return_value=False),
            self.assertRaises(SystemExit) as raised,
        ):
            gpu_check.main([])
        self.assertEqual(raised.exception.code, 2)  # argparse's error.
        path = self.get_temp_dir() + "/run.json"
        with (
            # TensorFlow may have started in this process already.
            mock.patch.object(
                gpu_check, "keep_tensorflow_off_gpus", return_value=[]
            ),
            self.assertRaises(SystemExit) as raised,
        ):
            gpu_check.main(
                ["--smoke", "--time-budget", "1e-9", "--output", path]
            )
        self.assertEqual(raised.exception.code, 1)
        with open(path) as f:
            rows = json.load(f)["rows"]
        self.assertEqual(
            [row["task"] for row in rows],
            ["classifier", "captioner", "recognizer"],
        )
        for row in rows:
            self.assertTrue(row["error"].startswith("skipped: "), row)


@pytest.mark.one_backend
class StreamingBenchmarkTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        output = os.path.join(self.get_temp_dir(), "streaming.json")
        (row,) = streaming_benchmark.main(
            ["--rows", "64", "--file_size", "32", "--image_size", "16"]
            + ["--smoke", "--output", output]
        )
        self.assertEqual(row["rows"], 64)
        self.assertAlmostEqual(row["decoded_mb"], 64 * 32 * 32 * 3 / 2**20)
        for mode in ("streamed", "whole"):
            self.assertGreater(row[mode]["peak_mb"], 100)
            self.assertGreater(row[mode]["seconds"], 0)
        with open(output) as f:
            self.assertEqual(json.load(f), [row])


@pytest.mark.tf_only
class ServingLoadTest(TestCase):
    @pytest.mark.slow
    def test_runs_tiny(self):
        output = os.path.join(self.get_temp_dir(), "serving.json")
        # The classifier alone: each task adds an export and a TensorFlow
        # process (15 s or more on 2 cores), and the classifier's requests
        # (images and text, pixels and encoded) hold every malformed kind
        # but the audio ones (NaN or infinite audio, which may be
        # answered).
        rows = serving_load.main(
            ["--requests", "32", "--malformed", "1", "--output", output]
            + ["--tasks", "classifier"]
        )
        self.assertEqual(
            [(row["task"], row["format"]) for row in rows],
            [("classifier", format) for format in serving_load.FORMATS],
        )
        for row in rows:
            name = f"{row['task']}, {row['format']}"
            # The process survived the malformed requests and still
            # answers, with no keras_mm code loaded.
            self.assertTrue(row["survived"], f"{name}: {row.get('stderr')}")
            self.assertTrue(row["answers_after"], name)
            self.assertFalse(row["keras_mm_imported"], name)
            # Every valid request got the answer it gets alone, and the
            # answers differ from request to request.
            self.assertEqual(row["valid"], 32)
            self.assertEqual(row["valid_failed"], 0, name)
            self.assertGreater(row["distinct_answers"], 4, name)
            self.assertGreater(row["p99_ms"], 0)
            for kind, outcome in row["malformed"].items():
                self.assertEqual(outcome["sent"], 1)
                if kind in serving_load.MUST_REJECT:
                    self.assertEqual(outcome["rejected"], 1, f"{name}: {kind}")
        saved_model, tflite = (set(row["malformed"]) for row in rows)
        self.assertEqual(
            saved_model - tflite,
            {
                "not an image",
                "empty image bytes",
                "huge image bytes",
                "truncated JPEG",
            },
        )
        self.assertIn("batch sizes differ", tflite)
        with open(output) as f:
            self.assertEqual(json.load(f), rows)
