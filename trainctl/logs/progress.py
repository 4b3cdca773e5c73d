"""`ConsoleProgress`: the training progress display, in place of Keras's ProgbarLogger.

Rich mode draws a live bar per epoch (step/total, steps/s, ETA, running metrics, best
monitored value so far) and leaves one summary line per epoch; plain mode writes only
the lines. Both go through the `Reporter`, so `quiet` silences them.

Example:

    >>> model.fit(x, y, epochs=10, verbose=0, callbacks=[ConsoleProgress(monitor="val_loss")])
"""

from __future__ import annotations

import atexit
import math
import threading
import time
from typing import Any, Mapping, Sequence

from rich.progress import BarColumn, Progress, TextColumn

from trainctl.backend import keras
from trainctl.logs.console import Reporter, format_value, get_reporter

# Substrings of metric names where larger is better, as Keras's monitor callbacks guess.
_MAX_HINTS = ("acc", "auc", "precision", "recall", "f1", "fmeasure", "iou", "top_k")


def monitor_mode(monitor: str, mode: str = "auto") -> str:
    """'min' or 'max' for `monitor`; 'auto' guesses from the name like Keras does.

    Example:

        >>> monitor_mode("val_accuracy"), monitor_mode("val_loss")
        ('max', 'min')
    """
    if mode in ("min", "max"):
        return mode
    if mode != "auto":
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    name = monitor.removeprefix("val_")
    if "loss" not in name and any(hint in name for hint in _MAX_HINTS):
        return "max"
    return "min"


def format_duration(seconds: float) -> str:
    """Short human duration: '0.8s', '12s', '2:03', '1:02:03'.

    Example:

        >>> format_duration(123.4)
        '2:03'
    """
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _format_rate(rate: float) -> str:
    return f"{rate:.0f} steps/s" if rate >= 100 else f"{rate:.3g} steps/s"


