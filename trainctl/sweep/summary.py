"""A sweep's summary, kept current as trials finish: DIR/sweep.csv, DIR/sweep.png, `trainctl runs DIR`.

Rows come from DIR/sweep.json (written by the controller); trials are ranked by the sweep's
metric (its best epoch), best first, trials without a value last. No Keras here.

Example:

    >>> header, rows = sweep_table("sweeps/lr")
    >>> rows[0][0]
    'trial-002'
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from trainctl.atomic import atomic_path, write_text

STATE = "sweep.json"


def read_state(out: str | Path) -> dict | None:
    """DIR/sweep.json, or None if DIR holds no sweep."""
    try:
        return json.loads((Path(out) / STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def ranked(state: dict) -> list[tuple[str, dict]]:
    """(name, trial) pairs, best metric first; trials without a metric after, by name."""
    sign = 1 if state["mode"] == "min" else -1

    def key(item):
        value = item[1].get("metric")
        return (value is None or not math.isfinite(value), sign * value if value is not None else 0, item[0])

    return sorted(state["trials"].items(), key=key)


def sweep_table(out: str | Path) -> tuple[list[str], list[list[Any]]] | None:
    """Header and rows of the sweep in `out` (None when `out` holds no sweep)."""
    state = read_state(out)
    if state is None:
        return None
    keys = state["keys"]
    header = ["trial", "status", *keys, state["metric"], "best_epoch", "epochs", "seconds"]
    rows = [[name, t["status"], *(t["params"].get(k) for k in keys), t.get("metric"), t.get("best_epoch"),
             t.get("epochs"), None if t.get("seconds") is None else round(t["seconds"], 1)]
            for name, t in ranked(state)]
    return header, rows


def write_summary(out: str | Path) -> None:
    """Rewrite DIR/sweep.csv and DIR/sweep.png from DIR/sweep.json (atomically)."""
    out = Path(out)
    table = sweep_table(out)
    if table is None:
        return
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table[0])
    writer.writerows(["" if v is None else v for v in row] for row in table[1])
    write_text(out / "sweep.csv", buf.getvalue())
    _plot(out, read_state(out))


def _plot(out: Path, state: dict) -> None:
    """The metric against each swept parameter, one panel per parameter (completed trials)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = state["keys"]
    done = [t for t in state["trials"].values() if t.get("metric") is not None and t["status"] == "completed"]
    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(4 * max(len(keys), 1), 3.2), squeeze=False)
    for ax, key in zip(axes[0], keys):
        values = [t["params"][key] for t in done]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        xs = values if numeric else [str(v) for v in values]
        ax.scatter(xs, [t["metric"] for t in done])
        if numeric and values and min(values) > 0 and max(values) / min(values) >= 100:
            ax.set_xscale("log")
        ax.set_xlabel(key, fontsize=8)
        ax.set_ylabel(state["metric"])
    fig.suptitle(f"{state['metric']} ({state['mode']}) by parameter, {len(done)} trials")
    fig.tight_layout()
    with atomic_path(out / "sweep.png") as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)
