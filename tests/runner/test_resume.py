"""Exact resume: a run killed at any moment and resumed equals the run that was never interrupted.

Real processes and real signals: `trainctl run` is started as a subprocess and killed
with SIGKILL (at a chosen step, inside a checkpoint write, or at a random moment) or
stopped with SIGTERM, then `trainctl resume` finishes it.
"""

from __future__ import annotations

import json
import os
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES, cli_env, run_cli, start_cli

RECIPE = FIXTURES / "resume_mix.yaml"  # 32 steps per epoch, checkpoints every 10 steps


def _weights(run_dir: Path) -> tuple[list, list]:
    import keras

    model = keras.saving.load_model(run_dir / "model.keras")
    return [v.numpy() for v in model.weights], [v.numpy() for v in model.optimizer.variables]


def _assert_same_run(a: Path, b: Path) -> None:
    """Same weights, optimizer state and per-epoch logs (times aside) as the reference run."""
    wa, oa = _weights(a)
    wb, ob = _weights(b)
    assert max(float(np.abs(x - y).max()) for x, y in zip(wa, wb)) == 0.0
    assert len(oa) == len(ob)
    assert max(float(np.abs(x - y).max()) for x, y in zip(oa, ob)) == 0.0
    assert json.loads((a / "history.json").read_text()) == json.loads((b / "history.json").read_text())

    def epoch_rows(run_dir):
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        return [{k: v for k, v in r.items() if k not in ("epoch_time", "wall_time")} for r in rows]

    assert epoch_rows(a) == epoch_rows(b)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    run_cli("run", RECIPE, "-o", run_dir, check=True)
    return run_dir


@pytest.mark.parametrize("kill_at", [32, 45, 77])  # an epoch boundary, mid-epoch 2, mid-epoch 3
def test_sigkill_at_step_then_resume_is_exact(reference, tmp_path, kill_at):
    run_dir = tmp_path / "run"
    proc = run_cli("run", RECIPE, "-o", run_dir, env=cli_env(TRAINCTL_TEST_KILL_AT_STEP=str(kill_at)))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert not (run_dir / "model.keras").exists()
    resumed = run_cli("resume", run_dir, check=True)
    assert "resumed from" in resumed.stderr
    _assert_same_run(reference, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert [e["event"] for e in manifest["events"]] == ["start", "resume"]
    assert manifest["status"] == "completed"


def test_sigkill_inside_checkpoint_write_then_resume_is_exact(reference, tmp_path):
    run_dir = tmp_path / "run"
    flag = tmp_path / "paused"
    proc = start_cli("run", RECIPE, "-o", run_dir, env=cli_env(TRAINCTL_TEST_PAUSE_IN_CHECKPOINT_WRITE=str(flag)))
    try:
        for _ in range(3):  # let two checkpoints through, kill inside the third write
            deadline = time.monotonic() + 120
            while not flag.exists():
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline
                time.sleep(0.02)
            if _ < 2:
                flag.unlink()
                time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    leftovers = [p.name for p in (run_dir / "ckpt").iterdir() if p.name.startswith(".")]
    assert leftovers, "the kill should have left a half-written checkpoint directory"
    run_cli("resume", run_dir, check=True)
    _assert_same_run(reference, run_dir)


def test_sigkill_at_random_moment_then_resume_is_exact(reference, tmp_path):
    run_dir = tmp_path / "run"
    proc = start_cli("run", RECIPE, "-o", run_dir)
    deadline = time.monotonic() + 120
    while not list((run_dir / "ckpt").glob("0*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 1.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if not (run_dir / "model.keras").exists():
        run_cli("resume", run_dir, check=True)
    _assert_same_run(reference, run_dir)


def test_sigterm_saves_and_exits_143_then_resume_is_exact(reference, tmp_path):
    run_dir = tmp_path / "run"
    flag = tmp_path / "paused"
    # Deliver SIGTERM while the first checkpoint (step 10) is being written: the handler
    # only records it; the loop saves once more at its next step and stops.
    proc = start_cli("run", RECIPE, "-o", run_dir, env=cli_env(TRAINCTL_TEST_PAUSE_IN_CHECKPOINT_WRITE=str(flag)))
    deadline = time.monotonic() + 120
    while not flag.exists():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    while proc.poll() is None:  # release this and any later paused write
        if flag.exists():
            flag.unlink()
        time.sleep(0.02)
        assert time.monotonic() < deadline + 60
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert f"trainctl resume {run_dir}" in err
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "interrupted" and manifest["exit_code"] == 143
    stopped_at = manifest["events"][-1]["global_step"]
    assert f"checkpoint at step {stopped_at}" in err
    saved = sorted(int(p.name) for p in (run_dir / "ckpt").iterdir() if p.name[0].isdigit())
    assert saved[0] == 10 and saved[-1] == stopped_at
    run_cli("resume", run_dir, check=True)
    _assert_same_run(reference, run_dir)


def test_corrupt_newest_checkpoint_falls_back(reference, tmp_path):
    run_dir = tmp_path / "run"
    run_cli("run", RECIPE, "-o", run_dir, env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="55"))
    # Checkpoints are written in the background: the kill may have caught the newest
    # mid-write (then it is absent); either way two sound ones are there (keep: 2).
    steps = sorted(p for p in (run_dir / "ckpt").iterdir() if p.name[0].isdigit())
    assert len(steps) == 2
    newest, previous = steps[-1], steps[-2]
    weights = next(p for p in newest.iterdir() if p.suffix == ".h5")
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    proc = run_cli("resume", run_dir, check=True)
    assert newest.name in proc.stderr and weights.name in proc.stderr  # reported: which checkpoint, which file
    assert f"resumed from {previous}" in proc.stderr
    _assert_same_run(reference, run_dir)


def test_drift_refused_with_diff_and_epochs_accepted(tmp_path):
    run_dir = tmp_path / "run"
    run_cli("run", RECIPE, "-o", run_dir, "train.epochs=1", check=True)
    proc = run_cli("resume", run_dir, "compile.optimizer.Adam.learning_rate=0.1")
    assert proc.returncode == 2
    assert "compile.optimizer.Adam.learning_rate: 0.002 -> 0.1" in proc.stderr
    assert "--allow-drift" in proc.stderr
    proc = run_cli("resume", run_dir, "train.epochs=2", check=True)
    history = json.loads((run_dir / "history.json").read_text())
    assert len(history["loss"]) == 2
    manifest = json.loads((run_dir / "manifest.json").read_text())
    changed = [e for e in manifest["events"] if e["event"] == "recipe_changed"]
    assert changed and changed[0]["changes"][0]["path"] == "train.epochs" and changed[0]["drift"] is False


def test_run_into_existing_checkpoints_refuses_or_resumes(tmp_path):
    run_dir = tmp_path / "run"
    run_cli("run", RECIPE, "-o", run_dir, env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="20"))
    proc = run_cli("run", RECIPE, "-o", run_dir)
    assert proc.returncode == 2 and "trainctl resume" in proc.stderr
    proc = run_cli("run", RECIPE, "-o", run_dir, "--resume", check=True)
    assert "resumed from" in proc.stderr
