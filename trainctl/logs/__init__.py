"""Reporting and logs: the console, metric files, TensorBoard events, plots, run listings.

Names are loaded on first use: `import trainctl.logs` does not import Keras, so the
CLI can use the `Reporter` before deciding whether it needs to train.

Example:

    >>> from trainctl.logs import get_reporter, plot_run
    >>> get_reporter().info(f"curves: {plot_run('runs/mnist_mlp')}")
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Reporter": "console",
    "get_reporter": "console",
    "set_reporter": "console",
    "format_value": "console",
    "ConsoleProgress": "progress",
    "RowProgress": "throughput",
    "MetricsFiles": "files",
    "TensorBoardWriter": "tensorboard",
    "plot_run": "plot",
    "load_history": "plot",
    "list_runs": "runs",
    "history_dict": "rows",
    "read_jsonl": "rows",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainctl.logs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"trainctl.logs.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
