"""`compile.steps_per_execution: auto`: fewer trips through the loop, the same run.

Runs are real trainings in this process (the runner's `start`), small and seeded;
"the same run" means bit-identical weights, optimizer state, history and per-epoch
metrics, as tests/runner/test_resume.py asserts for a resumed run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES

RECIPE = FIXTURES / "resume_mix.yaml"  # 32 steps per epoch, 4 epochs, checkpoints every 10 steps


def _train(out: Path, *overrides: str) -> Path:
    from trainctl.recipe import load_recipe
    from trainctl.runner.run import start

    start(load_recipe(RECIPE, list(overrides)), out, command=["test"])
    return out


def _state(run_dir: Path):
    from trainctl.backend import keras

    model = keras.saving.load_model(run_dir / "model.keras")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if k not in ("epoch_time", "wall_time")} for r in rows]
    return ([v.numpy() for v in model.weights], [v.numpy() for v in model.optimizer.variables],
            json.loads((run_dir / "history.json").read_text()), rows)


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    return _train(tmp_path_factory.mktemp("spe1") / "run", "compile.steps_per_execution=1")


@pytest.mark.parametrize("overrides", [
    (),  # auto, executions end at every 10th step (checkpoints)
    ("checkpoint.every_steps=null",),  # auto, executions as long as an epoch allows
    ("compile.steps_per_execution=7",),  # explicit, dividing neither the epoch nor the checkpoint period
], ids=["auto", "auto-epoch-long", "explicit-7"])
def test_steps_per_execution_gives_the_same_run(reference, tmp_path, overrides, request, monkeypatch):
    # Executions as long as the plan allows, whatever the machine's load (so they are fused).
    monkeypatch.setattr("trainctl.runner.execution.TARGET_SECONDS", 60.0)
    run_dir = _train(tmp_path / "run", *overrides)
    ours, ref = _state(run_dir), _state(reference)
    for a, b in zip(ours[0] + ours[1], ref[0] + ref[1]):
        np.testing.assert_array_equal(a, b)
    assert ours[2:] == ref[2:]
    assert _manifest(run_dir)["global_step"] == _manifest(reference)["global_step"]
    plan = _manifest(run_dir)["steps_per_execution"]
    expected = {"auto": (10, "on", "on"), "auto-epoch-long": (32, "on", "on"),  # as long as boundaries allow
                "explicit-7": (7, "off: compile.steps_per_execution is a number", "off")}
    assert (plan["max_steps"], plan["fused"], plan["fused_validation"]) == expected[request.node.callspec.id]


@pytest.mark.parametrize("overrides", [
    ("data.validation.slice=[-500, null]",),  # 7 full batches fused, the last of 52 on its own
    ("train.validation_steps=5",),  # fewer batches than the data has
    ("data.validation.slice=[-500, null]", "train.validation_batch_size=100", "checkpoint.every_steps=null"),
], ids=["partial-batch", "validation-steps", "validation-batch-size"])
def test_fused_validation_equals_keras_evaluate(tmp_path, overrides, monkeypatch):
    # Validation as one scan over batches on the device gives Keras's evaluate, to the last bit.
    monkeypatch.setattr("trainctl.runner.execution.TARGET_SECONDS", 60.0)
    quick = ("train.epochs=2", "data.train.slice=[0, 1024]")
    reference = _train(tmp_path / "ref", *quick, *overrides, "compile.steps_per_execution=1")
    run_dir = _train(tmp_path / "run", *quick, *overrides)
    ours, ref = _state(run_dir), _state(reference)
    assert ours[2:] == ref[2:]
    assert any(key.startswith("val_") for key in ours[2])
    assert _manifest(run_dir)["steps_per_execution"]["fused_validation"] == "on"


def test_validation_is_not_fused_for_a_callback_that_sees_validation_batches(tmp_path, monkeypatch):
    monkeypatch.setattr("trainctl.runner.execution.TARGET_SECONDS", 60.0)
    run_dir = _train(tmp_path / "run", "train.epochs=2", "data.train.slice=[0, 1024]", "checkpoint.every_steps=null",
                     "imports=[validation_hooks]", "callbacks=[{class: 'validation_hooks:CountValidationBatches'}]")
    plan = _manifest(run_dir)["steps_per_execution"]
    assert (plan["fused"], plan["fused_validation"]) == ("on", "off")


def test_checkpoints_and_batch_rows_land_on_their_steps(tmp_path):
    run_dir = _train(tmp_path / "run", "checkpoint.every_steps=8", "checkpoint.keep=100", "train.epochs=2",
                     "callbacks=[]")
    steps = sorted(int(p.name) for p in (run_dir / "ckpt").iterdir() if p.name.isdigit())
    assert steps == [8, 16, 24, 32, 40, 48, 56, 64]  # 32 steps an epoch: every 8th, and the epoch ends
    plan = _manifest(run_dir)["steps_per_execution"]
    assert plan["max_steps"] == 8 and plan["boundaries"] == [8]


def test_per_batch_logs_need_every_step(tmp_path):
    run_dir = _train(tmp_path / "run", "logs.per_batch=true", "train.epochs=1", "callbacks=[]")
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["batch"] for r in rows if "batch" in r] == list(range(1, 33))
    assert _manifest(run_dir)["steps_per_execution"]["max_steps"] == 1


def test_a_recipe_callback_with_batch_hooks_gets_every_batch(tmp_path):
    run_dir = _train(tmp_path / "run", "train.epochs=1", "callbacks=[TerminateOnNaN]")
    plan = _manifest(run_dir)["steps_per_execution"]
    assert plan["max_steps"] == 1
    assert "callbacks[0] (TerminateOnNaN)" in plan["reason"]


def test_drop_remainder_skips_the_partial_batch(tmp_path):
    run_dir = _train(tmp_path / "run", "data.train.slice=[0, 2000]", "train.epochs=2", "train.drop_remainder=true",
                     "checkpoint.every_steps=null")
    assert _manifest(run_dir)["global_step"] == 2 * (2000 // 64)
