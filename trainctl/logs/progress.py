"""`ConsoleProgress`: the training progress display, in place of Keras's ProgbarLogger.

Rich mode draws a live line per epoch, fitted to the terminal's width: `Epoch n/N`, the
bar and step/total always, then as room allows the ETA, the running metrics (names
shortened as Keras 2's bar did: `acc`, `val_acc`), steps/s and the best monitored value so
far. Each epoch leaves one summary line. Plain mode (CI, pipes) writes only lines: one per
epoch, and one at least every `heartbeat_s` seconds inside a long epoch. Both go through
the `Reporter`, so `quiet` silences them.

Example:

    >>> model.fit(x, y, epochs=10, verbose=0, callbacks=[ConsoleProgress(monitor="val_loss")])
"""

from __future__ import annotations

import atexit
import math
import threading
import time
from typing import Any, Mapping, Sequence

from rich.progress import Progress, ProgressColumn
from rich.text import Text

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


# Shortenings applied in order (the longest spellings first); 'val_' and output prefixes stay.
_SHORT = (
    ("sparse_categorical_", ""), ("categorical_", ""), ("binary_", ""),
    ("root_mean_squared_error", "rmse"), ("mean_squared_error", "mse"), ("mean_absolute_error", "mae"),
    ("accuracy", "acc"), ("crossentropy", "ce"), ("learning_rate", "lr"), ("precision", "prec"),
)


