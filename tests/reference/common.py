"""What the reference builders share: the `Reference` record, MNIST as the guides prepare it, the guides' MNIST models.

Every builder follows one order, which a recipe run must follow too for results to match:
`keras.utils.set_random_seed(seed)`, then the data (drawn from its own seeded generator,
never the global one), then the model, then `compile`.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

REPO = Path(__file__).resolve().parents[2]
MNIST_PATH = REPO / "trainctl" / "data" / "mnist.npz"


@dataclasses.dataclass
class Reference:
    """A compiled model and the calls the guide makes on it.

    `fit`, `evaluate` and `predict` hold keyword arguments (data included). `notes` says
    where the port departs from the guide's text.

    Example:

        >>> ref = build_mnist_mlp(seed=1)
        >>> history = ref.run()
        >>> results = ref.model.evaluate(**ref.evaluate, return_dict=True)
    """

    model: keras.Model
    fit: dict[str, Any]
    evaluate: dict[str, Any] | None = None
    predict: dict[str, Any] | None = None
    notes: str = ""

    def run(self, **overrides):
        """`model.fit(**fit, **overrides)`; returns the `History`."""
        return self.model.fit(**{**self.fit, **overrides})


def seed_everything(seed):
    keras.utils.set_random_seed(seed)


def head(array_tree, samples):
    """The first `samples` rows of every array in a nested structure (all rows when `samples` is None).

    Builders draw the guide's full data and then cut it, as a recipe's `data.limit` does,
    so a shortened reference sees the same rows as a shortened recipe.
    """
    if samples is None:
        return array_tree
    return keras.tree.map_structure(lambda a: a[:samples], array_tree)


@functools.lru_cache(maxsize=1)
def _raw_mnist():
    with np.load(MNIST_PATH) as npz:
        return {key: npz[key] for key in ("x_train", "y_train", "x_test", "y_test")}


def mnist_guide_001(samples=None):
    """Guides 000/001's MNIST: flat float32 images in [0, 1], float32 labels, the last 10,000 training images held out.

    Returns `(x_train, y_train), (x_val, y_val), (x_test, y_test)`, each cut to `samples`
    rows if given. The arrays are shared between calls: do not write into them.
    """
    return head(_mnist_guide_001(), samples)


@functools.lru_cache(maxsize=1)
def _mnist_guide_001():
    raw = _raw_mnist()
    x_train = raw["x_train"].reshape(60000, 784).astype("float32") / 255
    x_test = raw["x_test"].reshape(10000, 784).astype("float32") / 255
    y_train = raw["y_train"].astype("float32")
    y_test = raw["y_test"].astype("float32")
    x_val, y_val = x_train[-10000:], y_train[-10000:]
    x_train, y_train = x_train[:-10000], y_train[:-10000]
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def mnist_guide_004(samples=None):
    """Guide 004's MNIST (from "Deep Learning with Python", ch. 7, which the notes assume):
    flat float32 images in [0, 1], integer labels, the *first* 10,000 training images held out.

    Shared between calls like `mnist_guide_001`'s.
    """
    return head(_mnist_guide_004(), samples)


@functools.lru_cache(maxsize=1)
def _mnist_guide_004():
    raw = _raw_mnist()
    images = raw["x_train"].reshape((60000, 28 * 28)).astype("float32") / 255
    test_images = raw["x_test"].reshape((10000, 28 * 28)).astype("float32") / 255
    labels, test_labels = raw["y_train"], raw["y_test"]
    train_images, val_images = images[10000:], images[:10000]
    train_labels, val_labels = labels[10000:], labels[:10000]
    return (train_images, train_labels), (val_images, val_labels), (test_images, test_labels)


def get_uncompiled_model(output_name="predictions"):
    """Guides 000/001's 784-64-64-10 MLP (guide 000 names the output layer "prediction")."""
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name=output_name)(x)
    return keras.Model(inputs=inputs, outputs=outputs)


def get_compiled_model(output_name="predictions"):
    """Guide 001's compiled MLP, with string identifiers (guide 000 spells RMSprop(1e-3): the same thing)."""
    model = get_uncompiled_model(output_name)
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


def mnist_graph_004():
    """Guide 004's `get_mnist_model()` graph: 784 -> Dense(512, relu) -> Dropout(0.5) -> Dense(10, softmax)."""
    inputs = keras.Input(shape=(28 * 28,))
    features = layers.Dense(512, activation="relu")(inputs)
    features = layers.Dropout(0.5)(features)
    outputs = layers.Dense(10, activation="softmax")(features)
    return inputs, outputs


def get_mnist_model():
    """Guide 004's MNIST model (defined in the book, used but not shown by the notes)."""
    inputs, outputs = mnist_graph_004()
    return keras.Model(inputs, outputs)


def multi_io_model(class_activation=None):
    """Guides 000/001's image + time-series model; guide 000 puts a softmax on `class_output`."""
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(None, 10), name="ts_input")
    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)
    x2 = layers.Conv1D(3, 3)(timeseries_input)
    x2 = layers.GlobalMaxPooling1D()(x2)
    x = layers.concatenate([x1, x2])
    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, activation=class_activation, name="class_output")(x)
    return keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])
