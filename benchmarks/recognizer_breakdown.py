"""Where the speech recognizer's training step spends its time.

`overhead_benchmark` compares the keras_mm recognizer with a hand-written
DeepSpeech2-style model. This script times, in one process, the parts in
between: the hand-written model on log-mel frames computed beforehand;
the same with a log-mel front end in the graph, once `keras_mm`'s
`AudioFeatures` (an FFT) and once over `keras.layers.STFTSpectrogram` (the
STFT as a convolution with frozen kernels, which `AudioFeatures` used
before); the keras_mm model; and the recurrent part alone (a Dense and the
bidirectional GRUs): unmasked, with Keras' masked GRUs and with
`keras_mm.layers.PaddedGRU`, both given an all-true padding mask; and
the two log-mel front ends alone, forward only (as in inference). Rounds
alternate over all of these, and each row is the median over rounds of
the mean ms per step in a round.

    KERAS_BACKEND=jax python -m benchmarks.recognizer_breakdown
"""

import argparse
import statistics
import time

import keras
import numpy as np
from keras import ops

import keras_mm
from benchmarks import overhead_benchmark
from benchmarks.hardware_benchmark import to_device


def convolution_log_mel(config):
    """Log-mel frames over `keras.layers.STFTSpectrogram`, framed and
    windowed as `AudioFeatures` frames them."""
    features = keras_mm.layers.AudioFeatures(
        config["sample_rate"], num_mel_bins=config["num_mel_bins"]
    )
    stft = keras.layers.STFTSpectrogram(
        mode="stft",
        frame_length=features.frame_length,
        frame_step=features.frame_step,
        fft_length=features.fft_length,
        trainable=False,
    )
    waveform = keras.Input((None,))
    real, imag = ops.split(stft(waveform[..., None]), 2, axis=-1)
    power = ops.matmul(real**2 + imag**2, features.mel_matrix)
    return keras.Model(waveform, ops.log(power + 1e-6))


def recurrent(config, num_steps, gru):
    """Dense + bidirectional `gru`s, as in both recognizers, given a
    padding mask."""
    width = config["hidden_dim"]
    inputs = keras.Input((num_steps, width), name="features")
    mask = keras.Input((num_steps,), dtype="bool", name="mask")
    x = keras.layers.Dense(width)(inputs)
    for _ in range(config["num_layers"]):
        layer = keras.layers.Bidirectional(
            gru(width // 2, return_sequences=True)
        )
        x = layer(x, mask=mask)
    model = keras.Model([inputs, mask], keras.layers.Dense(29)(x))
    model.compile(optimizer="adam", loss="mse")
    return model


@keras.saving.register_keras_serializable("benchmarks")
class UnmaskedGRU(keras.layers.GRU):
    """`keras.layers.GRU` that drops the mask it is given."""

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state, None, training)


def training_step(model, batch):
    """One `train_on_batch` step, finished when it returns its loss."""
    x, y, _ = batch
    return lambda: keras.Model.train_on_batch(model, x, y)


def forward_step(model, x):
    """One compiled forward pass, finished when its output is on the
    host."""
    return lambda: model.predict_on_batch(x)


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
    front_ends = {
        "AudioFeatures (FFT)": keras_mm.layers.AudioFeatures(
            config["sample_rate"],
            "log_mel",
            num_mel_bins=config["num_mel_bins"],
        ),
        "an STFTSpectrogram log-mel": convolution_log_mel(config),
    }
    in_graph, alone = {}, {}
    for name, front_end in front_ends.items():
        combined = keras.Model(waveform, hand(front_end(waveform)))
        combined.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss=overhead_benchmark.ctc_loss,
        )
        in_graph[name] = combined
        alone[name] = keras.Model(waveform, front_end(waveform))
    num_steps = model.num_steps
    features = rng.standard_normal((batch, num_steps, config["hidden_dim"]))
    targets = np.zeros((batch, num_steps, 29), "float32")
    recurrent_inputs = [
        features.astype("float32"),
        np.ones((batch, num_steps), bool),
    ]
    train = [
        ("hand-written, log-mel computed beforehand", hand, frames, labels),
        *(
            (f"hand-written with {name} in the graph", m, audio, labels)
            for name, m in in_graph.items()
        ),
        ("keras_mm build_speech_recognizer", model, model_data[0], labels),
        *(
            (
                f"Dense + BiGRUs, {name}",
                recurrent(config, num_steps, gru),
                recurrent_inputs,
                targets,
            )
            for name, gru in (
                ("mask dropped", UnmaskedGRU),
                ("keras.layers.GRU, masked", keras.layers.GRU),
                (
                    "keras_mm.layers.PaddedGRU, masked",
                    keras_mm.layers.PaddedGRU,
                ),
            )
        ),
    ]
    cases = [
        (name, training_step(m, to_device((x, y, None))))
        for name, m, x, y in train
    ] + [
        (f"{name} alone, forward only", forward_step(m, to_device(audio)))
        for name, m in alone.items()
    ]
    # Rounds alternate over the cases, so that a slow spell of the machine
    # falls on all of them.
    for _, step in cases:
        step()  # Compiles.
        step()
    times = [[] for _ in cases]
    for _ in range(args.repeats):
        for (_, step), case_times in zip(cases, times):
            start = time.perf_counter()
            for _ in range(args.steps):
                step()
            case_times.append((time.perf_counter() - start) * 1e3 / args.steps)
    rows = [
        (name, statistics.median(case_times))
        for (name, *_), case_times in zip(cases, times)
    ]
    print(
        f"\n{keras.config.backend()}, batch {batch}, median over "
        f"{args.repeats} rounds of {args.steps} steps\n"
    )
    print("| step | ms/step |\n|---|---|")
    for name, median in rows:
        print(f"| {name} | {median:.1f} |")
    return rows


if __name__ == "__main__":
    main()
