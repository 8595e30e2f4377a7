"""The quickstart demo: a small image+text model trained on generated data.

Each example is an image of a coloured square on a noisy background and a
statement about it ("the square is red"); the label says whether the
statement is true. Neither the image nor the statement alone predicts the
label, so the model must fuse both.
"""

import os
import time

import keras
import numpy as np

from keras_mm import encoders
from keras_mm.builders import build_classifier

COLORS = {"red": (220, 40, 40), "green": (40, 180, 60), "blue": (40, 60, 220)}


def color_statements(num_samples=1000, image_size=32, seed=0):
    """Generated images of coloured squares, statements and true/false labels.

    Returns:
        dict with `"images"` uint8 `(num_samples, image_size, image_size,
        3)`, `"text"` (list of str) and `"labels"` int `(num_samples,)`.
    """
    rng = np.random.default_rng(seed)
    names = list(COLORS)
    images = rng.integers(
        0, 60, (num_samples, image_size, image_size, 3), dtype="uint8"
    )
    colors = rng.integers(0, len(names), num_samples)
    labels = rng.integers(0, 2, num_samples)
    text = []
    for i in range(num_samples):
        side = int(rng.integers(image_size // 4, image_size // 2))
        top, left = rng.integers(0, image_size - side, 2)
        images[i, top : top + side, left : left + side] = COLORS[
            names[colors[i]]
        ]
        said = colors[i] if labels[i] else (colors[i] + rng.integers(1, 3)) % 3
        text.append(f"the square is {names[said]}")
    return {"images": images, "text": text, "labels": labels}


def build_demo_model(vocabulary, image_size=32, hidden_dim=32):
    """Image and text encoders, concatenated, with a sigmoid head."""
    return build_classifier(
        {
            "images": encoders.image(
                "cnn_small", image_shape=(image_size, image_size, 3)
            ),
            "text": encoders.text(
                "transformer_small",
                vocabulary=vocabulary,
                sequence_length=8,
                hidden_dim=hidden_dim,
                num_layers=1,
            ),
        },
        num_classes=1,
        activation="sigmoid",
        hidden_dim=hidden_dim,
        learning_rate=2e-3,
        name="demo_classifier",
    )


def run(num_samples=2000, epochs=8, output_dir="savedmodels/demo", seed=0):
    """Trains the demo model, prints held-out accuracy, saves the model."""
    keras.utils.set_random_seed(seed)
    start = time.time()
    data = color_statements(num_samples, seed=seed)
    test = color_statements(max(num_samples // 4, 8), seed=seed + 1)
    vocabulary = encoders.text_vocabulary(data["text"], vocabulary_size=20)
    model = build_demo_model(vocabulary)
    print(
        f"Backend: {keras.backend.backend()}. Training on {num_samples} "
        "generated image+statement pairs."
    )
    model.fit(
        {"images": data["images"], "text": data["text"]},
        data["labels"],
        batch_size=64,
        epochs=epochs,
    )
    scores = model.evaluate(
        {"images": test["images"], "text": test["text"]},
        test["labels"],
        return_dict=True,
        verbose=0,
    )
    print(
        f"Held-out accuracy: {scores['binary_accuracy']:.3f} "
        f"(chance 0.5), in {time.time() - start:.0f} s."
    )
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "demo_classifier.keras")
    model.save(path)
    print(f"Saved the model to {path}")
    return scores