class ConsoleProgress(keras.callbacks.Callback):
    """Shows training progress through the `Reporter`; use with `fit(verbose=0)`.

    Args:
        monitor: epoch-level metric whose best value is shown and whose best epoch is
            tabulated at the end. `val_x` stands in for `x` until some epoch has `val_x`
            (no validation data, or `validation_freq` > 1).
        mode: 'auto', 'min' or 'max' for `monitor` (see `monitor_mode`).
        epochs: total epochs; default `fit`'s `epochs`.
        steps: steps in a full epoch; default `fit`'s step count (pass it when the
            fit call runs a partial epoch).
        start_step: steps of the first epoch already done before this fit call
            (resuming mid-epoch); the first epoch shown starts there.
        history_rows: epoch rows done before this fit call (each with `epoch` and the
            logs), so the best value covers the whole run.
        every_n_steps: plain mode only: also write a line every N steps.
        refresh_per_second: at most this many bar redraws (and device syncs) a second.
        reporter: default `get_reporter()` at train begin.

    The callback is `async_safe`: unless another callback needs per-step logs, Keras
    calls `on_train_batch_end` from worker threads and training does not wait for
    each step to finish. Batches may then arrive out of order, so the `every_n_steps`
    lines show the latest step reached and may skip one.

    Example:

        >>> progress = ConsoleProgress(monitor="val_accuracy", steps=469, start_step=100)
        >>> model.fit(ds, epochs=10, initial_epoch=3, verbose=0, callbacks=[progress])
    """

    async_safe = True

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        *,
        epochs: int | None = None,
        steps: int | None = None,
        start_step: int = 0,
        history_rows: Sequence[Mapping[str, Any]] = (),
        every_n_steps: int | None = None,
        refresh_per_second: float = 10.0,
        reporter: Reporter | None = None,
    ) -> None:
        super().__init__()
        self.monitor = monitor
        self.mode = mode
        monitor_mode(monitor, mode)  # fail at construction on a bad mode
        self.epochs = self._epochs_arg = epochs
        self.steps = self._steps_arg = steps
        self.start_step = start_step
        self.every_n_steps = every_n_steps
        self.reporter = reporter
        self._interval = 1.0 / refresh_per_second
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task = None
        # The monitor, and its training twin for runs without validation data.
        self._candidates = tuple(dict.fromkeys([monitor, monitor.removeprefix("val_")]))
        self._bests: dict[str, tuple[float, dict[str, Any]]] = {}
        for row in history_rows:
            self._track_best(row)

    # Keras passes {"epochs", "steps", "verbose"}; explicit constructor values win.
    def set_params(self, params: dict[str, Any]) -> None:
        super().set_params(params)
        self.epochs = self._epochs_arg or params.get("epochs")
        self.steps = self._steps_arg or params.get("steps")

    def on_train_begin(self, logs=None):
        self._report = self.reporter or get_reporter()
        if self._report.quiet or self._report.plain:
            return
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=30),
            TextColumn("{task.fields[status]}"),
            TextColumn("[dim]{task.fields[best]}"),
            console=self._report.err,
            auto_refresh=False,  # redrawn from the batch hook, at most refresh_per_second
            transient=True,
            redirect_stdout=False,  # stdout carries data (tables, JSON), never the bar
        )
        self._progress.start()
        # Keras skips on_train_end when training raises; restore the terminal anyway.
        atexit.register(self.close)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        # Only the first epoch of a resumed fit starts part-way.
        self._offset, self.start_step = self.start_step, 0
        self._seen = 0  # steps this fit call ran in this epoch
        self._batch_logs: Mapping[str, Any] = {}
        self._epoch_start = time.monotonic()
        self._next_draw = 0.0
        if self.every_n_steps:
            self._next_line = (self._offset // self.every_n_steps + 1) * self.every_n_steps
        if self._progress is not None:
            self._task = self._progress.add_task(
                self._title(), total=self.steps, completed=self._offset,
                status="", best=self._best_text(),
            )

    def on_train_batch_end(self, batch, logs=None):
        if self._report.quiet:
            return
        with self._lock:
            # Async dispatch may deliver batches out of order; keep the latest.
            if batch + 1 > self._seen:
                self._seen, self._batch_logs = batch + 1, logs or {}
            now = time.monotonic()
            if self._progress is not None:
                if now >= self._next_draw:
                    self._next_draw = now + self._interval
                    step = self._offset + self._seen
                    self._progress.update(self._task, completed=step, status=self._status(now))
                    self._progress.refresh()
            elif self.every_n_steps and self._offset + self._seen >= self._next_line:
                step = self._offset + self._seen
                self._next_line = (step // self.every_n_steps + 1) * self.every_n_steps
                self._report.info(f"{self._title()} - {self._status(now)}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        improved = self._track_best({"epoch": epoch, **logs})
        if self.steps is None and self._offset == 0:
            self.steps = self._seen  # later epochs of a dataset of unknown length get a total
        parts = [self._title(), format_duration(time.monotonic() - self._epoch_start)]
        parts += [f"{k}: {format_value(v)}" for k, v in logs.items()]
        line = " - ".join(parts) + (f" (best {self._shown()})" if improved else "")
        if self._progress is not None:
            self._progress.remove_task(self._task)
        self._report.info(line)

    def on_train_end(self, logs=None):
        self.close()
        name = self._shown()
        if self._report.quiet or name is None:
            return
        _, row = self._bests[name]
        keys = [k for k in row if k not in ("epoch", "wall_time", "epoch_time")]
        self._report.table(
            f"Best epoch by {name} ({monitor_mode(name, self.mode)})",
            ["epoch", *keys],
            [[row["epoch"] + 1, *(row[k] for k in keys)]],
        )

    def close(self) -> None:
        """Stop the live display; safe to call more than once (e.g. in the runner's `finally`)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            atexit.unregister(self.close)

    def _title(self) -> str:
        total = f"/{self.epochs}" if self.epochs else ""
        return f"Epoch {self._epoch + 1}{total}"

    def _status(self, now: float) -> str:
        """'step 12/100 - 35.1 steps/s - ETA 2.5s - loss: 0.6931' for the current epoch."""
        step = self._offset + self._seen
        elapsed = now - self._epoch_start
        rate = self._seen / elapsed if elapsed > 0 else 0.0
        parts = [f"step {step}/{self.steps}" if self.steps else f"step {step}", _format_rate(rate)]
        if self.steps and rate > 0:
            parts.append(f"ETA {format_duration(max(self.steps - step, 0) / rate)}")
        # format_value calls float(): at most refresh_per_second device syncs, not one per step.
        parts += [f"{k}: {format_value(v)}" for k, v in self._batch_logs.items()]
        return " - ".join(parts)

    def _track_best(self, row: Mapping[str, Any]) -> bool:
        """Fold one epoch row into the bests so far; True when the shown metric beats its best."""
        improved = False
        for name in self._candidates:
            value = _number(row.get(name))
            if value is None:
                continue
            best = self._bests.get(name)
            sign = 1.0 if monitor_mode(name, self.mode) == "min" else -1.0
            if best is None or sign * value < sign * best[0]:
                self._bests[name] = (value, dict(row))
                improved = improved or (best is not None and name == self._shown())
        return improved

    def _shown(self) -> str | None:
        """The monitored metric, or its training twin while no epoch has had validation."""
        return next((name for name in self._candidates if name in self._bests), None)

    def _best_text(self) -> str:
        name = self._shown()
        if name is None:
            return ""
        value, row = self._bests[name]
        return f"best {name} {format_value(value)} (epoch {row['epoch'] + 1})"


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):  # absent, or a non-scalar metric
        return None
    return None if math.isnan(number) else number
