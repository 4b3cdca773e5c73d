"""Resuming as a user meets it: a finished run, what may change, and what TensorBoard shows after."""

from __future__ import annotations

import json

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_cli

RECIPE = """\
name: tiny
seed: 0
data:
  train: {source: synthetic, samples: 16}
model:
  inputs: {x: {shape: [3]}}
  outputs: {y: {Dense: {units: 1}}}
compile: {optimizer: sgd, loss: mse}
train: {epochs: 1, batch_size: 8}
"""


def _summaries(events):
    acc = EventAccumulator(str(events / "train"), size_guidance={"tensors": 0})
    acc.Reload()
    return acc.Tensors("model_summary/text_summary")


def test_resumes_finished_runs_and_drift(tmp_path):
    (tmp_path / "r.yaml").write_text(RECIPE)
    run = tmp_path / "run"
    run_cli("run", tmp_path / "r.yaml", "-o", run, check=True)
    run_cli("resume", run, "train.epochs=3", check=True)
    assert len(_summaries(run / "events")) == 1  # one model summary, not one per resume

    files = sorted((run / "events" / "train").iterdir())
    proc = run_cli("resume", run, check=True)
    assert "is already complete (3 of 3 epochs" in proc.stderr and "nothing to train" in proc.stderr
    assert "Epoch" not in proc.stderr
    assert sorted((run / "events" / "train").iterdir()) == files  # nothing was written
    events = [e["event"] for e in json.loads((run / "manifest.json").read_text())["events"]]
    assert events.count("resume") == 1

    proc = run_cli("resume", run, "compile.optimizer=adam", "train.epochs=4")
    assert proc.returncode == 2
    assert ("Only train.epochs, callbacks.*.EarlyStopping.patience, logs, checkpoint.keep, checkpoint.every_steps, "
            "checkpoint.every_epochs and description may change") in proc.stderr
    assert "(..*)" not in proc.stderr and "|" not in proc.stderr
