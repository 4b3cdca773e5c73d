"""`train.on_nonfinite: continue`: a diverging run trains on as `model.fit` does (guide 003's examples),
and inf/NaN values round-trip through history.json, metrics files, TensorBoard and checkpoints."""

from __future__ import annotations

import csv
import json
import math
import signal

import pytest

from tests.conftest import RECIPES, cli_env, run_cli


def _history(run_dir):
    return json.loads((run_dir / "history.json").read_text())


@pytest.fixture(scope="module")
def lr_scheduler_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("lr") / "run"
    run_cli("run", RECIPES / "lr_scheduler.yaml", "-o", run_dir, check=True)
    return run_dir


def test_diverging_lr_scheduler_trains_on_logs_inf_and_decays_after_epoch_10(lr_scheduler_run):
    history = _history(lr_scheduler_run)
    assert len(history["loss"]) == 15 and math.isinf(history["loss"][-1])
    assert history["learning_rate"][:10] == [history["learning_rate"][0]] * 10
    assert history["learning_rate"][14] == pytest.approx(0.01 * math.exp(-0.1) ** 5, rel=1e-5)
    rows = list(csv.DictReader((lr_scheduler_run / "metrics.csv").open()))
    assert rows[-1]["loss"] == "inf"
    jsonl = [json.loads(line) for line in (lr_scheduler_run / "metrics.jsonl").read_text().splitlines()]
    assert math.isinf(jsonl[-1]["loss"])
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(lr_scheduler_run / "events" / "train"), size_guidance={"scalars": 0})
    acc.Reload()
    assert math.isinf(acc.Scalars("epoch_loss")[-1].value)


def test_killed_after_the_loss_became_inf_resumes_to_the_same_run(lr_scheduler_run, tmp_path):
    run_dir = tmp_path / "run"  # one step an epoch: killed in epoch 13, after checkpoints that hold inf
    proc = run_cli("run", RECIPES / "lr_scheduler.yaml", "-o", run_dir, env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="13"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    run_cli("resume", run_dir, check=True)
    assert _history(run_dir) == _history(lr_scheduler_run)


def test_early_stopping_on_a_diverging_loss_stops_after_its_patience(tmp_path):
    proc = run_cli("run", RECIPES / "early_stopping_loss.yaml", "-o", tmp_path / "run", check=True)
    losses = _history(tmp_path / "run")["loss"]
    assert any(math.isinf(v) or math.isnan(v) for v in losses)
    best = min(range(len(losses)), key=lambda i: losses[i] if math.isfinite(losses[i]) else math.inf)
    assert len(losses) == best + 1 + 3 < 10, losses  # patience 3 after the best epoch
    assert "Traceback" not in proc.stderr


def test_default_still_fails_on_a_nonfinite_loss(tmp_path):
    proc = run_cli("run", RECIPES / "lr_scheduler.yaml", "train.on_nonfinite=fail", "-o", tmp_path / "run")
    assert proc.returncode == 1 and "the loss became inf" in proc.stderr
