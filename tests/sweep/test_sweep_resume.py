"""A sweep killed with SIGKILL (controller and trials) and resumed equals the sweep never interrupted.

Real processes: `trainctl sweep` in its own process group, killed with `killpg(SIGKILL)` once
the second trial has a checkpoint, then `trainctl sweep --resume`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FIXTURES, cli_env, run_cli, trainctl_cmd

RECIPE = FIXTURES / "sweep_tiny.yaml"
GRID = f"""recipe: {RECIPE}
grid:
  compile.optimizer.Adam.learning_rate: [1.0e-3, 3.0e-3]
  train.batch_size: [64, 32]
metric: val_loss
mode: min
"""


def _events(trial_dir: Path) -> list[str]:
    return [e["event"] for e in json.loads((trial_dir / "manifest.json").read_text())["events"]]


def _same_trial(a: Path, b: Path) -> None:
    import keras

    ma, mb = keras.saving.load_model(a / "model.keras"), keras.saving.load_model(b / "model.keras")
    for x, y in zip([*ma.weights, *ma.optimizer.variables], [*mb.weights, *mb.optimizer.variables]):
        assert np.array_equal(np.asarray(x), np.asarray(y)), x.path
    assert json.loads((a / "history.json").read_text()) == json.loads((b / "history.json").read_text())
    assert (a / "recipe.yaml").read_text() == (b / "recipe.yaml").read_text()


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sweep") / "grid.yaml"
    path.write_text(GRID)
    return path


@pytest.fixture(scope="module")
def uninterrupted(sweep_file) -> Path:
    out = sweep_file.parent / "uninterrupted"
    run_cli("sweep", sweep_file, "-o", out, check=True, timeout=1800)
    return out


def test_grid_killed_and_resumed_runs_each_planned_trial_once_and_equals_the_uninterrupted(
        sweep_file, uninterrupted, tmp_path):
    out = tmp_path / "killed"
    kill_when_second_trial_checkpointed(sweep_file, out)
    first = out / "trials" / "trial-000"
    first_manifest = (first / "manifest.json").read_text()
    assert json.loads(first_manifest)["status"] == "completed"
    assert not (out / "trials" / "trial-001" / "model.keras").exists()
    assert not (out / "trials" / "trial-002").exists()

    changed = sweep_file.parent / "changed.yaml"
    changed.write_text(GRID.replace("[64, 32]", "[64, 16]"))
    refused = run_cli("sweep", changed, "-o", out, "--resume")
    assert refused.returncode == 2
    assert "-  train.batch_size: [64, 32]" in refused.stderr and "+  train.batch_size: [64, 16]" in refused.stderr
    assert run_cli("sweep", sweep_file, "-o", out).returncode == 2  # an existing sweep needs --resume

    resumed = run_cli("sweep", sweep_file, "-o", out, "--resume", check=True, timeout=1800)
    assert "trial-000" not in resumed.stderr.split("sweep directory")[1].split("trial-001")[0]
    assert "trial-001 resumed" in resumed.stderr and "trial-002 started" in resumed.stderr

    trials = sorted(p.name for p in (out / "trials").iterdir())
    assert trials == ["trial-000", "trial-001", "trial-002", "trial-003"]
    assert (first / "manifest.json").read_text() == first_manifest  # completed: kept, not run again
    assert _events(out / "trials" / "trial-001") == ["start", "resume"]
    assert _events(out / "trials" / "trial-002") == ["start"] == _events(out / "trials" / "trial-003")
    for name in trials:
        _same_trial(uninterrupted / "trials" / name, out / "trials" / name)

    state = json.loads((out / "sweep.json").read_text())
    assert {t["status"] for t in state["trials"].values()} == {"completed"}
    ranked = [line.split(",") for line in (out / "sweep.csv").read_text().splitlines()[1:]]
    values = [float(row[4]) for row in ranked]
    assert values == sorted(values) and len(values) == 4
    assert (out / "sweep.png").stat().st_size > 0
    listing = run_cli("runs", out, check=True).stdout
    assert listing.index(ranked[0][0]) < listing.index(ranked[-1][0])
    # Each trial is an ordinary run directory.
    assert run_cli("resume", out / "trials" / "trial-002").returncode == 0


def kill_when_second_trial_checkpointed(sweep_file: Path, out: Path) -> None:
    """Start `trainctl sweep` in its own process group; SIGKILL the controller and its trials at once
    as soon as the second trial has a checkpoint."""
    proc = subprocess.Popen([*trainctl_cmd(), "sweep", str(sweep_file), "-o", str(out)], env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    second = out / "trials" / "trial-001" / "ckpt"
    deadline = time.monotonic() + 900
    while not (second.is_dir() and any(p.name[0].isdigit() for p in second.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
