"""Where the speech recognizer's training step spends its time.

`overhead_benchmark` finds the keras_mm recognizer slower than the
hand-written DeepSpeech2-style model under JAX. This script times, in one
process, the steps in between: the hand-written model on log-mel frames
computed beforehand; the same with `keras_mm.layers.AudioFeatures` (STFT
as a frozen convolution) in the graph; the same with an FFT log-mel
(`keras.ops.stft`) instead; the keras_mm model; and the recurrent part
alone (a Dense and the bidirectional GRUs), without and with an all-true
padding mask.

    KERAS_BACKEND=jax python -m benchmarks.recognizer_breakdown
"""

import argparse

import keras
import numpy as np
from keras import ops

import keras_mm
from benchmarks import overhead_benchmark
from benchmarks.hardware_benchmark import step_times
from benchmarks.hardware_benchmark import to_device


def fft_log_mel(config):
    """A log-mel layer over `keras.ops.stft`, framed like `AudioFeatures`
    (25 ms windows every 10 ms, zero-padded to the FFT length)."""
    rate, bins = config["sample_rate"], config["num_mel_bins"]
    frame, step = rate * 25 // 1000, rate // 100
    fft = 2 ** int(np.ceil(np.log2(frame)))
    mel = keras_mm.layers.audio_features.mel_filterbank(
        bins, fft // 2 + 1, rate
    )

    def features(x):
        x = ops.pad(x, [[0, 0], [0, fft - frame]])
        real, imag = ops.stft(x, frame, step, fft, window="hann", center=False)
        return ops.log(ops.matmul(real**2 + imag**2, mel) + 1e-6)

    return keras.layers.Lambda(features, name="fft_log_mel")


def recurrent(config, num_steps, masked):
    """Dense + bidirectional GRUs, as in both recognizers, on random
    features; given `masked`, the GRUs get an all-true mask."""
    width = config["hidden_dim"]
    inputs = keras.Input((num_steps, width), name="features")
    mask = keras.Input((num_steps,), dtype="bool", name="mask")
    x = keras.layers.Dense(width)(inputs)
    for _ in range(config["num_layers"]):
        x = keras.layers.Bidirectional(
            keras.layers.GRU(width // 2, return_sequences=True)
        )(x, mask=mask if masked else None)
    model = keras.Model([inputs, mask], keras.layers.Dense(29)(x))
    model.compile(optimizer="adam", loss="mse")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args(argv)
    sizes = overhead_benchmark.SIZES["tiny" if args.tiny else "default"]
    config = sizes["recognizer"]
    batch = sizes["batch_size"]
    rng = np.random.default_rng(0)
    (hand, hand_data), (model, model_data) = overhead_benchmark.recognizer_pair(
        sizes, batch, sizes["image_size"], rng
    )
    frames, labels, _ = hand_data
    audio = model_data[0]["audio"]
    waveform = keras.Input(audio.shape[1:], name="audio")
    in_graph = {}
    for name, front_end in (
        (
            "with AudioFeatures in the graph",
            keras_mm.layers.AudioFeatures(
                config["sample_rate"],
                "log_mel",
                num_mel_bins=config["num_mel_bins"],
            ),
        ),
        ("with an FFT log-mel in the graph", fft_log_mel(config)),
    ):
        combined = keras.Model(waveform, hand(front_end(waveform)))
        combined.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=overhead_benchmark.ctc_loss,
        )
        in_graph[name] = combined
    num_steps = model.num_steps
    features = rng.standard_normal((batch, num_steps, config["hidden_dim"]))
    targets = np.zeros((batch, num_steps, 29), "float32")
    recurrent_inputs = [
        features.astype("float32"),
        np.ones((batch, num_steps), bool),
    ]
    cases = [
        ("hand-written, log-mel computed beforehand", hand, frames, labels),
        *(
            (f"hand-written {name}", m, audio, labels)
            for name, m in in_graph.items()
        ),
        ("keras_mm build_speech_recognizer", model, model_data[0], labels),
        (
            "Dense + BiGRUs, no mask",
            recurrent(config, num_steps, False),
            recurrent_inputs,
            targets,
        ),
        (
            "Dense + BiGRUs, all-true mask",
            recurrent(config, num_steps, True),
            recurrent_inputs,
            targets,
        ),
    ]
    rows = []
    for name, case_model, x, y in cases:
        median, _ = step_times(
            case_model, to_device((x, y, None)), args.steps, args.repeats
        )
        rows.append((name, median))
        print(f"{name}: {median:.1f} ms/step", flush=True)
    print(f"\n{keras.config.backend()}, batch {batch}\n")
    print("| step | ms/step |\n|---|---|")
    for name, median in rows:
        print(f"| {name} | {median:.1f} |")
    return rows


if __name__ == "__main__":
    main()
