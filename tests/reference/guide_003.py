"""Guide 003 (a Korean blog post on four Keras callbacks), ported to Keras 3 on JAX.

The post's model is `Sequential([Dense(10)])` trained with SGD on `x = arange(100)
.reshape(5, 20)`, `y = zeros(5)`. Its ReduceLROnPlateau and ModelCheckpoint snippets
name no data (and no validation data, though they monitor `val_*`): they reuse that
model and data with `validation_split=0.2`.
"""

from __future__ import annotations

from pathlib import Path

import keras

from components.callbacks import scheduler
from components.datasets import arange_data, noisy_regression

from .common import Reference, head, seed_everything


def _dense10(optimizer="sgd", **compile_kwargs):
    model = keras.models.Sequential([keras.layers.Dense(10)])
    model.compile(optimizer, **compile_kwargs)
    return model


def build_lr_scheduler(seed=0, *, workdir=".", samples=None):
    """#41 `LearningRateScheduler(scheduler)`: constant for 10 epochs, then decays."""
    seed_everything(seed)
    data = head(arange_data(), samples)
    model = _dense10(keras.optimizers.SGD(), loss="mse")
    callback = keras.callbacks.LearningRateScheduler(scheduler)
    return Reference(model, fit=dict(x=data["x"], y=data["y"], epochs=15, callbacks=[callback], verbose=0),
                     notes="tf.math.exp(-0.1) -> math.exp(-0.1).")


def build_reduce_lr_on_plateau(seed=0, *, workdir=".", samples=None):
    """#42 `ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=0.001)`."""
    seed_everything(seed)
    data = head(noisy_regression(), samples)
    model = _dense10(keras.optimizers.SGD(), loss="mse")
    reduce_lr = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2, patience=5, min_lr=0.001)
    return Reference(model, fit=dict(x=data["x"], y=data["y"], epochs=100, callbacks=[reduce_lr],
                                     validation_split=0.2, verbose=0),
                     notes="X_train/Y_train undefined in the post: 1,000 noisy samples of a linear target, "
                           "validation_split=0.2 so val_loss exists, 100 epochs so the rate is cut (epochs 94, 99).")


def build_checkpoint_best_weights(seed=0, *, workdir=".", samples=None):
    """#43 `ModelCheckpoint(save_weights_only=True, monitor="val_accuracy", mode="max", save_best_only=True)`, 10 epochs."""
    seed_everything(seed)
    data = head(arange_data(), samples)
    model = _dense10("Adam", loss="mse", metrics=["accuracy"])
    callback = keras.callbacks.ModelCheckpoint(
        filepath=str(Path(workdir) / "checkpoint.weights.h5"),
        save_weights_only=True,
        monitor="val_accuracy",
        mode="max",
        save_best_only=True,
    )
    return Reference(model, fit=dict(x=data["x"], y=data["y"], epochs=10, callbacks=[callback],
                                     validation_data=(data["x"], data["y"]), verbose=0),
                     notes="fit() has no data in the post: its toy data, validated on the data it trains on; "
                           "'/tmp/checkpoint' -> '<workdir>/checkpoint.weights.h5' (Keras 3 wants that suffix).")


def build_early_stopping_loss(seed=0, *, workdir=".", samples=None):
    """#44 `EarlyStopping(monitor="loss", patience=3)`, batch size 1, 10 epochs."""
    seed_everything(seed)
    data = head(arange_data(), samples)
    model = _dense10(keras.optimizers.SGD(), loss="mse")
    callback = keras.callbacks.EarlyStopping(monitor="loss", patience=3)
    return Reference(model, fit=dict(x=data["x"], y=data["y"], epochs=10, batch_size=1, callbacks=[callback], verbose=0))
