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

    Written atomically to `out`, default `RUN_DIR/plots/curves.png` (see `curves_figure`).

    Example:

        >>> plot_run(run_dir, out="report/curves.png")
    """
    run_dir = Path(run_dir)
    fig = curves_figure(run_dir)
    out = Path(out) if out is not None else run_dir / "plots" / "curves.png"
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")
    return out


def _recipe_name(run_dir: Path) -> str:
    try:
        name = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        name = None
    return str(name) if name else run_dir.resolve().name


def curves_figure(run_dir: str | os.PathLike):
    """The matplotlib `Figure` that `plot_run` saves.

    Titled with the recipe's name; one panel per quantity, epochs (from 1) on x; the
    learning rate on a log scale when it spans a decade or more, and a constant one
    centred on a linear axis.

    Example:

        >>> curves_figure("runs/mnist_mlp-20261125-154000").get_suptitle()
        'mnist_mlp'
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
    fig.suptitle(_recipe_name(run_dir), fontweight="bold")
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
            if title == "learning rate":
                _lr_axis(ax, [v for v in values if not math.isnan(v)])
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
    return fig


def _lr_axis(ax, values: list[float]) -> None:
    """A log axis for a schedule spanning a decade or more; otherwise linear, a constant centred."""
    if not values:
        return
    low, high = min(values), max(values)
    if low > 0 and high / low >= 10:
        ax.set_yscale("log")
    elif low == high:
        # matplotlib would draw a constant at the bottom of a decade-wide (log) or ±5% (linear) axis.
        half = abs(low) or 1.0
        ax.set_ylim(low - half, low + half)
