"""The guides' custom callbacks and learning-rate schedule function.

Example:

    >>> history = LossHistory()
    >>> model.fit(x, y, callbacks=[history, LossPlotHistory("plots")])
    >>> history.per_batch_losses[:2]
    [2.31, 2.05]
"""

from __future__ import annotations

import math
from pathlib import Path

import keras


@keras.saving.register_keras_serializable(package="components")
class LossHistory(keras.callbacks.Callback):
    """Records the training loss after every batch (guides 000, 001 and 004).

    `per_batch_losses` is the running epoch-mean loss Keras logs after each batch, one
    float per batch, for the whole run. Guide 000 calls the list `losses`; both names work.

    Example:

        >>> history = LossHistory()
        >>> model.fit(x, y, callbacks=[history])
        >>> len(history.per_batch_losses) == steps_per_epoch * epochs
        True
    """

    def __init__(self):
        super().__init__()
        self.per_batch_losses = []

    @property
    def losses(self):
        return self.per_batch_losses

    def on_train_begin(self, logs=None):
        self.per_batch_losses = []

    def on_batch_end(self, batch, logs=None):
        self.per_batch_losses.append(float((logs or {}).get("loss")))

    def get_config(self):
        return {}


@keras.saving.register_keras_serializable(package="components")
class LossPlotHistory(keras.callbacks.Callback):
    """Plots the per-batch training loss of each epoch to `directory/plot_at_epoch_<epoch>.png` (guide 004).

    The list of losses restarts at every epoch, as in the guide. Plots are drawn without
    pyplot (no GUI backend, no global figure state) and written atomically.

    Example:

        >>> model.fit(x, y, epochs=2, callbacks=[LossPlotHistory("plots")])
        >>> sorted(p.name for p in Path("plots").iterdir())
        ['plot_at_epoch_0.png', 'plot_at_epoch_1.png']
    """

    def __init__(self, directory=".", run_dir=None):
        super().__init__()
        # trainctl passes `run_dir` to callbacks that accept it: a relative `directory`
        # then lands inside the run directory instead of wherever trainctl was started.
        self.directory = str(Path(run_dir) / directory) if run_dir else str(directory)
        self.per_batch_losses = []

    def on_train_begin(self, logs=None):
        self.per_batch_losses = []

    def on_batch_end(self, batch, logs=None):
        self.per_batch_losses.append(float((logs or {}).get("loss")))

    def on_epoch_end(self, epoch, logs=None):
        from matplotlib.figure import Figure

        from trainctl.atomic import atomic_path

        figure = Figure()
        axes = figure.add_subplot()
        axes.plot(range(len(self.per_batch_losses)), self.per_batch_losses, label="Training loss for each batch")
        axes.set_xlabel(f"Batch (epoch {epoch})")
        axes.set_ylabel("Loss")
        axes.legend()
        with atomic_path(Path(self.directory) / f"plot_at_epoch_{epoch}.png") as tmp:
            figure.savefig(tmp, format="png")
        self.per_batch_losses = []

    def get_config(self):
        return {"directory": self.directory}


@keras.saving.register_keras_serializable(package="components")
def scheduler(epoch, lr):
    """Guide 003's `LearningRateScheduler` schedule: keep `lr` for 10 epochs, then multiply it by exp(-0.1) each epoch.

    Example:

        >>> callback = keras.callbacks.LearningRateScheduler(scheduler)
        >>> scheduler(12, 0.01) == 0.01 * math.exp(-0.1)
        True
    """
    if epoch < 10:
        return lr
    return lr * math.exp(-0.1)
