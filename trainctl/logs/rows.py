"""Epoch rows, the unit of trainctl's metric files, and the views derived from them.

An epoch row is a dict: `epoch` (0-based, as Keras counts), the epoch's logs, and
`epoch_time`, `wall_time`, `lr`. A batch row has `batch` (the global step) instead.
No Keras here: `trainctl runs` and `trainctl plot` read these without paying for it.

Example:

    >>> rows = [r for r in read_jsonl(run_dir / "metrics.jsonl") if "epoch" in r]
    >>> history_dict(rows)["loss"]
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, Mapping, Sequence

# Columns every epoch row has besides the logs; kept out of history.json except `lr`.
_BOOKKEEPING = ("epoch", "epoch_time", "wall_time")


def csv_columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """Stable CSV header for `rows`: epoch, sorted log keys, epoch_time, wall_time, lr.

    Example:

        >>> csv_columns([{"epoch": 0, "loss": 1.0, "lr": 0.1, "accuracy": 0.5}])
        ['epoch', 'accuracy', 'loss', 'lr']
    """
    keys: set[str] = set()
    for row in rows:
        keys.update(row)
    tail = [k for k in ("epoch_time", "wall_time", "lr") if k in keys]
    logs = sorted(keys.difference(_BOOKKEEPING, ("lr",)))
    return ["epoch", *logs, *tail]


def history_dict(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Keras History format from epoch rows: `{key: [value per epoch]}`.

    Example:

        >>> history_dict([{"epoch": 0, "loss": 1.0}, {"epoch": 1, "loss": 0.5}])
        {'loss': [1.0, 0.5]}
    """
    keys = [k for k in csv_columns(rows) if k not in _BOOKKEEPING]
    return {k: [row.get(k) for row in rows] for k in keys}


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a metrics.jsonl; a torn last line (crash during an append) is skipped.

    Example:

        >>> [r for r in read_jsonl(run_dir / "metrics.jsonl") if "epoch" in r]
    """
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return rows
