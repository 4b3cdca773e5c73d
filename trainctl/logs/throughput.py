"""`RowProgress`: a progress display for work counted in rows (prediction), with rows/s and ETA.

Rich mode draws one live bar; plain mode (CI, pipes) writes a line at most every
`every_s` seconds and one at the end. Both go through the `Reporter`, so `quiet`
silences them.

Example:

    >>> progress = RowProgress(total=1_000_000, title="predict", done=250_000)
    >>> progress.advance(65_536)
    >>> progress.close()
"""

from __future__ import annotations

import atexit
import time

from rich.progress import BarColumn, Progress, TextColumn

from trainctl.logs.console import Reporter, get_reporter
from trainctl.logs.progress import format_duration  # imports Keras: a predicting process has it loaded


class RowProgress:
    """Shows `done/total rows - N rows/s - ETA` through the `Reporter`.

    Args:
        total: rows in all (None when unknown: no bar length and no ETA).
        title: what is being counted, shown first.
        done: rows already done before this process (a resumed prediction); the rate
            counts only the rows done here.
        every_s: plain mode writes at most one line this often.
        reporter: default `get_reporter()`.
    """

    def __init__(self, total: int | None, title: str = "predict", *, done: int = 0, every_s: float = 10.0,
                 reporter: Reporter | None = None) -> None:
        self.total, self.title, self.done = total, title, done
        self._start_done, self._start = done, time.monotonic()
        self._every_s, self._next_line = every_s, self._start + every_s
        self._report = reporter or get_reporter()
        self._progress: Progress | None = None
        if self._report.quiet or self._report.plain:
            return
        self._progress = Progress(TextColumn("{task.description}"), BarColumn(bar_width=30),
                                  TextColumn("{task.fields[status]}"), console=self._report.err,
                                  transient=True, redirect_stdout=False)
        self._task = self._progress.add_task(title, total=total, completed=done, status=self.status())
        self._progress.start()
        atexit.register(self.close)  # restore the terminal even when the work raises

    def status(self, eta: bool = True) -> str:
        """'120000/1000000 rows - 52000 rows/s - ETA 17s'."""
        elapsed = time.monotonic() - self._start
        rate = (self.done - self._start_done) / elapsed if elapsed > 0 else 0.0
        parts = [f"{self.done}/{self.total} rows" if self.total is not None else f"{self.done} rows",
                 f"{rate:.0f} rows/s"]
        if eta and self.total is not None and rate > 0:
            parts.append(f"ETA {format_duration(max(self.total - self.done, 0) / rate)}")
        return " - ".join(parts)

    def advance(self, rows: int) -> None:
        """Count `rows` more rows done."""
        self.done += rows
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, status=self.status())
        elif not self._report.quiet and time.monotonic() >= self._next_line and self.done != self.total:
            self._next_line = time.monotonic() + self._every_s
            self._report.info(f"{self.title}: {self.status()}")

    def close(self) -> None:
        """Stop the live display and write the final line; safe to call more than once."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
            atexit.unregister(self.close)
        elif self._every_s is None:
            return
        self._every_s = None
        elapsed = format_duration(time.monotonic() - self._start)
        self._report.info(f"{self.title}: {self.status(eta=False)} in {elapsed}")
