"""Train, predict and evaluate from a table: what `keras-mm train`,
`predict` and `evaluate` run.

A table (CSV, TSV or Parquet) holds one example per row: image and audio
columns hold file paths (relative paths are read from the table's folder),
a text column holds strings, and the label column holds class names,
captions or transcripts. `train` builds the task's model with its builder's
defaults (`cnn_small` images, `transformer_small` text, the audio
encoder), fits it with Keras' progress bar, and writes to its output folder
`model.keras`, a KerasHub-style `preset/`, `columns.json` (which column
feeds which input, read back by `predict` and `evaluate`) and
`metrics.json`.

The tasks:
- `"classifier"`: any of images, text and audio to the label's classes;
- `"captioner"`: images and/or audio to the label's text;
- `"speech"`: audio to its transcript, `build_speech_recognizer` (CTC).
"""

import json
import os

import numpy as np

from keras_mm import encoders
from keras_mm import metrics
from keras_mm.builders import build_captioner
from keras_mm.builders import build_classifier
from keras_mm.builders import build_speech_recognizer
from keras_mm.data.frames import load_frame
from keras_mm.models.task import Task
from keras_mm.utils.files import load_keras_file

TASKS = ("classifier", "captioner", "speech")
# The inputs each task reads, by the model's input names.
TASK_INPUTS = {
    "classifier": ("images", "text", "audio"),
    "captioner": ("images", "audio"),
    "speech": ("audio",),
}
TABLE_FORMATS = (".csv", ".tsv", ".parquet")
SAMPLE_RATE = 16000
# The command's flag for each column.
FLAGS = {
    "images": "--image-column",
    "text": "--text-column",
    "audio": "--audio-column",
    "label": "--label-column",
}
# What each task writes, and the name of its predictions column.
OUTPUT_COLUMNS = {
    "classifier": "predicted_label",
    "captioner": "predicted_caption",
    "speech": "predicted_transcript",
}


def read_table(path):
    """A pandas DataFrame from a CSV, TSV or Parquet file; or a
    `ValueError` naming `--data`."""
    import pandas as pd

    path = os.fspath(path)
    extension = os.path.splitext(path)[1].lower()
    if extension not in TABLE_FORMATS:
        raise ValueError(
            f"--data must be a table file ending in one of "
            f"{list(TABLE_FORMATS)}. Received: {path!r}"
        )
    if not os.path.isfile(path):
        raise ValueError(f"--data: no such file: {path!r}")
    if extension == ".parquet":
        try:
            frame = pd.read_parquet(path)
        except ImportError as error:
            raise ValueError(
                f"--data: reading Parquet needs pyarrow ({error}); "
                "`pip install pyarrow`, or give a CSV file"
            ) from None
    else:
        frame = pd.read_csv(path, sep="\t" if extension == ".tsv" else ",")
    if not len(frame):
        raise ValueError(f"--data: {path!r} has no rows")
    return frame


def check_columns(frame, path, columns, task, labels=True):
    """`columns` (`{input name: column}`, `None` for unused ones, and
    `"label"`) checked against the table and the task; returns the used
    ones."""
    used = {key: column for key, column in columns.items() if column}
    for key, column in used.items():
        if column not in frame.columns:
            raise ValueError(
                f"{FLAGS[key]} {column!r} is not a column of {path!r}; its "
                f"columns: {list(map(str, frame.columns))}"
            )
    inputs = [key for key in TASK_INPUTS[task] if key in used]
    ignored = sorted(set(used) - set(TASK_INPUTS[task]) - {"label"})
    if ignored:
        raise ValueError(
            f"--task {task} reads {list(TASK_INPUTS[task])} only. Received "
            f"columns for {ignored}"
        )
    if not inputs:
        flags = ", ".join(FLAGS[key] for key in TASK_INPUTS[task])
        raise ValueError(f"--task {task} needs an input column: {flags}")
    if labels and "label" not in used:
        raise ValueError(f"--task {task} needs --label-column")
    return used


def _absolute(frame, column, folder):
    """File paths of `column`, relative ones taken from `folder`."""

    def resolve(value):
        if isinstance(value, str) and value.strip():
            value = os.path.expanduser(value)
            if not os.path.isabs(value):
                value = os.path.join(folder, value)
        return value

    return frame[column].map(resolve)


def load_inputs(path, columns, task, image_size=None, labels=True):
    """Reads the table at `path`: returns `(frame, x, labels)`: the table,
    `x` keyed by the model's input names (images as uint8 arrays resized
    to `image_size`, audio as waveforms at 16 kHz, text as str) and the
    label column as a list of str (`None` without `labels`)."""
    frame = read_table(path)
    columns = check_columns(frame, path, columns, task, labels=labels)
    if not labels:
        columns.pop("label", None)
    table, frame = frame, frame.copy()
    folder = os.path.dirname(os.path.abspath(path))
    for key in ("images", "audio"):
        if columns.get(key):
            frame[columns[key]] = _absolute(frame, columns[key], folder)
    x, y = load_frame(
        frame,
        images=columns.get("images") or (),
        audio=columns.get("audio") or (),
        text=columns.get("text") or (),
        labels=columns.get("label"),
        image_size=(image_size, image_size) if image_size else None,
        sample_rate=SAMPLE_RATE,
    )
    x = {
        key: x[columns[key]]
        for key in ("images", "text", "audio")
        if columns.get(key)
    }
    labels = None if y is None else [str(label) for label in y]
    return table, x, labels


