"""Keras's `ModelCheckpoint`, writing each file atomically.

Keras writes the `.keras`/`.weights.h5` file in place, so a crash during the write
leaves a torn file where the best model used to be. This subclass changes only that:
the file is written beside its destination, fsynced and renamed over it.

Example (what a recipe's `{ModelCheckpoint: {...}}` becomes):

    >>> AtomicModelCheckpoint(filepath="runs/x/best.keras", monitor="val_loss", save_best_only=True)
"""

from __future__ import annotations

from trainctl.atomic import atomic_path
from trainctl.backend import keras


class _AtomicSaves:
    """The model, except that `save`/`save_weights` go through `atomic_path`."""

    def __init__(self, model):
        self._model = model

    def save(self, filepath, *args, **kwargs):
        with atomic_path(filepath) as tmp:
            self._model.save(tmp, *args, **kwargs)

    def save_weights(self, filepath, *args, **kwargs):
        with atomic_path(filepath) as tmp:
            self._model.save_weights(tmp, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


class AtomicModelCheckpoint(keras.callbacks.ModelCheckpoint):
    """`keras.callbacks.ModelCheckpoint` with crash-safe writes; same arguments and behaviour."""

    def _save_model(self, epoch, batch, logs):
        model = self._model
        self._model = _AtomicSaves(model)
        try:
            super()._save_model(epoch, batch, logs)
        finally:
            self._model = model
