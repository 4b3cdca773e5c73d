"""`plot_run`: one PNG of a run's training curves, for people and for reports.

Example:

    >>> plot_run("runs/mnist_mlp")
    PosixPath('runs/mnist_mlp/plots/curves.png')
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from trainctl.atomic import atomic_path
from trainctl.logs.rows import history_dict, read_jsonl

_TRAIN, _VAL, _LR = "#1f77b4", "#ff7f0e", "#2ca02c"


def load_history(run_dir: str | os.PathLike) -> dict[str, list[Any]]:
    """The run's `{key: [value per epoch]}`, from metrics.jsonl (which has `lr`) or else history.json.

    Example:

        >>> load_history("runs/mnist_mlp")["val_loss"][-1]
        0.0712
    """
    run_dir = Path(run_dir)
    path = run_dir / "metrics.jsonl"
    if path.exists():
        rows = [r for r in read_jsonl(path) if "epoch" in r]
        if rows:
            return history_dict(rows)
    path = run_dir / "history.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    raise FileNotFoundError(
        f"No history.json or metrics.jsonl in {run_dir}; expected a trainctl run directory "
        f"that has finished at least one epoch."
    )


def _panels(history: dict[str, list[Any]]) -> list[tuple[str, list[str]]]:
    """(title, keys) per panel: loss first, then each metric with its val_ twin, lr last."""
    names = []
    for key in history:
        base = key.removeprefix("val_")
        if key not in ("lr", "learning_rate") and base not in names:
            names.append(base)
    names.sort(key=lambda n: (n != "loss", n))
    panels = [(n, [k for k in (n, f"val_{n}") if k in history]) for n in names]
    # `lr` (trainctl's column) and `learning_rate` (logged by ReduceLROnPlateau) are one quantity.
    lr = next((k for k in ("lr", "learning_rate") if k in history), None)
    return panels + ([("learning rate", [lr])] if lr else [])


def plot_run(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Render loss, each metric (train vs validation) and the learning rate; return the PNG path.

    One panel per quantity, epochs (from 1) on x; the learning rate on a log scale.
    Written atomically to `out`, default `RUN_DIR/plots/curves.png`.

    Example:

        >>> plot_run(run_dir, out="report/curves.png")
    """
    # Figure and the Agg canvas directly: no pyplot global state, no GUI backend.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    run_dir = Path(run_dir)
    history = load_history(run_dir)
    panels = _panels(history)
    if not panels:
        raise ValueError(f"{run_dir}: the history has no metrics to plot (keys: {list(history)}).")
    cols = min(3, len(panels))
    rows = math.ceil(len(panels) / cols)
    fig = Figure(figsize=(4.6 * cols, 3.3 * rows), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    fig.suptitle(run_dir.resolve().name, fontweight="bold")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (title, keys) in zip(axes, panels):
        has_val = any(k.startswith("val_") for k in keys)
        epochs_shown = 1
        for key in keys:
            values = [math.nan if v is None else float(v) for v in history[key]]
            epochs_shown = max(epochs_shown, len(values))
            is_val = key.startswith("val_")
            color = _LR if title == "learning rate" else (_VAL if is_val else _TRAIN)
            label = ("validation" if is_val else "train") if has_val else None
            ax.plot(range(1, len(values) + 1), values, color=color, label=label, linewidth=1.6,
                    marker="o" if len(values) <= 30 else None, markersize=3.5)
            if title == "learning rate" and all(v > 0 for v in values if not math.isnan(v)):
                ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("epoch")
        # Half an epoch of margin: a one-epoch run gets a sane axis, not 0.95..1.05.
        ax.set_xlim(0.5, epochs_shown + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.grid(True, alpha=0.3)
        if has_val:
            ax.legend(frameon=False)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    out = Path(out) if out is not None else run_dir / "plots" / "curves.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out
