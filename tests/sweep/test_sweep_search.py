"""Full-scale sweep checks (`pytest -m slow tests/sweep`): an Optuna search with MLflow, killed and resumed."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.conftest import FIXTURES, cli_env, run_cli, trainctl_cmd
from tests.sweep.test_sweep_resume import _events, _same_trial, kill_when_second_trial_checkpointed

pytestmark = pytest.mark.slow


def _study(out):
    import optuna

    state = json.loads((out / "sweep.json").read_text())
    return optuna.load_study(study_name=state["optuna"]["study"], storage=state["optuna"]["storage"])


def test_search_killed_and_resumed_plans_the_same_trials_nested_in_one_mlflow_run(mlflow_server, tmp_path):
    pytest.importorskip("optuna")
    from mlflow.tracking import MlflowClient

    sweep = tmp_path / "search.yaml"
    sweep.write_text(f"""recipe: {FIXTURES / 'sweep_tiny.yaml'}
overrides: {{logs.mlflow: {{tracking_uri: '{mlflow_server}', experiment: search}}}}
search:
  compile.optimizer.Adam.learning_rate: {{loguniform: [1.0e-4, 1.0e-1]}}
  train.batch_size: {{choice: [32, 64]}}
trials: 4
pruning: false
seed: 3
""")
    reference = tmp_path / "reference"
    run_cli("sweep", sweep, "-o", reference, check=True, timeout=1800)

    out = tmp_path / "killed"
    kill_when_second_trial_checkpointed(sweep, out)
    run_cli("sweep", sweep, "-o", out, "--resume", check=True, timeout=1800)

    ref_trials, trials = _study(reference).trials, _study(out).trials
    assert [t.number for t in trials] == [0, 1, 2, 3]
    assert {t.state.name for t in trials} == {"COMPLETE"}
    assert [t.params for t in trials] == [t.params for t in ref_trials]  # the same plan, resumed or not
    assert sorted(p.name for p in (out / "trials").iterdir()) == [f"trial-00{i}" for i in range(4)]
    assert _events(out / "trials" / "trial-001") == ["start", "resume"]
    for name in ("trial-000", "trial-001", "trial-002", "trial-003"):
        _same_trial(reference / "trials" / name, out / "trials" / name)

    client = MlflowClient(mlflow_server)
    parent = json.loads((out / "sweep.json").read_text())["mlflow_parent_run_id"]
    assert client.get_run(parent).info.status == "FINISHED"
    experiment = client.get_experiment_by_name("search").experiment_id
    children = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 4
    for run in children:
        assert run.info.status == "FINISHED"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")] == [0, 1]


def test_two_hosts_on_one_storage_share_the_trials_without_running_any_twice(tmp_path):
    pytest.importorskip("optuna")
    sweep = tmp_path / "shared.yaml"
    sweep.write_text(f"""recipe: {FIXTURES / 'sweep_tiny.yaml'}
search:
  compile.optimizer.Adam.learning_rate: {{loguniform: [1.0e-4, 1.0e-1]}}
trials: 4
""")
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    hosts = [subprocess.Popen([*trainctl_cmd(), "sweep", str(sweep), "-o", str(tmp_path / f"host{i}"),
                               "--storage", storage], env=cli_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for i in range(2)]
    for host in hosts:
        assert host.wait(1800) == 0, host.stderr.read()
    ran = sorted(p.name for i in range(2) for p in (tmp_path / f"host{i}" / "trials").iterdir())
    assert ran == ["trial-000", "trial-001", "trial-002", "trial-003"]  # each number on one host only
    # A host that asked for one past the budget marks it failed; the 4 planned all ran (one may be pruned).
    assert {t.state.name for t in _study(tmp_path / "host0").trials if t.number < 4} <= {"COMPLETE", "PRUNED"}
