"""The one reporting layer: every line trainctl shows a person goes through a `Reporter`.

Human messages (info, warnings, errors, progress) go to stderr; data (tables, JSON)
goes to stdout, so `trainctl runs --json | jq` keeps working while progress is shown.
The library never prints: it asks `get_reporter()` for the process's one instance.

This module does not import Keras (the CLI imports it for `--help`); the Keras
progress callback lives in `trainctl.logs.progress`.

Example:

    >>> from trainctl.logs.console import get_reporter
    >>> report = get_reporter()
    >>> report.info("loaded 60000 samples")
    >>> report.table("Runs", ["name", "status"], [["mnist", "done"]])
"""

from __future__ import annotations

import json as _json
import os
import sys
from typing import Any, Iterable, Sequence, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text


def format_value(value: Any) -> str:
    """Format one table cell or metric: numbers with 4 significant digits, None as '-'.

    Example:

        >>> format_value(0.123456), format_value(None), format_value(3)
        ('0.1235', '-', '3')
    """
    if value is None:
        return "-"
    if isinstance(value, (int, str)):
        return str(value)
    try:  # floats, and NumPy/JAX scalars
        return f"{float(value):.4g}"
    except (TypeError, ValueError):
        return str(value)


def _auto_plain(stream: TextIO) -> bool:
    # Live bars and colour only help a person watching a terminal; CI logs and pipes
    # want one plain line per event.
    isatty = getattr(stream, "isatty", None)
    return not (isatty is not None and isatty()) or "CI" in os.environ


class Reporter:
    """Writes human messages to stderr and data to stdout, rich or plain.

    Args:
        quiet: silence `info` and progress; warnings, errors and data are still written.
        plain: `True` for plain lines (no colour, no live bars), `False` for rich
            output, `None` to choose: rich when stderr is a terminal and the
            environment variable `CI` is unset, plain otherwise.
        err: stream for human messages (default: `sys.stderr`, looked up at each write
            so test capture and redirection work).
        out: stream for data (default: `sys.stdout`, looked up likewise).

    Attributes:
        plain, quiet: the resolved mode.
        err, out: the `rich.console.Console` objects; progress displays draw on `err`
            so messages logged during a live bar appear above it.

    Example:

        >>> import io
        >>> buf = io.StringIO()
        >>> r = Reporter(plain=True, err=buf)
        >>> r.warn("no validation data")
        >>> buf.getvalue()
        'warning: no validation data\\n'
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        plain: bool | None = None,
        err: TextIO | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.quiet = quiet
        self.plain = _auto_plain(err or sys.stderr) if plain is None else plain
        common = dict(
            highlight=False,
            emoji=False,
            soft_wrap=self.plain,
            no_color=self.plain,
            # Rich output asked for on a non-terminal stream (a test, a log viewer that
            # renders ANSI) must not be downgraded silently by rich's own detection.
            force_terminal=not self.plain,
        )
        self.err = Console(file=err, stderr=err is None, **common)
        self.out = Console(file=out, **common)

    def info(self, msg: str) -> None:
        """Tell the person what is happening (silenced by `quiet`)."""
        if not self.quiet:
            self._say(msg, None, "")

    def warn(self, msg: str) -> None:
        """Report something the person should know about but that does not stop the run."""
        self._say(msg, "bold yellow", "warning: ")

    def error(self, msg: str) -> None:
        """Report a failure; never silenced, even by `quiet`."""
        self._say(msg, "bold red", "error: ")

    def _say(self, msg: str, style: str | None, prefix: str) -> None:
        if self.plain:
            self.err.out(prefix + msg, highlight=False)
        else:
            # Text, not markup: messages quote user input such as "[784]".
            self.err.print(Text.assemble((prefix, style or ""), msg))

    def table(self, title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Write a table of data to stdout; cells are formatted with `format_value`.

        Example:

            >>> get_reporter().table("Best epoch", ["epoch", "val_loss"], [[3, 0.25]])
        """
        cells = [[format_value(v) for v in row] for row in rows]
        if self.plain:
            widths = [len(c) for c in columns]
            for row in cells:
                widths = [max(w, len(c)) for w, c in zip(widths, row)]
            lines = [title] if title else []
            for row in [list(columns), *cells]:
                lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
            self.out.out("\n".join(lines), highlight=False)
            return
        table = Table(title=title or None, title_justify="left")
        for name in columns:
            table.add_column(name, overflow="fold")
        for row in cells:
            table.add_row(*(Text(c) for c in row))
        self.out.print(table)

    def json(self, obj: Any) -> None:
        """Write `obj` as plain JSON (no colour, no wrapping) to stdout.

        Example:

            >>> get_reporter().json({"runs": []})
        """
        self.out.out(_json.dumps(obj, indent=2, default=str), highlight=False)


_reporter: Reporter | None = None


def get_reporter() -> Reporter:
    """The process's reporter; created with automatic mode on first use.

    Example:

        >>> get_reporter().info("training started")
    """
    global _reporter
    if _reporter is None:
        _reporter = Reporter()
    return _reporter


def set_reporter(reporter: Reporter | None) -> Reporter | None:
    """Install `reporter` as the process's reporter and return the previous one.

    `None` resets to a fresh automatic reporter on next `get_reporter()`.

    Example:

        >>> previous = set_reporter(Reporter(quiet=True))
        >>> ...
        >>> set_reporter(previous)
    """
    global _reporter
    previous, _reporter = _reporter, reporter
    return previous
