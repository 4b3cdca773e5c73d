"""A run directory never lies: every way out of a run is recorded, one process writes it at a time,
an edited recipe or a checkpoint with bad content is caught on resume, an unreadable manifest is kept.

Each test drives the real `trainctl` in a subprocess.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES, RECIPES, cli_env, run_cli, start_cli

RECIPE = FIXTURES / "resume_mix.yaml"
SMALL = ["data.train.slice=[0,512]", "data.validation.slice=[-128,null]", "train.epochs=2",
         "checkpoint.every_steps=3"]  # 8 steps an epoch


def _manifest(run_dir: Path) -> dict:
    return json.loads((run_dir / "manifest.json").read_text())


def _wait_for(path: Path, proc, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def _weights(run_dir: Path) -> list:
    import keras

    return [v.numpy() for v in keras.saving.load_model(run_dir / "model.keras").weights]


def test_failure_inside_keras_is_recorded_not_left_running(tmp_path):
    # A one-hot loss on class indices fails inside Keras's loss, at the first step (no check before
    # training knows every loss's label form; metrics are checked, so AUC would be exit 2 now).
    run_dir = tmp_path / "run"
    proc = run_cli("run", RECIPES / "mnist_mlp.yaml", "--smoke", "compile.loss=CategoricalCrossentropy",
                   "compile.metrics=[]", "-o", run_dir)
    assert proc.returncode == 1, proc.stderr
    manifest = _manifest(run_dir)
    assert manifest["status"] == "failed" and manifest["exit_code"] == 1 and manifest["ended"]
    assert "ValueError" in manifest["error"] and manifest["error"].splitlines()[0] in proc.stderr
    listed = run_cli("runs", tmp_path, check=True)
    assert "failed" in listed.stdout + listed.stderr and "running" not in listed.stdout + listed.stderr
    evaluated = run_cli("eval", run_dir)
    assert evaluated.returncode == 2 and "the run failed (exit 1: ValueError" in evaluated.stderr


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143),
                                       pytest.param(signal.SIGINT, 130, marks=pytest.mark.slow)])
def test_signal_as_soon_as_the_run_starts_is_recorded(tmp_path, sig, code):
    # Sent while the model is still being built: before the loop owns the signals.
    run_dir = tmp_path / "run"
    proc = start_cli("run", RECIPE, *SMALL, "-o", run_dir)
    _wait_for(run_dir / "manifest.json", proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    manifest = _manifest(run_dir)
    assert (manifest["status"], manifest["exit_code"]) == ("interrupted", code) and manifest["ended"]
    assert "Traceback" not in err


@pytest.mark.slow  # three runs
def test_resume_without_checkpoint_starts_from_step_0_like_a_fresh_run(tmp_path):
    fresh, killed = tmp_path / "fresh", tmp_path / "killed"
    run_cli("run", RECIPE, *SMALL, "checkpoint.every_steps=null", "-o", fresh, check=True)
    proc = run_cli("run", RECIPE, *SMALL, "checkpoint.every_steps=null", "-o", killed,
                   env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="2"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (killed / "recipe.yaml").is_file() and not (killed / "ckpt").exists()
    resumed = run_cli("resume", killed, check=True)
    assert "no checkpoint yet: training from step 0" in resumed.stderr
    for a, b in zip(_weights(fresh), _weights(killed)):
        np.testing.assert_array_equal(a, b)
    assert json.loads((fresh / "history.json").read_text()) == json.loads((killed / "history.json").read_text())
    assert _manifest(killed)["status"] == "completed"


def test_resume_of_a_missing_directory_is_exit_2(tmp_path):
    proc = run_cli("resume", tmp_path / "nowhere")
    assert proc.returncode == 2 and "is not a directory" in proc.stderr and "Traceback" not in proc.stderr


def test_second_process_on_a_run_directory_is_refused_and_a_dead_holder_does_not_block(tmp_path):
    run_dir = tmp_path / "run"
    first = start_cli("run", RECIPE, "-o", run_dir, env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="20",
                                                                 TRAINCTL_TEST_KILL_SIGNAL="SIGSTOP"))
    try:
        _wait_for(run_dir / "ckpt", first)  # the first is training, and stops itself (SIGSTOP) at step 20
        for args in (("run", RECIPE, "-o", run_dir, "--resume"), ("resume", run_dir)):
            second = run_cli(*args)
            assert second.returncode == 2, second.stderr
            assert f"in use by another trainctl (process {first.pid})" in second.stderr
    finally:
        first.kill()
        first.communicate()
    resumed = run_cli("resume", run_dir, "train.epochs=1")  # its lock died with it
    assert resumed.returncode == 0, resumed.stderr


@pytest.fixture
def stopped_run(tmp_path) -> Path:
    """A run killed mid-epoch 2, with checkpoints at steps 3, 6, 8 (epoch end) and 9 (keep: 2)."""
    run_dir = tmp_path / "run"
    proc = run_cli("run", RECIPE, *SMALL, "checkpoint.keep=3", "-o", run_dir,
                   env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="11"))
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return run_dir


def test_edited_recipe_file_goes_through_the_drift_check(stopped_run):
    recipe = stopped_run / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("learning_rate: 0.002", "learning_rate: 0.1"))
    refused = run_cli("resume", stopped_run, "train.epochs=3")
    assert refused.returncode == 2, refused.stderr
    assert "recipe.yaml was edited after the checkpoint was saved" in refused.stderr
    assert "compile.optimizer.Adam.learning_rate: 0.002 -> 0.1" in refused.stderr
    allowed = run_cli("resume", stopped_run, "--allow-drift")
    assert allowed.returncode == 0, allowed.stderr
    changed = [e for e in _manifest(stopped_run)["events"] if e["event"] == "recipe_changed"]
    assert changed[-1]["drift"] and changed[-1]["edited_file"]


@pytest.mark.slow
def test_edited_recipe_file_with_a_safe_change_resumes(stopped_run):
    recipe = stopped_run / "recipe.yaml"
    recipe.write_text(recipe.read_text().replace("epochs: 2", "epochs: 3"))
    proc = run_cli("resume", stopped_run)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads((stopped_run / "history.json").read_text())["loss"]) == 3


def _resum(ckpt: Path) -> None:
    """Make checkpoint.json's sums match the files again, as someone 'repairing' a checkpoint would."""
    from trainctl.atomic import sha256_file

    manifest = json.loads((ckpt / "checkpoint.json").read_text())
    for name, entry in manifest["files"].items():
        entry.update(sha256=sha256_file(ckpt / name), size=(ckpt / name).stat().st_size)
    (ckpt / "checkpoint.json").write_text(json.dumps(manifest))


