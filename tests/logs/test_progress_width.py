"""The live display fits an 80-column terminal; CI logs hear from a long epoch."""

from __future__ import annotations

import io
import re

from trainctl.backend import keras
from trainctl.logs.console import Reporter
from trainctl.logs.progress import ConsoleProgress, short_names

from .helpers import tiny_data

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def _long_named_model():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                  metrics=["sparse_categorical_accuracy", keras.metrics.SparseTopKCategoricalAccuracy(k=1)])
    return model


def _screen_lines(text: str) -> list[str]:
    """What a terminal shows, line by line: each carriage return starts the line afresh."""
    return [ANSI.sub("", part) for line in text.split("\n") for part in line.split("\r")]


def test_short_names_are_unique_and_keep_prefixes():
    assert short_names(["loss", "val_sparse_categorical_accuracy", "binary_crossentropy", "mean_squared_error"]) == {
        "loss": "loss", "val_sparse_categorical_accuracy": "val_acc", "binary_crossentropy": "ce",
        "mean_squared_error": "mse"}
    # 'categorical_accuracy' and 'sparse_categorical_accuracy' would both be 'acc': both stay whole.
    assert short_names(["categorical_accuracy", "sparse_categorical_accuracy"]) == {
        "categorical_accuracy": "categorical_accuracy", "sparse_categorical_accuracy": "sparse_categorical_accuracy"}


def test_80_columns_show_epoch_bar_and_steps_and_an_unwrapped_table(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    err, out = io.StringIO(), io.StringIO()
    progress = ConsoleProgress(monitor="val_sparse_categorical_accuracy", refresh_per_second=1e6,
                               reporter=Reporter(plain=False, err=err, out=out))
    x, y = tiny_data(40)
    _long_named_model().fit(x, y, batch_size=4, epochs=3, validation_split=0.2, verbose=0, callbacks=[progress])
    lines = [line for line in _screen_lines(err.getvalue()) if line.strip()]
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    live = [line for line in lines if "━" in line]
    assert {re.match(r"Epoch (\d)/3 ━+ \d+/8 ", line).group(1) for line in live} == {"1", "2", "3"}, live
    assert any(" acc " in line for line in live)  # the metrics, by their short names
    # Each epoch's summary, continuation lines included (they start with spaces).
    text = "\n".join(lines)
    summaries = re.findall(r"^Epoch \d/3 +(?:- )?\d.*(?:\n +\S.*)*", text, re.M)
    assert len(summaries) == 3 and all("val_acc " in s or "val_acc:" in s for s in summaries), summaries
    table = _screen_lines(out.getvalue())
    assert all(len(line) <= 80 for line in table)
    # Too many metrics for a row even by their short names: one line per metric, none folded.
    assert any(re.match(r"│ val_sparse_top_k_categorical_accuracy +│ [\d.]+ +│", line) for line in table), table


def test_120_columns_show_more(monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    err = io.StringIO()
    progress = ConsoleProgress(refresh_per_second=1e6, reporter=Reporter(plain=False, err=err, out=io.StringIO()))
    x, y = tiny_data(40)
    _long_named_model().fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[progress])
    live = [line for line in _screen_lines(err.getvalue()) if "━" in line]
    assert all(len(line) <= 120 for line in live)
    assert all("steps/s" in line and "sparse_top_k_acc" in line for line in live[1:]), live


def test_plain_mode_writes_a_line_at_least_every_heartbeat(captured):
    _, err, _ = captured
    progress = ConsoleProgress(heartbeat_s=1e-9)  # every batch is 'a long time' after the last line
    x, y = tiny_data(16)
    _long_named_model().fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[progress])
    beats = re.findall(r"^Epoch 1/1 - step (\d)/4", err.getvalue(), re.M)
    assert beats and set(beats) <= {"1", "2", "3", "4"}
    quiet = io.StringIO()
    progress = ConsoleProgress(reporter=Reporter(plain=True, err=quiet, out=io.StringIO()))  # default 30 s
    _long_named_model().fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[progress])
    assert "step" not in quiet.getvalue()
