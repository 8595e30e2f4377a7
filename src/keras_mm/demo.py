"""The quickstart demo: an image captioner trained on the built-in scenes.

`keras-mm demo` generates the scenes dataset, trains a small captioner with
a progress bar, prints BLEU-4 and CIDEr-D on held-out scenes (whose
colour-shape pairs training never showed) next to a nearest-neighbour
retrieval baseline, shows a few captions, writes plots as PNG and saves the
model.
"""

import json
import os
import time

import keras
import numpy as np

from keras_mm import encoders
from keras_mm import metrics
from keras_mm import visualize
from keras_mm.builders import build_captioner
from keras_mm.callbacks import CaptionMetrics
from keras_mm.datasets.scenes import scenes


def nearest_neighbour_captions(train_images, train_captions, images, size=16):
    """The retrieval baseline: each image gets the caption of the training
    image closest to it in pixels.

    Images are mean-pooled to about `size x size` (which averages out
    background texture) and compared by Euclidean distance.

    Args:
        train_images: array `(n, height, width, channels)`.
        train_captions: list of `n` str.
        images: array `(m, height, width, channels)`, the same size.
        size: int. Side of the pooled images. Defaults to `16`.

    Returns:
        A list of `m` str.

    Examples:
    >>> train = np.stack([np.zeros((8, 8, 3)), np.full((8, 8, 3), 255)])
    >>> keras_mm.demo.nearest_neighbour_captions(
    ...     train, ["dark", "light"], np.full((1, 8, 8, 3), 200), size=4)
    ['light']
    """

    def pooled(x):
        x = np.asarray(x, "float32")
        n, height, width, channels = x.shape
        step = max(1, height // size)
        x = x[:, : height - height % step, : width - width % step]
        x = x.reshape(n, height // step, step, width // step, step, channels)
        return x.mean(axis=(2, 4)).reshape(n, -1)

    train = pooled(train_images)
    train_norms = (train**2).sum(axis=1)
    neighbours = []
    for start in range(0, len(images), 256):
        query = pooled(images[start : start + 256])
        distances = train_norms[None] - 2 * query @ train.T
        neighbours.extend(np.argmin(distances, axis=1).tolist())
    return [train_captions[i] for i in neighbours]


def scores_of(predictions, references):
    return {
        "bleu4": metrics.bleu4(predictions, references),
        "cider_d": metrics.cider_d(predictions, references),
    }


def train_captioner(
    data, epochs, hidden_dim=128, learning_rate=2e-3, batch_size=64, verbose=1
):
    """Builds a captioner for `data` (a `scenes` dict) and trains it, with
    a cosine learning-rate decay and validation BLEU-4 / CIDEr-D after each
    epoch. Returns `(captioner, history)`."""
    train, validation = data["train"], data["validation"]
    image_size = train["images"].shape[1]
    vocabulary = encoders.text_vocabulary(
        train["captions"], vocabulary_size=200
    )
    steps = epochs * -(-len(train["captions"]) // batch_size)
    captioner = build_captioner(
        encoders.image("cnn_small", image_shape=(image_size, image_size, 3)),
        vocabulary=vocabulary,
        sequence_length=20,
        hidden_dim=hidden_dim,
        learning_rate=keras.optimizers.schedules.CosineDecay(
            learning_rate, steps
        ),
    )
    history = captioner.fit(
        {"images": train["images"], "text": train["captions"]},
        validation_data={
            "images": validation["images"],
            "text": validation["captions"],
        },
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[
            CaptionMetrics(
                validation["images"][:200], validation["references"][:200]
            )
        ],
        verbose=verbose,
    )
    return captioner, history


def check_arguments(num_samples, image_size):
    """Raises a `ValueError` for sizes the demo cannot use, before any
    work starts."""
    if num_samples < 60:
        raise ValueError(
            "The demo needs at least 60 scenes (70% train, 10% validation, "
            f"20% test). Received: num_samples={num_samples}"
        )
    if image_size < 32:
        raise ValueError(
            "The demo's images must be at least 32 pixels wide. Received: "
            f"image_size={image_size}"
        )


def run(
    num_samples=8000,
    epochs=8,
    image_size=64,
    output_dir="savedmodels/captioner",
    seed=0,
    verbose=1,
):
    """Trains the demo captioner, prints held-out scores and examples,
    writes plots and saves the model. Returns the scores as a dict."""
    check_arguments(num_samples, image_size)
    keras.utils.set_random_seed(seed)
    start = time.time()
    data = scenes(num_samples=num_samples, image_size=image_size, seed=seed)
    train, test = data["train"], data["test"]
    print(
        f"Backend: {keras.backend.backend()}. Captioning {len(train['images'])}"
        f" generated scenes of {image_size} x {image_size} pixels; "
        f"{len(test['images'])} held-out scenes, each with a colour-shape "
        "pair that training never shows, for testing."
    )
    captioner, history = train_captioner(data, epochs, verbose=verbose)
    references = test["references"]
    greedy = captioner.generate(test["images"])
    beam = captioner.generate(test["images"], sampler="beam", num_beams=3)
    baseline = nearest_neighbour_captions(
        train["images"], train["captions"], test["images"]
    )
    scores = {
        "greedy": scores_of(greedy, references),
        "beam_3": scores_of(beam, references),
        "nearest_neighbour": scores_of(baseline, references),
    }
    print("\nHeld-out scores (BLEU-4 in 0-100):")
    for name, values in scores.items():
        print(
            f"  {name:<18} BLEU-4 {values['bleu4']:5.1f}   "
            f"CIDEr-D {values['cider_d']:.3f}"
        )
    print("\nExamples (generated | reference):")
    for caption, refs in list(zip(greedy, references))[:4]:
        print(f"  {caption}\n  | {refs[0]}")

    os.makedirs(output_dir, exist_ok=True)
    figures = {
        "training_curves.png": lambda path: visualize.training_curves(
            history, path=path
        ),
        "examples.png": lambda path: visualize.captioned_images(
            test["images"][:8], greedy[:8], references[:8], path=path
        ),
        "attention.png": lambda path: visualize.caption_attention(
            captioner, test["images"], index=0, path=path
        ),
    }
    for name, draw in figures.items():
        draw(os.path.join(output_dir, name))
    model_path = os.path.join(output_dir, "captioner.keras")
    captioner.save(model_path)
    scores["seconds"] = round(time.time() - start, 1)
    with open(os.path.join(output_dir, "scores.json"), "w") as f:
        json.dump(scores, f, indent=2)
    print(
        f"\nSaved the model to {model_path} and plots "
        f"({', '.join(figures)}) to {output_dir}/, in "
        f"{scores['seconds']:.0f} s."
    )
    return scores
