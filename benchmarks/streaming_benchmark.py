"""Peak memory of `fit` on a DataFrame of JPEG paths, streamed or read whole.

Writes `--rows` JPEGs of `--file_size` px (smooth random colour fields), then
fits a small image classifier (`cnn_small` at `--image_size` px) on a
DataFrame of their paths for one epoch, in a fresh process per run:

- streamed: `model.fit(frame, "label")`, which reads the files inside
  `tf.data` (`keras_mm.data.stream_frame`);
- read whole: `model.fit(*keras_mm.data.load_frame(frame, ...))`, every
  image decoded into memory at its own size before the first step (as
  `fit` read a DataFrame before streaming); the model resizes them.

Each run is repeated at 1/5, 1/2 and all of `--rows`. The table gives each
process's peak resident memory (`ru_maxrss`) and wall time, next to the
size the decoded files would take at their own size: streamed memory stays
flat in the number of rows.

    KERAS_BACKEND=jax python -m benchmarks.streaming_benchmark
    KERAS_BACKEND=jax python -m benchmarks.streaming_benchmark --rows 40 --smoke
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

CHILD = """
import json, resource, sys, time
import keras, pandas as pd
import keras_mm
directory, rows, image_size, mode = sys.argv[1], int(sys.argv[2]), \\
    int(sys.argv[3]), sys.argv[4]
frame = pd.read_csv(directory + "/frame.csv").iloc[:rows]
keras.utils.set_random_seed(0)
model = keras_mm.build_classifier(
    {"images": keras_mm.encoders.image(
        "cnn_small", image_shape=(image_size, image_size, 3))},
    num_classes=3)
start = time.perf_counter()
if mode == "streamed":
    model.fit(frame, "label", batch_size=64, epochs=1, verbose=0)
else:
    x, y = keras_mm.data.load_frame(frame, images="images", labels="label")
    model.fit(x, y, batch_size=64, epochs=1, verbose=0)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print("RESULT", json.dumps({"peak_mb": peak, "seconds": seconds}))
"""


def write_jpegs(directory, rows, file_size, seed=0):
    """`rows` JPEGs of smooth random colours and a `frame.csv` of their
    paths with labels 0-2."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    paths = []
    for start in range(0, rows, 250):
        count = min(250, rows - start)
        coarse = rng.uniform(0, 255, (count, 8, 8, 3)).astype("float32")
        fine = tf.image.resize(coarse, (file_size, file_size)).numpy()
        for i, image in enumerate(fine.astype("uint8")):
            path = os.path.join(directory, f"{start + i}.jpg")
            tf.io.write_file(path, tf.io.encode_jpeg(image, quality=90))
            paths.append(path)
    labels = rng.integers(0, 3, rows)
    with open(os.path.join(directory, "frame.csv"), "w") as f:
        f.write("images,label\n")
        f.writelines(f"{p},{label}\n" for p, label in zip(paths, labels))
    return paths


def run(directory, rows, image_size, mode):
    result = subprocess.run(
        [sys.executable, "-c", CHILD, directory, str(rows), str(image_size)]
        + [mode],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    line = [x for x in result.stdout.splitlines() if x.startswith("RESULT")]
    return json.loads(line[-1].split(" ", 1)[1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--file_size", type=int, default=256)
    parser.add_argument("--image_size", type=int, default=64)
    parser.add_argument(
        "--smoke", action="store_true", help="only the full row count"
    )
    parser.add_argument("--output", help="a JSON file for the results")
    args = parser.parse_args(argv)
    directory = tempfile.mkdtemp(prefix="keras_mm_streaming_")
    start = time.perf_counter()
    paths = write_jpegs(directory, args.rows, args.file_size)
    disk = sum(os.path.getsize(p) for p in paths) / 2**20
    print(
        f"Wrote {args.rows} JPEGs of {args.file_size} px ({disk:.0f} MB) in "
        f"{time.perf_counter() - start:.0f} s."
    )
    counts = [args.rows]
    if not args.smoke:
        counts = [args.rows // 5, args.rows // 2, args.rows]
    results = []
    print(
        "| rows | decoded at file size | streamed: peak RSS, time | "
        "read whole: peak RSS, time |\n|---|---|---|---|"
    )
    for rows in counts:
        decoded = rows * args.file_size**2 * 3 / 2**20
        row = {"rows": rows, "decoded_mb": decoded}
        for mode in ("streamed", "whole"):
            row[mode] = run(directory, rows, args.image_size, mode)
        results.append(row)
        print(
            f"| {rows} | {decoded:.0f} MB | "
            f"{row['streamed']['peak_mb']:.0f} MB, "
            f"{row['streamed']['seconds']:.0f} s | "
            f"{row['whole']['peak_mb']:.0f} MB, "
            f"{row['whole']['seconds']:.0f} s |",
            flush=True,
        )
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
