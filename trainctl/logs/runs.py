"""`list_runs`: what is under a runs directory, for `trainctl runs`.

Example:

    >>> for run in list_runs("runs"):
    ...     print(run["name"], run["status"], run["best"])
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

_MANIFEST_KEYS = ("name", "status", "started", "ended", "epochs_done")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):  # missing, unreadable or torn: the caller shows "unknown"
        return None


def best_metric(history: Any) -> tuple[str, float, int] | None:
    """(metric, best value, 0-based epoch): val_loss's minimum if present, else loss's.

    Example:

        >>> best_metric({"loss": [0.9, 0.5], "val_loss": [0.8, 0.7]})
        ('val_loss', 0.7, 1)
    """
    if not isinstance(history, dict):
        return None
    for key in ("val_loss", "loss"):
        values = history.get(key)
        if not isinstance(values, list):
            continue
        finite = [
            (float(v), i)
            for i, v in enumerate(values)
            if isinstance(v, (int, float)) and not math.isnan(v)
        ]
        if finite:
            value, epoch = min(finite)
            return key, value, epoch
    return None


def list_runs(root: str | os.PathLike = "runs") -> list[dict[str, Any]]:
    """One dict per run directory under `root`, oldest first.

    Keys: `name`, `status`, `started`, `ended`, `epochs_done` (from manifest.json;
    status "unknown" when it is missing or unreadable), `path`, and `monitor`, `best`,
    `best_epoch` (1-based) from history.json (None without one). A missing `root`
    gives an empty list.

    Example:

        >>> list_runs("runs")[0]["status"]
        'completed'
    """
    root = Path(root)
    if not root.is_dir():
        return []
    runs = []
    for run_dir in root.iterdir():
        # Hidden entries are atomic writes in progress (`.name.tmp-*`).
        if not run_dir.is_dir() or run_dir.name.startswith("."):
            continue
        manifest = _read_json(run_dir / "manifest.json")
        if not isinstance(manifest, dict):
            manifest = {"status": "unknown"}
        run = {key: manifest.get(key) for key in _MANIFEST_KEYS}
        run["name"] = run["name"] or run_dir.name
        run["status"] = run["status"] or "unknown"
        run["path"] = str(run_dir)
        history = _read_json(run_dir / "history.json")
        best = best_metric(history)
        run["monitor"], run["best"], run["best_epoch"] = (
            (best[0], best[1], best[2] + 1) if best else (None, None, None)
        )
        if run["epochs_done"] is None and isinstance(history, dict):
            lengths = [len(v) for v in history.values() if isinstance(v, list)]
            run["epochs_done"] = max(lengths, default=0)
        runs.append(run)
    runs.sort(key=lambda r: (str(r["started"] or ""), r["path"]))
    return runs