def short_names(names: Sequence[str]) -> dict[str, str]:
    """Display names for metrics: `sparse_categorical_accuracy` -> `acc`; a name whose short
    form would collide with another's is kept whole.

    Example:

        >>> short_names(["loss", "sparse_categorical_accuracy", "val_sparse_categorical_accuracy"])
        {'loss': 'loss', 'sparse_categorical_accuracy': 'acc', 'val_sparse_categorical_accuracy': 'val_acc'}
    """
    out = {}
    for name in names:
        short = name
        for long, abbrev in _SHORT:
            short = short.replace(long, abbrev)
        out[name] = short.strip("_") or name
    counts: dict[str, int] = {}
    for short in out.values():
        counts[short] = counts.get(short, 0) + 1
    return {name: short if counts[short] == 1 else name for name, short in out.items()}


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
        heartbeat_s: plain mode only: write a line when this many seconds passed without
            one, so a CI log shows a long epoch is alive (None: never).
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
        heartbeat_s: float | None = 30.0,
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
        self.heartbeat_s = heartbeat_s
        self.reporter = reporter
        self._interval = 1.0 / refresh_per_second
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._task = None
        self._tier = 0  # how much epoch lines are shortened to fit the terminal (see `_summary`)
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
        # One column: `_status` fits the whole line, bar included, to the terminal's width.
        self._progress = Progress(
            _LineColumn(),
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
        self._next_beat = self._epoch_start + self.heartbeat_s if self.heartbeat_s else math.inf
        if self.every_n_steps:
            self._next_line = (self._offset // self.every_n_steps + 1) * self.every_n_steps
        if self._progress is not None:
            self._task = self._progress.add_task(
                self._title(), total=self.steps, completed=self._offset, status=Text(self._title()),
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
                    width = self._report.err.width - 1  # a full last column makes some terminals wrap
                    self._progress.update(self._task, completed=step, status=self._status(now, width))
                    self._progress.refresh()
            elif (self.every_n_steps and self._offset + self._seen >= self._next_line) or now >= self._next_beat:
                step = self._offset + self._seen
                if self.every_n_steps:
                    self._next_line = (step // self.every_n_steps + 1) * self.every_n_steps
                self._next_beat = now + self.heartbeat_s if self.heartbeat_s else math.inf
                self._report.info(f"{self._title()} - {self._status(now)}")

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        improved = self._track_best({"epoch": epoch, **logs})
        if self.steps is None and self._offset == 0:
            self.steps = self._seen  # later epochs of a dataset of unknown length get a total
        head = [self._title(), format_duration(time.monotonic() - self._epoch_start)]
        line = self._summary(head, logs, improved, 0)
        if self._progress is not None:
            self._progress.remove_task(self._task)
            # A narrow terminal: short names, then no separators; once narrower, later epochs stay so.
            while self._tier < 2 and len(line := self._summary(head, logs, improved, self._tier)) > \
                    self._report.err.width:
                self._tier += 1
            line = self._summary(head, logs, improved, self._tier)
        self._report.info(line)

    def _summary(self, head: list[str], logs: Mapping[str, Any], improved: bool, tier: int) -> str:
        """An epoch's line: 0 full names, 1 short names, 2 short names without separators."""
        names = short_names(list(logs)) if tier else {k: k for k in logs}
        sep, colon = (" - ", ":") if tier < 2 else ("  ", "")
        best = self._shown()
        parts = [*head]
        for key, value in logs.items():
            # Short lines mark the monitored value where it stands: `val_loss 0.12 (best)`.
            mark = " (best)" if tier and improved and key == best else ""
            parts.append(f"{names[key]}{colon} {format_value(value)}{mark}")
        if improved and not tier:
            parts[-1] += f" (best {best})"
        if tier < 2:
            return sep.join(parts)
        # Still too wide: break between metrics, never inside one, and indent under the title.
        width, indent = self._report.err.width, " " * (len(head[0]) + len(sep))
        lines = [parts[0]]
        for part in parts[1:]:
            if len(lines[-1]) + len(sep) + len(part) > width:
                lines.append(indent + part)
            else:
                lines[-1] += sep + part
        return "\n".join(lines)

    def on_train_end(self, logs=None):
        self.close()
        name = self._shown()
        if self._report.quiet or name is None:
            return
        _, row = self._bests[name]
        keys = [k for k in row if k not in ("epoch", "wall_time", "epoch_time")]
        title = f"Best epoch by {name} ({monitor_mode(name, self.mode)})"
        values = [row["epoch"] + 1, *(row[k] for k in keys)]
        headers = keys
        if not self._report.plain:
            # Rich tables fold headers that do not fit: shorten them, or else stand the table up.
            def width(names):
                return sum(max(len(n), len(format_value(v))) + 3 for n, v in zip(["epoch", *names], values)) + 1

            short = short_names(keys)
            headers = keys if width(keys) <= self._report.out.width else [short[k] for k in keys]
            if width(headers) > self._report.out.width:
                self._report.table(title, ["", "best"], list(zip(["epoch", *keys], values)))
                return
        self._report.table(title, ["epoch", *headers], [values])

    def close(self) -> None:
        """Stop the live display; safe to call more than once (e.g. in the runner's `finally`)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            atexit.unregister(self.close)

    def _title(self) -> str:
        total = f"/{self.epochs}" if self.epochs else ""
        return f"Epoch {self._epoch + 1}{total}"

    def _status(self, now: float, width: int | None = None) -> str | Text:
        """The progress of the current epoch.

        Plain (`width` None): 'step 12/100 - 35.1 steps/s - ETA 2.5s - loss: 0.6931'.
        Live: 'Epoch 2/10 ━━━━━━━━━━━━━━━━━━━━━ 12/100 ETA 2.5s loss 0.6931 ...', fitted to `width`.
        """
        step = self._offset + self._seen
        elapsed = now - self._epoch_start
        rate = self._seen / elapsed if elapsed > 0 else 0.0
        eta = f"ETA {format_duration(max(self.steps - step, 0) / rate)}" if self.steps and rate > 0 else None
        # format_value calls float(): at most refresh_per_second device syncs, not one per step.
        values = {k: format_value(v) for k, v in self._batch_logs.items()}
        if width is None:
            parts = [f"step {step}/{self.steps}" if self.steps else f"step {step}", _format_rate(rate)]
            return " - ".join([*parts, *([eta] if eta else []), *(f"{k}: {v}" for k, v in values.items())])
        head = self._title()
        count = f"{step}/{self.steps}" if self.steps else f"step {step}"
        short = short_names(list(values))
        # By priority; each is shown only if it fits after those before it.
        optional = [eta, *(f"{short[k]} {v}" for k, v in values.items()), _format_rate(rate), self._best_text()]
        # The bar's width depends on the terminal's alone, so it does not jump as values change.
        bar_width = min(30, width // 4) if self.steps else 0
        room = width - len(head) - len(count) - 2 - (bar_width + 1 if bar_width else 0)
        shown = []
        for item in optional:
            if item and len(item) + 1 <= room:
                shown.append(item)
                room -= len(item) + 1
        line = " ".join([count, *shown])
        if bar_width:
            done = round(bar_width * min(step, self.steps) / self.steps)
            return Text.assemble(f"{head} ", ("━" * done, "bar.complete"), ("━" * (bar_width - done), "bar.back"),
                                 f" {line}")
        return Text(f"{head} {line}")

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
        return f"best {short_names([name])[name]} {format_value(value)} (epoch {row['epoch'] + 1})"


class _LineColumn(ProgressColumn):
    """The whole live line, as `ConsoleProgress._status` fitted it."""

    def render(self, task) -> Text:
        return task.fields["status"]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):  # absent, or a non-scalar metric
        return None
    return None if math.isnan(number) else number
