"""The baseline: the MNIST MLP of recipes/mnist_mlp.yaml written by hand, as Keras's guide does it.

Same seed, data (trainctl's bundled MNIST), model, compile and `fit` arguments as the
recipe, everything else at Keras's defaults (`steps_per_execution=1`, `verbose="auto"`),
so its weights and history are the ones `trainctl run recipes/mnist_mlp.yaml` must give.

    $ python bench/handwritten.py                 # 2 epochs with validation, like the recipe
    $ python bench/handwritten.py --samples 1024  # the first 1,024 training samples only
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import importlib.resources  # noqa: E402

import numpy as np  # noqa: E402


def load_mnist(validation: bool = True, samples: int | None = None):
    """`(x_train, y_train), (x_val, y_val)` as the guide prepares them (the last 10,000 for validation).

    `samples` keeps only the first training samples (the recipe's `data.train.slice: [0, samples]`).
    """
    with importlib.resources.as_file(importlib.resources.files("trainctl.data") / "mnist.npz") as path:
        with np.load(path) as f:
            x, y = f["x_train"], f["y_train"]
    x = x.reshape(60000, 784).astype("float32") / 255
    y = y.astype("float32")
    train = (x[:-10000][:samples], y[:-10000][:samples])
    return train, ((x[-10000:], y[-10000:]) if validation else None)


def build_model(seed: int = 1, steps_per_execution: int = 1):
    """The guide's 784-64-64-10 MLP, compiled like the recipe."""
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        steps_per_execution=steps_per_execution,
    )
    return model


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--samples", type=int, default=None)
    args = parser.parse_args()
    (x_train, y_train), val = load_mnist(samples=args.samples)
    model = build_model()
    model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, validation_data=val)


if __name__ == "__main__":
    main()
