"""A tiny model and data for the logs tests: a real Keras fit in well under a second."""

from __future__ import annotations

import numpy as np


def tiny_model(lr: float = 0.1):
    """A 2-layer binary classifier on 4 features, seeded."""
    from trainctl.backend import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(lr), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


def tiny_data(samples: int = 16):
    """`samples` rows; with batch_size=4 an epoch is samples/4 steps."""
    x = np.random.RandomState(0).rand(samples, 4).astype("float32")
    y = (x.sum(axis=1) > 2).astype("float32")
    return x, y