def _wrong_shape_array(ckpt: Path) -> None:
    with np.load(ckpt / "state.npz") as npz:
        arrays = dict(npz)
    key = next(k for k, v in arrays.items() if v.ndim == 1 and v.size > 1)
    arrays[key] = np.concatenate([arrays[key], arrays[key]])
    with open(ckpt / "state.npz", "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage, file", [
    (lambda ckpt: (ckpt / "state.json").write_text("{not json"), "state.json"),
    pytest.param(_wrong_shape_array, "state.npz", marks=pytest.mark.slow),
])
def test_checkpoint_with_bad_content_falls_back_to_the_previous_one(stopped_run, damage, file):
    newest = sorted((stopped_run / "ckpt").iterdir())[-1]
    damage(newest)
    _resum(newest)
    named = run_cli("resume", newest)  # named explicitly: no fallback, but the file is named, exit 1, no traceback
    assert named.returncode == 1 and f"{file}: content" in named.stderr and "Traceback" not in named.stderr
    proc = run_cli("resume", stopped_run)
    assert proc.returncode == 0, proc.stderr
    assert f"skipping damaged checkpoint: checkpoint {newest}: {file}: content" in proc.stderr
    assert "resumed from" in proc.stderr and newest.name not in proc.stderr.split("resumed from")[1].split("\n")[0]


@pytest.mark.slow
def test_unreadable_manifest_is_reported_and_kept_aside(stopped_run):
    (stopped_run / "manifest.json").write_text("{garbage")
    proc = run_cli("resume", stopped_run)
    assert proc.returncode == 0, proc.stderr
    kept = list(stopped_run.glob("manifest.json.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{garbage"
    assert "manifest.json could not be read" in proc.stderr
    assert _manifest(stopped_run)["status"] == "completed"
