"""`TensorBoardWriter`: TensorBoard event files without TensorFlow, laid out like Keras's callback.

Under `log_dir` (the run's `events/`):

- `train/`: `epoch_<metric>` and `epoch_learning_rate` per epoch (step = epoch index),
  weight histograms (tag = variable path) every `histogram_freq` epochs, and the model
  summary as text (tag `model_summary`), once, when the run begins (not again on resume).
- `validation/`: `epoch_<metric>` from the `val_*` logs, prefix stripped.
- `train_batch/`: `batch_<metric>` every `update_freq` global steps (step = optimizer
  steps done). Keras puts these in `train/`; they live apart here because TensorBoard
  purges stale events by one step per directory, and epochs and global steps are two
  different axes.

On resume each writer opens with tensorboardX's `purge_step` (the first epoch, or the
first global step, not yet done), so TensorBoard hides what a crashed run wrote past
the checkpoint and shows exactly one value per step.

Example:

    >>> tb = TensorBoardWriter(run_dir / "events", update_freq=50, histogram_freq=1)
    >>> model.fit(x, y, epochs=10, callbacks=[tb])
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from tensorboardX import SummaryWriter

# tensorboardX warns on every inf/NaN scalar; with `train.on_nonfinite: continue` they are
# expected values, written as they are (the console already shows them).
logging.getLogger("tensorboardX.x2num").setLevel(logging.ERROR)

from trainctl.backend import keras
from trainctl.logs.values import learning_rate, to_python


class TensorBoardWriter(keras.callbacks.Callback):
    """Writes TensorBoard scalars, histograms and the model summary (see module doc).

    Args:
        log_dir: directory for the `train/`, `validation/` and `train_batch/` runs.
        update_freq: 'epoch', or N to also write `batch_*` scalars every N global steps.
        histogram_freq: write weight histograms every N epochs (0: never).
        initial_epoch: first epoch this fit runs (`fit`'s `initial_epoch`).
        initial_global_step: optimizer steps done before this fit.

    Example:

        >>> TensorBoardWriter(run_dir / "events", initial_epoch=3, initial_global_step=1407)
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        update_freq: str | int = "epoch",
        histogram_freq: int = 0,
        initial_epoch: int = 0,
        initial_global_step: int = 0,
        start_step: int = 0,
    ) -> None:
        super().__init__()
        self._start_step = start_step
        if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq > 0):
            raise ValueError(f"update_freq must be 'epoch' or a positive int, got {update_freq!r}.")
        self.log_dir = Path(log_dir)
        self.update_freq = update_freq
        self.histogram_freq = histogram_freq
        self.global_step = initial_global_step
        self._next_epoch = initial_epoch
        self._writers: dict[str, SummaryWriter] = {}

    def _writer(self, name: str) -> SummaryWriter:
        # Opened on first use so a run without validation data gets no empty
        # `validation/` run in TensorBoard.
        if name not in self._writers:
            purge = self._purge_step if name == "train_batch" else self._purge_epoch
            self._writers[name] = SummaryWriter(
                str(self.log_dir / name),
                purge_step=purge,
                # Event files are read in name order and tensorboardX names them by the
                # second; a resume in the same second must sort after, not overwrite.
                filename_suffix=f".{time.time_ns()}",
            )
        return self._writers[name]

    def on_train_begin(self, logs=None):
        # Everything at or after these points was written by a run that did not reach
        # its next checkpoint; a writer opened later in this fit still purges from here.
        self._purge_epoch = self._next_epoch
        self._purge_step = self.global_step + 1
        if self._next_epoch and self.global_step:
            # Resumed after its first epoch: the summary written when the run began (at an
            # earlier step, so not purged) is still there, and the model has not changed.
            return
        lines: list[str] = []
        try:
            self.model.summary(print_fn=lambda text, **_: lines.append(text))
        except ValueError:  # a subclassed model Keras cannot summarize yet
            return
        # Indented: TensorBoard renders text as Markdown, and the table needs monospace.
        text = "\n".join("    " + line for line in "\n".join(lines).splitlines())
        self._writer("train").add_text("model_summary", text, self._purge_epoch)

    def on_epoch_begin(self, epoch, logs=None):
        # A run resumed mid-epoch starts its first epoch at `start_step`, not 0.
        self._epoch_base_step = self.global_step - self._start_step
        self._start_step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.global_step = self._epoch_base_step + batch + 1
        if self.update_freq != "epoch" and self.global_step % self.update_freq == 0:
            writer = self._writer("train_batch")
            for name, value in _scalars(logs).items():
                writer.add_scalar(f"batch_{name}", value, self.global_step)

    def on_epoch_end(self, epoch, logs=None):
        self._next_epoch = epoch + 1
        scalars = _scalars(logs)
        train = {k: v for k, v in scalars.items() if not k.startswith("val_")}
        lr = learning_rate(self.model)
        if lr is not None:
            train["learning_rate"] = lr
        for name, value in train.items():
            self._writer("train").add_scalar(f"epoch_{name}", value, epoch)
        for name, value in scalars.items():
            if name.startswith("val_"):
                self._writer("validation").add_scalar(f"epoch_{name[4:]}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            writer = self._writer("train")
            for variable in self.model.weights:
                writer.add_histogram(variable.path, np.asarray(variable), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        self.close()

    def close(self) -> None:
        """Flush and close the event files; safe to call more than once."""
        for writer in self._writers.values():
            writer.close()
        self._writers.clear()


def _scalars(logs: Any) -> dict[str, float]:
    # Non-scalar metrics (per-class values) have no scalar chart; Keras skips them too.
    return {k: v for k, v in to_python(logs).items() if isinstance(v, float)}
