from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from trainctl.logs.files import MetricsFiles
from trainctl.logs.rows import csv_columns, read_jsonl

from .helpers import tiny_data, tiny_model

KEYS = ["accuracy", "loss", "val_accuracy", "val_loss"]


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_epoch_files_match_keras_history(tmp_path):
    model = tiny_model(lr=0.05)
    x, y = tiny_data(20)
    files = MetricsFiles(tmp_path)
    h = model.fit(x, y, batch_size=4, epochs=3, validation_split=0.2, verbose=0, callbacks=[files])

    with open(tmp_path / "metrics.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header == ["epoch", *KEYS, "epoch_time", "wall_time", "lr"]
    rows = _read_csv(tmp_path / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for key in KEYS:
        assert [float(r[key]) for r in rows] == h.history[key]  # repr round-trips floats
    assert [float(r["lr"]) for r in rows] == pytest.approx([0.05] * 3)

    history = json.loads((tmp_path / "history.json").read_text())
    assert history == h.history  # exactly Keras's History; `lr` lives in the csv/jsonl

    jsonl = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["epoch"] for r in jsonl] == [0, 1, 2]
    assert [r["loss"] for r in jsonl] == h.history["loss"]
    assert all(r["epoch_time"] > 0 and r["wall_time"] > 1e9 for r in jsonl)
    assert files.rows == jsonl
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.json", "metrics.csv", "metrics.jsonl"]


def test_per_batch_rows_are_appended_between_epoch_rows(tmp_path):
    x, y = tiny_data(16)
    files = MetricsFiles(tmp_path, per_batch=2)
    tiny_model().fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[files])
    marks = [("b", r["batch"]) if "batch" in r else ("e", r["epoch"]) for r in read_jsonl(tmp_path / "metrics.jsonl")]
    assert marks == [("b", 2), ("b", 4), ("e", 0), ("b", 6), ("b", 8), ("e", 1)]
    assert files.global_step == 8


def test_resume_mid_epoch_leaves_each_row_exactly_once(tmp_path):
    x, y = tiny_data(16)  # 4 steps an epoch
    first = MetricsFiles(tmp_path, per_batch=True)
    tiny_model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[first])
    # Crash story: the checkpoint was taken 2 steps into epoch 2 (global step 10); the run
    # went on to write steps 11-12 and epoch 2, then died mid-append.
    original = read_jsonl(tmp_path / "metrics.jsonl")
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"batch": 13, "lo')
    checkpoint_rows = first.rows[:2]

    resumed = MetricsFiles(tmp_path, per_batch=True, history_rows=checkpoint_rows, global_step=10)
    # The rest of epoch 2 (2 steps), then epoch 3 of 4 steps.
    model = tiny_model()
    model.fit(x[:8], y[:8], batch_size=4, epochs=3, initial_epoch=2, verbose=0, callbacks=[resumed])
    model.fit(x, y, batch_size=4, epochs=4, initial_epoch=3, verbose=0, callbacks=[resumed])

    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["batch"] for r in rows if "batch" in r] == list(range(1, 17))
    assert [r["epoch"] for r in rows if "epoch" in r] == [0, 1, 2, 3]
    assert rows[:12] == original[:12] and rows[11]["batch"] == 10  # kept as written
    assert [int(r["epoch"]) for r in _read_csv(tmp_path / "metrics.csv")] == [0, 1, 2, 3]
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["loss"][:2] == [r["loss"] for r in checkpoint_rows]
    assert len(history["loss"]) == 4 and resumed.global_step == 16


def test_resume_at_epoch_boundary_rewrites_stale_epochs(tmp_path):
    x, y = tiny_data(8)
    first = MetricsFiles(tmp_path)
    tiny_model().fit(x, y, batch_size=4, epochs=3, verbose=0, callbacks=[first])
    resumed = MetricsFiles(tmp_path, history_rows=first.rows[:1], global_step=2)
    tiny_model().fit(x, y, batch_size=4, epochs=2, initial_epoch=1, verbose=0, callbacks=[resumed])
    assert [r["epoch"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [0, 1]
    assert len(json.loads((tmp_path / "history.json").read_text())["loss"]) == 2


def test_csv_columns_are_a_stable_union():
    rows = [{"epoch": 0, "loss": 1.0, "lr": 0.1, "wall_time": 5.0}, {"epoch": 1, "b_metric": 2.0, "loss": 0.5}]
    assert csv_columns(rows) == ["epoch", "b_metric", "loss", "wall_time", "lr"]


def test_non_scalar_metric_is_written_like_csvlogger(tmp_path):
    files = MetricsFiles(tmp_path)
    files.set_model(tiny_model())
    files.on_train_begin()
    files.on_epoch_begin(0)
    files.on_epoch_end(0, {"loss": np.float32(0.5), "f1": np.array([0.25, 0.75])})
    files.flush()  # the epoch's files are written on a background thread
    row = _read_csv(tmp_path / "metrics.csv")[0]
    assert row["f1"] == "[0.25, 0.75]" and row["loss"] == "0.5"
    assert json.loads((tmp_path / "history.json").read_text())["f1"] == [[0.25, 0.75]]


def test_per_batch_must_be_a_positive_step_count(tmp_path):
    with pytest.raises(ValueError, match="per_batch must be False, True or a positive"):
        MetricsFiles(tmp_path, per_batch=0.5)
    with pytest.raises(ValueError, match="got -1"):
        MetricsFiles(tmp_path, per_batch=-1)


def test_a_failed_background_write_is_raised_and_the_next_epoch_waits_for_none(tmp_path):
    files = MetricsFiles(tmp_path)
    files.set_model(tiny_model())
    files.on_train_begin()
    files.on_epoch_begin(0)
    (tmp_path / "metrics.csv").unlink()
    (tmp_path / "metrics.csv").mkdir()  # the rename onto it fails
    files.on_epoch_end(0, {"loss": 0.5})
    with pytest.raises(OSError):
        files.flush()
    (tmp_path / "metrics.csv").rmdir()
    files.on_epoch_begin(1)
    files.on_epoch_end(1, {"loss": 0.25})
    files.close()
    assert [row["epoch"] for row in _read_csv(tmp_path / "metrics.csv")] == ["0", "1"]
