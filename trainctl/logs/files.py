"""`MetricsFiles`: the run directory's metric logs, kept whole across crashes and resumes.

At every epoch end it rewrites, atomically:

- `metrics.csv`: one row per epoch; columns `epoch`, the sorted log keys (as Keras's
  CSVLogger), `epoch_time` (seconds), `wall_time` (Unix time at epoch end), `lr`.
- `metrics.jsonl`: the same rows as JSON objects, one a line.
- `history.json`: Keras History format, `{key: [value per epoch]}` (without `lr`), null
  where an epoch lacks a key so every list lines up with the epochs.

With `per_batch`, `metrics.jsonl` also gets `{"batch": global_step, ...logs}` rows and
is appended to (and fsynced) instead of rewritten. The writes during training happen in
order on a background thread (each epoch's three fsynced rewrites took 5 ms that
training waited for); `on_train_end` and `close` wait for them, and a failed write is
raised at the next one. On resume the callback is given the
epoch rows from the checkpoint and the global step, and it first cuts the files back to
exactly that point, so rows written after the checkpoint are neither kept nor repeated.

Example:

    >>> files = MetricsFiles(run_dir, per_batch=10, history_rows=ckpt_rows, global_step=1200)
    >>> model.fit(x, y, epochs=10, initial_epoch=len(ckpt_rows), callbacks=[files])
    >>> files.rows[-1]["val_loss"]
"""

from __future__ import annotations

import concurrent.futures
import csv
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from trainctl.atomic import BackgroundWrites, write_text
from trainctl.backend import keras
from trainctl.logs.rows import csv_columns, history_dict, read_jsonl
from trainctl.logs.values import learning_rate, to_python


class MetricsFiles(keras.callbacks.Callback):
    """Writes metrics.csv, metrics.jsonl and history.json into `run_dir` (see module doc).

    Args:
        run_dir: the run directory (created if missing).
        per_batch: `False`, or `True`/N to add a row to metrics.jsonl every N global steps.
        history_rows: epoch rows already done (from the checkpoint), each with `epoch`.
        global_step: optimizer steps already done; the first step of this fit is
            `global_step + 1`.

    Attributes:
        rows: all epoch rows so far, `history_rows` included (save them in checkpoints).
        global_step: optimizer steps done so far.

    Example:

        >>> model.fit(x, y, epochs=3, callbacks=[MetricsFiles(run_dir)])
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        *,
        per_batch: bool | int = False,
        history_rows: Sequence[Mapping[str, Any]] = (),
        global_step: int = 0,
        start_step: int = 0,
    ) -> None:
        super().__init__()
        self._start_step = start_step
        if not isinstance(per_batch, int) or (not isinstance(per_batch, bool) and per_batch < 1):
            raise ValueError(
                f"per_batch must be False, True or a positive number of steps, got {per_batch!r}."
            )
        self.run_dir = Path(run_dir)
        self.batch_freq = int(per_batch)
        self.rows: list[dict[str, Any]] = [dict(r) for r in history_rows]
        self.global_step = global_step
        self._writes = BackgroundWrites("metrics-files")

    @property
    def csv_path(self) -> Path:
        return self.run_dir / "metrics.csv"

    @property
    def jsonl_path(self) -> Path:
        return self.run_dir / "metrics.jsonl"

    @property
    def history_path(self) -> Path:
        return self.run_dir / "history.json"

    def on_train_begin(self, logs=None):
        self.run_dir.mkdir(parents=True, exist_ok=True)
        write_text(self.jsonl_path, "".join(_json_line(r) for r in self._resume_jsonl_rows()))
        self._write_epoch_files(self.rows)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.monotonic()
        # A run resumed mid-epoch starts its first epoch at `start_step`, not 0.
        self._epoch_base_step = self.global_step - self._start_step
        self._start_step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.global_step = self._epoch_base_step + batch + 1
        if self.batch_freq and self.global_step % self.batch_freq == 0:
            self._append({"batch": self.global_step, **to_python(logs)})

    def on_epoch_end(self, epoch, logs=None):
        row: dict[str, Any] = {"epoch": epoch, **to_python(logs)}
        row["epoch_time"] = time.monotonic() - self._epoch_start
        row["wall_time"] = time.time()
        lr = learning_rate(self.model)
        if lr is not None:
            row["lr"] = lr
        self.rows.append(row)
        if self.batch_freq:
            self._append(row)
        else:
            self._writes.submit(write_text, self.jsonl_path, "".join(_json_line(r) for r in self.rows))
        self._writes.submit(self._write_epoch_files, list(self.rows))

    def on_train_end(self, logs=None):
        self.flush()

    @property
    def pending(self) -> concurrent.futures.Future | None:
        """The last write submitted and not yet waited for, for a writer that must come after it."""
        return self._writes.pending

    def flush(self) -> None:
        """Wait for the files being written; a failed write raises here."""
        self._writes.flush()

    def close(self) -> None:
        self._writes.close()

    def _resume_jsonl_rows(self) -> list[dict[str, Any]]:
        """metrics.jsonl as it stood at the resume point, epoch rows from `history_rows`."""
        if not self.batch_freq or not self.jsonl_path.exists():
            return list(self.rows)
        by_epoch = {r["epoch"]: r for r in self.rows}
        kept = []
        for row in read_jsonl(self.jsonl_path):
            if "batch" in row and row["batch"] <= self.global_step:
                kept.append(row)
            elif "epoch" in row and row["epoch"] in by_epoch:
                kept.append(by_epoch.pop(row["epoch"]))
        # Epochs the checkpoint knows but the file lost (e.g. an earlier run without
        # per-batch rows) still belong in it.
        return kept + list(by_epoch.values())

    def _append(self, row: Mapping[str, Any]) -> None:
        self._writes.submit(self._append_now, _json_line(row))

    def _append_now(self, line: str) -> None:
        with open(self.jsonl_path, "a", encoding="utf-8") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def _write_epoch_files(self, rows: Sequence[Mapping[str, Any]]) -> None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=csv_columns(rows), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: _csv_cell(v) for k, v in row.items()} for row in rows)
        write_text(self.csv_path, buf.getvalue())
        # history.json is exactly what `model.fit(...).history` holds; `lr` lives in the csv/jsonl.
        keras_rows = [{k: v for k, v in row.items() if k != "lr"} for row in rows]
        write_text(self.history_path, json.dumps(history_dict(keras_rows), indent=1) + "\n")


def _json_line(row: Mapping[str, Any]) -> str:
    return json.dumps(row, separators=(",", ":")) + "\n"


def _csv_cell(value: Any) -> Any:
    # Non-scalar metrics (per-class F1) are written as Keras's CSVLogger writes them.
    return f"[{', '.join(map(str, value))}]" if isinstance(value, list) else value
