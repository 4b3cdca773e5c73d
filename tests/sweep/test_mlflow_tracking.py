"""MLflow tracking against a real `mlflow server`: one MLflow run per run directory, each step once.

The run is SIGKILLed while epochs past its last checkpoint are already on the server, resumed,
stopped with SIGTERM (KILLED), resumed again (FINISHED): each metric then has exactly one
point per epoch, equal to history.json. A server that is down does not stop training.
"""

from __future__ import annotations

import json
import signal
import time

import pytest

from tests.conftest import FIXTURES, cli_env, run_cli, start_cli
from tests.sweep.mlflow_server import free_port

pytest.importorskip("mlflow")

RECIPE = FIXTURES / "sweep_tiny.yaml"
# 4 steps per epoch, a checkpoint at each epoch end only.
OVERRIDES = ["train.epochs=3", "checkpoint={every_epochs: 1, keep: 2}"]


def _client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(uri)


def _wait_for(predicate, what: str, proc=None, timeout: float = 50):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc is None or proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killed_and_resumed_run_logs_every_epoch_exactly_once(mlflow_server, tmp_path):
    server = mlflow_server
    run_dir = tmp_path / "run"
    flag = tmp_path / "paused"
    mlflow = f"logs.mlflow={{tracking_uri: '{server}', experiment: exact, tags: {{team: t}}}}"
    proc = start_cli("run", RECIPE, *OVERRIDES, mlflow, "logs.per_batch=true", "-o", run_dir,
                     env=cli_env(TRAINCTL_TEST_PAUSE_IN_CHECKPOINT_WRITE=str(flag)))
    client = _client(server)
    try:
        _wait_for(flag.exists, "the first checkpoint", proc, timeout=600)
        flag.unlink()  # epoch 1's checkpoint completes
        _wait_for(flag.exists, "the second checkpoint", proc)
        # Epoch 2's checkpoint is held; training goes on and logs epochs 2 and 3 meanwhile.
        # The run id is recorded by the tracker's thread once the server has answered.
        _wait_for((run_dir / "mlflow.json").exists, "mlflow.json", proc)
        run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]
        _wait_for(lambda: len(client.get_metric_history(run_id, "loss")) == 3, "epochs 2-3 on the server", proc)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
    assert client.get_run(run_id).info.status == "RUNNING"

    # Resumed from epoch 1's checkpoint, stopped by SIGTERM during epoch 2: KILLED.
    stopped = run_cli("resume", run_dir, env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="6",
                                                     TRAINCTL_TEST_KILL_SIGNAL="SIGTERM"))
    assert stopped.returncode == 143, stopped.stderr
    assert client.get_run(run_id).info.status == "KILLED"

    run_cli("resume", run_dir, check=True)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert json.loads((run_dir / "mlflow.json").read_text())["run_id"] == run_id
    history = json.loads((run_dir / "history.json").read_text())
    batch_keys = {"batch_loss", "batch_sparse_categorical_accuracy"}
    assert set(run.data.metrics) == {*history, "lr", *batch_keys}
    for key in run.data.metrics:
        points = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        # One point per epoch (per global step for batch_*): no duplicates, no gaps.
        assert [s for s, _ in points] == (list(range(1, 13)) if key in batch_keys else [0, 1, 2]), key
        if key in history:
            assert [v for _, v in points] == pytest.approx(history[key], rel=1e-6), key
    assert run.data.params["train.epochs"] == "3"
    assert run.data.params["compile.optimizer.Adam.learning_rate"] == "0.001"
    assert run.data.tags["team"] == "t"
    assert {a.path for a in client.list_artifacts(run_id)} >= {"model.keras", "recipe.yaml", "manifest.json"}
    assert len(client.search_runs([run.info.experiment_id])) == 1


def test_a_tracking_server_that_is_down_does_not_stop_training(tmp_path):
    run_dir = tmp_path / "run"
    down = f"http://127.0.0.1:{free_port()}"
    proc = run_cli("run", RECIPE, f"logs.mlflow={{tracking_uri: '{down}'}}", "-o", run_dir,
                   env=cli_env(TRAINCTL_MLFLOW_FLUSH_TIMEOUT="2"))
    assert proc.returncode == 0, proc.stderr
    assert (run_dir / "model.keras").is_file()
    assert f"MLflow: cannot log to {down}" in proc.stderr
    assert "training goes on, buffering and retrying" in proc.stderr
    assert "MLflow: could not log" in proc.stderr
    unlogged = json.loads((run_dir / "mlflow.json").read_text())["unlogged"]
    assert unlogged["metric_points"] == 2 * 5  # 2 epochs x (loss, accuracy, val_loss, val_accuracy, lr)
    assert unlogged["status"] == "FINISHED" and unlogged["params"] > 0


def test_a_failed_run_is_marked_failed(mlflow_server, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli("run", RECIPE, "compile.optimizer.Adam.learning_rate=1.0e+30",
                   f"logs.mlflow={{tracking_uri: '{mlflow_server}', experiment: failing}}", "-o", run_dir)
    assert proc.returncode == 1 and "the loss became nan" in proc.stderr, proc.stderr
    run_id = json.loads((run_dir / "mlflow.json").read_text())["run_id"]
    assert _client(mlflow_server).get_run(run_id).info.status == "FAILED"
