"""Tiny models, data and a resumable fit for the checkpoint tests.

Also a script, so a test can write a checkpoint in another process:

    python tests/checkpoint/ckpt_tiny.py RUN_DIR EPOCHS
"""

from __future__ import annotations

import sys

import numpy as np

from trainctl.backend import keras
from trainctl.checkpoint import CheckpointStore, capture, restore

SEED = 7
BATCH = 16


def data():
    rng = np.random.default_rng(0)
    x = rng.random((96, 8)).astype("float32")
    y = rng.integers(0, 3, 96)
    return x, y


def build_model(width: int = 16, schedule: bool = True):
    """A functional model with Dropout (a seed state), an optimizer and a metric."""
    inputs = keras.Input((8,))
    x = keras.layers.Dense(width, activation="relu")(inputs)
    x = keras.layers.Dropout(0.3)(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    lr = 0.01
    if schedule:
        lr = keras.optimizers.schedules.ExponentialDecay(lr, decay_steps=5, decay_rate=0.9)
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class LossHistory(keras.callbacks.Callback):
    """A user callback: a data attribute to keep and an object attribute to skip."""

    def __init__(self):
        super().__init__()
        self.losses = []
        self.formatter = str.upper

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


def make_callbacks():
    return [
        keras.callbacks.EarlyStopping(monitor="loss", patience=5, min_delta=1e-3, restore_best_weights=True),
        LossHistory(),
    ]


class RestoreAtTrainBegin(keras.callbacks.Callback):
    """Restores after the other callbacks' `on_train_begin` (which resets them), as a loop would."""

    def __init__(self, state, callbacks):
        super().__init__()
        self.state, self.callbacks = state, callbacks

    def on_train_begin(self, logs=None):
        restore(self.state, self.model, self.callbacks)


def fit(model, callbacks, initial_epoch: int, epochs: int):
    x, y = data()
    model.fit(
        x, y, batch_size=BATCH, epochs=epochs, initial_epoch=initial_epoch, verbose=0, callbacks=callbacks
    )


def training_arrays(model) -> dict[str, np.ndarray]:
    """Every array exact resume must reproduce, by a position-based name."""
    groups = {
        "weights": model.weights,
        "optimizer": model.optimizer.variables,
        "metrics": model.metrics_variables,
    }
    return {f"{g}/{i}": np.array(v.numpy()) for g, vs in groups.items() for i, v in enumerate(vs)}


def max_abs_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k].astype("float64") - b[k].astype("float64")))) for k in a)


def train_and_checkpoint(run_dir: str, epochs: int) -> None:
    keras.utils.set_random_seed(SEED)
    model, callbacks = build_model(), make_callbacks()
    fit(model, callbacks, 0, epochs)
    steps = epochs * (len(data()[0]) // BATCH)
    position = {"epoch": epochs, "global_step": steps, "epoch_rng": np.random.get_state()}
    state = capture(model, callbacks, position=position)
    CheckpointStore(f"{run_dir}/ckpt").save(state, steps, {"epoch": epochs})


if __name__ == "__main__":
    train_and_checkpoint(sys.argv[1], int(sys.argv[2]))