def build(task, x, labels, image_size):
    """The task's model, with its builder's defaults, for inputs `x` and
    `labels`."""
    chosen = {}
    if "images" in x:
        chosen["images"] = encoders.image(
            "cnn_small", image_shape=(image_size, image_size, 3)
        )
    if "audio" in x:
        longest = max(len(clip) for clip in x["audio"]) / SAMPLE_RATE
        max_duration = max(0.5, float(np.ceil(longest * 2) / 2))
        if task == "speech":
            vocabulary = sorted(set("".join(labels).lower()))
            return build_speech_recognizer(
                vocabulary, sample_rate=SAMPLE_RATE, max_duration=max_duration
            )
        chosen["audio"] = encoders.audio(
            sample_rate=SAMPLE_RATE, max_duration=max_duration
        )
    if task == "captioner":
        return build_captioner(chosen, encoders.text_vocabulary(labels))
    if "text" in x:
        longest = max(len(text.split()) for text in x["text"])
        chosen["text"] = encoders.text(
            "transformer_small",
            vocabulary=encoders.text_vocabulary(x["text"]),
            sequence_length=min(64, max(8, longest + 2)),
        )
    class_names = sorted(set(labels))
    return build_classifier(
        chosen, num_classes=len(class_names), class_names=class_names
    )


def fit_arguments(task, x, labels):
    """`(x, y)` for the task's `fit`: captioners read the label as `"text"`."""
    if task == "captioner":
        return {**x, "text": labels}, None
    if task == "speech":
        return x["audio"], labels
    return x, labels


def train(
    task,
    data,
    output,
    columns,
    epochs=10,
    batch_size=32,
    image_size=64,
    overwrite=False,
):
    """Trains the task's model on the table `data` and writes it to the
    folder `output`; returns the metrics written to `metrics.json`."""
    if task not in TASKS:
        raise ValueError(
            f"--task must be one of {list(TASKS)}. Received: {task!r}"
        )
    model_path = os.path.join(output, "model.keras")
    if os.path.exists(model_path) and not overwrite:
        raise ValueError(
            f"--output {output!r} already holds a model; add --overwrite "
            "to replace it"
        )
    _, x, labels = load_inputs(data, columns, task, image_size)
    model = build(task, x, labels, image_size)
    fit_x, fit_y = fit_arguments(task, x, labels)
    history = model.fit(fit_x, fit_y, epochs=epochs, batch_size=batch_size)
    os.makedirs(output, exist_ok=True)
    model.save(model_path)
    model.save_to_preset(os.path.join(output, "preset"), overwrite=True)
    run = {
        "task": task,
        "columns": {k: v for k, v in columns.items() if v},
        "image_size": image_size,
    }
    _write_json(os.path.join(output, "run.json"), run)
    results = {
        "task": task,
        "rows": len(labels),
        "epochs": len(history.epoch),
        "final": {k: float(v[-1]) for k, v in history.history.items()},
        "history": {
            k: [float(value) for value in v] for k, v in history.history.items()
        },
    }
    _write_json(os.path.join(output, "metrics.json"), results)
    return results


def _write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")


def load_run(output):
    """The trained model in folder `output` and its `run.json`."""
    run_path = os.path.join(output, "run.json")
    if not os.path.isfile(run_path):
        raise ValueError(
            f"{output!r} is not a folder written by `keras-mm train` (no "
            "run.json in it)"
        )
    with open(run_path) as f:
        run = json.load(f)
    model = load_keras_file(os.path.join(output, "model.keras"))
    if not isinstance(model, Task):
        raise ValueError(f"{output!r} holds no keras_mm task model")
    return model, run


def outputs(task, model, x):
    """What the model writes for inputs `x`: one str per row."""
    if task == "speech":
        return model.transcribe(x["audio"])
    if task == "captioner":
        return model.generate(x)
    predicted = model.predict_labels(x, verbose=0)
    return [
        ";".join(map(str, p)) if isinstance(p, list) else str(p)
        for p in predicted
    ]


def predict(output, data, predictions=None):
    """Writes the table `data` with a column of the model's outputs to the
    CSV file `predictions` (default: `output/predictions.csv`); returns its
    path."""
    model, run = load_run(output)
    task = run["task"]
    table, x, _ = load_inputs(
        data, run["columns"], task, run["image_size"], labels=False
    )
    name = OUTPUT_COLUMNS[task]
    while name in table.columns:  # Never over a column of the table.
        name = f"{name}_"
    table[name] = outputs(task, model, x)
    predictions = predictions or os.path.join(output, "predictions.csv")
    table.to_csv(predictions, index=False)
    return predictions


def evaluate(output, data, scores=None):
    """Scores the model in `output` on the labelled table `data`: accuracy
    (and loss) for a classifier, BLEU-4 and CIDEr-D for a captioner, CER and
    WER for speech. Writes them to the JSON file `scores` (default:
    `output/evaluation.json`) and returns them."""
    model, run = load_run(output)
    task = run["task"]
    _, x, labels = load_inputs(data, run["columns"], task, run["image_size"])
    if task == "classifier":
        results = model.evaluate(x, labels, return_dict=True, verbose=0)
        results = {k: float(v) for k, v in results.items()}
    else:
        written = outputs(task, model, x)
        if task == "captioner":
            references = [[label] for label in labels]
            results = {
                "bleu4": metrics.bleu4(written, references),
                "cider_d": metrics.cider_d(written, references),
            }
        else:
            labels = [label.lower() for label in labels]
            results = {
                "cer": metrics.cer(written, labels),
                "wer": metrics.wer(written, labels),
            }
    results = {"task": task, "rows": len(labels), **results}
    _write_json(scores or os.path.join(output, "evaluation.json"), results)
    return results
