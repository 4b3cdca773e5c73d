"""Callbacks act exactly as in hand-written Keras: same stop epoch, same LR changes, same best checkpoint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, run_cli

RECIPE = """
name: callbacks
seed: 3
data:
  train:      {source: mnist, split: train, slice: [0, 1024]}
  validation: {source: mnist, split: train, slice: [-512, null]}
  transforms:
    x: [{reshape: [784]}, {cast: float32}, {divide: 255}]
    y: [{cast: float32}]
model:
  inputs: {digits: {shape: [784]}}
  layers:
    - {name: dense_1, Dense: {units: 32, activation: relu}}
  outputs:
    predictions: {Dense: {units: 10, activation: softmax}}
compile:
  optimizer: {RMSprop: {learning_rate: 3.0e-3}}
  loss: SparseCategoricalCrossentropy
  metrics: [{SparseCategoricalAccuracy: {name: accuracy}}]
train: {epochs: 30, batch_size: 64}
callbacks:
  - {LearningRateScheduler: {schedule: {constant_then_exponential: {epochs: 3, rate: 0.1}}}}
  - {ReduceLROnPlateau: {monitor: val_loss, factor: 0.2, patience: 1, min_delta: 0.02}}
  - {ModelCheckpoint: {filepath: best.weights.h5, save_weights_only: true, monitor: val_accuracy, mode: max,
                       save_best_only: true}}
  - {EarlyStopping: {monitor: val_loss, min_delta: 1.0e-2, patience: 2}}
logs: {tensorboard: false, plot: false}
"""


def _mnist_slices():
    with np.load(REPO / "trainctl" / "data" / "mnist.npz") as f:
        x, y = f["x_train"], f["y_train"]
    x = x.reshape(-1, 784).astype("float32") / 255
    y = y.astype("float32")
    return (x[:1024], y[:1024]), (x[-512:], y[-512:])


def _hand_written(tmp_path: Path):
    import keras

    (x, y), (xv, yv) = _mnist_slices()
    keras.utils.set_random_seed(3)
    inputs = keras.Input(shape=(784,), name="digits")
    h = keras.layers.Dense(32, activation="relu", name="dense_1")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    def scheduler(epoch, lr):  # guide 003, with math.exp for tf.math.exp
        if epoch < 3:
            return lr
        return lr * math.exp(-0.1)

    callbacks = [
        keras.callbacks.LearningRateScheduler(scheduler),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=1, min_delta=0.02),
        keras.callbacks.ModelCheckpoint(str(tmp_path / "hand.weights.h5"), save_weights_only=True,
                                        monitor="val_accuracy", mode="max", save_best_only=True),
        keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2, patience=2),
    ]
    history = model.fit(x, y, batch_size=64, epochs=30, validation_data=(xv, yv), callbacks=callbacks, verbose=0)
    return model, history.history


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("callbacks")
    recipe = tmp / "callbacks.yaml"
    recipe.write_text(RECIPE)
    run_cli("run", recipe, "-o", tmp / "run", check=True)
    model, history = _hand_written(tmp)
    return tmp, model, history


def test_early_stopping_stops_at_the_same_epoch(both):
    tmp, _, history = both
    ours = json.loads((tmp / "run" / "history.json").read_text())
    assert len(history["loss"]) < 30, "the fixture should stop early"
    assert len(ours["loss"]) == len(history["loss"])
    assert ours == history


def test_learning_rate_changes_equal_keras(both):
    tmp, _, history = both
    ours = json.loads((tmp / "run" / "history.json").read_text())
    assert ours["learning_rate"] == history["learning_rate"]
    rates = history["learning_rate"]
    assert rates[0] == rates[2] and rates[3] < rates[2], "the schedule holds, then decays"
    assert any(b < a * 0.5 for a, b in zip(rates, rates[1:])), "ReduceLROnPlateau cut the rate by 0.2"


def test_best_checkpoint_is_the_best_epoch(both):
    import keras

    tmp, model, history = both
    best = tmp / "run" / "best.weights.h5"
    assert best.is_file()
    ours = keras.models.clone_model(model)
    ours.load_weights(best)
    hand = keras.models.clone_model(model)
    hand.load_weights(tmp / "hand.weights.h5")
    for a, b in zip(ours.weights, hand.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    (_, _), (xv, yv) = _mnist_slices()
    hand.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    _, acc = hand.evaluate(xv, yv, verbose=0)
    assert acc == pytest.approx(max(history["val_accuracy"]), abs=1e-6)


def test_loss_nan_fails_with_exit_1(tmp_path):
    recipe = tmp_path / "nan.yaml"
    recipe.write_text(RECIPE.replace("learning_rate: 3.0e-3", "learning_rate: 1.0e+30")
                      .replace("epochs: 30", "epochs: 2").replace("  - {EarlyStopping", "  # - {EarlyStopping"))
    proc = run_cli("run", recipe, "-o", tmp_path / "run")
    assert proc.returncode == 1, proc.stderr
    assert "the loss became nan" in proc.stderr
    assert "Traceback" not in proc.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["exit_code"] == 1
