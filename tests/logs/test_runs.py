from __future__ import annotations

import json

from trainctl.logs.runs import best_metric, list_runs


def _run(root, name, manifest=None, history=None):
    d = root / name
    d.mkdir(parents=True)
    if manifest is not None:
        (d / "manifest.json").write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    if history is not None:
        (d / "history.json").write_text(json.dumps(history))
    return d


def test_list_runs_reads_manifests_and_best_metric(tmp_path):
    _run(
        tmp_path, "b",
        {"name": "mnist", "status": "completed", "started": "2025-01-02T00:00:00", "ended": "x", "epochs_done": 3},
        {"loss": [0.5, 0.4, 0.3], "val_loss": [0.6, 0.45, 0.5]},
    )
    _run(tmp_path, "a", {"name": "early", "status": "running", "started": "2025-01-01T00:00:00"}, {"loss": [0.9, None, 0.7]})
    _run(tmp_path, "torn", '{"name": "to', {"loss": [1.0, 2.0]})
    _run(tmp_path, "empty")
    _run(tmp_path, ".runs.tmp-123", {"name": "hidden"})
    (tmp_path / "notes.txt").write_text("not a run")

    runs = list_runs(tmp_path)
    assert [r["name"] for r in runs] == ["empty", "torn", "early", "mnist"]
    empty, torn, early, mnist = runs
    assert mnist == {
        "name": "mnist", "status": "completed", "started": "2025-01-02T00:00:00", "ended": "x",
        "epochs_done": 3, "path": str(tmp_path / "b"), "monitor": "val_loss", "best": 0.45, "best_epoch": 2,
    }
    assert (early["status"], early["monitor"], early["best"], early["best_epoch"]) == ("running", "loss", 0.7, 3)
    assert (torn["status"], torn["best"], torn["epochs_done"]) == ("unknown", 1.0, 2)
    assert (empty["status"], empty["best"], empty["epochs_done"]) == ("unknown", None, None)


def test_missing_root_has_no_runs(tmp_path):
    assert list_runs(tmp_path / "nope") == []


def test_best_metric_ignores_nan_and_garbage():
    assert best_metric({"val_loss": [float("nan"), 0.5], "loss": [0.1]}) == ("val_loss", 0.5, 1)
    assert best_metric({"val_loss": [None], "loss": [0.2]}) == ("loss", 0.2, 0)
    assert best_metric([1, 2]) is None and best_metric({"loss": "x"}) is None
