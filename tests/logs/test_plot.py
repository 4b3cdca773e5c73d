from __future__ import annotations

import json

import pytest

from trainctl.logs.plot import _panels, load_history, plot_run

HISTORY = {
    "accuracy": [0.5, 0.6, 0.7],
    "loss": [0.9, 0.7, 0.6],
    "val_accuracy": [0.55, 0.6, None],  # an epoch without validation
    "val_loss": [0.8, 0.75, 0.7],
    "val_auc": [0.6, 0.7, 0.8],
    "lr": [0.1, 0.05, 0.025],
}


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_panels_pair_train_with_validation_and_put_lr_last():
    assert _panels(HISTORY) == [
        ("loss", ["loss", "val_loss"]),
        ("accuracy", ["accuracy", "val_accuracy"]),
        ("auc", ["val_auc"]),
        ("learning rate", ["lr"]),
    ]


def test_plot_from_history_json(tmp_path):
    (tmp_path / "history.json").write_text(json.dumps(HISTORY))
    out = plot_run(tmp_path)
    assert out == tmp_path / "plots" / "curves.png"
    # 4 panels: a 3-wide grid, 2 rows of 4.6 x 3.3 inches at 110 dpi.
    assert _png_size(out) == (1518, 726)
    assert [p.name for p in out.parent.iterdir()] == ["curves.png"]  # no temporary left


def test_plot_from_metrics_jsonl_to_a_chosen_path(tmp_path):
    rows = [{"batch": 1, "loss": 1.0}, {"epoch": 0, "loss": 0.9, "lr": 0.1, "wall_time": 1.0}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_history(tmp_path) == {"loss": [0.9], "lr": [0.1]}
    out = plot_run(tmp_path, out=tmp_path / "report" / "c.png")
    assert _png_size(out) == (1012, 363)  # 2 panels side by side


def test_plot_without_history_says_what_is_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="No history.json or metrics.jsonl"):
        plot_run(tmp_path)
    (tmp_path / "history.json").write_text("{}")
    with pytest.raises(ValueError, match="no metrics to plot"):
        plot_run(tmp_path)


def _lr_axes(fig):
    return next(ax for ax in fig.axes if ax.get_title() == "learning rate")


def test_title_is_the_recipe_name_and_the_lr_axis_fits_the_schedule(tmp_path):
    from trainctl.logs.plot import curves_figure

    (tmp_path / "manifest.json").write_text(json.dumps({"name": "mnist_mlp"}))
    (tmp_path / "history.json").write_text(json.dumps({"loss": [0.9, 0.8, 0.7], "lr": [1e-3, 1e-3, 1e-3]}))
    fig = curves_figure(tmp_path)
    assert fig.get_suptitle() == "mnist_mlp"  # not the run directory's name
    ax = _lr_axes(fig)
    low, high = ax.get_ylim()
    assert ax.get_yscale() == "linear" and low == pytest.approx(0) and high == pytest.approx(2e-3)  # centred
    (tmp_path / "history.json").write_text(json.dumps({"loss": [0.9, 0.8, 0.7], "lr": [1e-1, 1e-2, 1e-3]}))
    assert _lr_axes(curves_figure(tmp_path)).get_yscale() == "log"  # a schedule over decades
    (tmp_path / "history.json").write_text(json.dumps({"loss": [0.9, 0.8], "lr": [1e-3, 5e-4]}))
    assert _lr_axes(curves_figure(tmp_path)).get_yscale() == "linear"
    (tmp_path / "manifest.json").unlink()
    assert curves_figure(tmp_path).get_suptitle() == tmp_path.name
