"""Two processes on loopback (jax.distributed, CPU collectives, two devices each) train as one run.

The MNIST MLP recipe over 2 processes x 2 devices equals the single-process run; a
SIGTERM to one process stops both at the same step; a process killed mid-run and
both resumed give the same run as never stopping; another topology is refused.
"""

from __future__ import annotations

import json
import shutil
import signal

import pytest

from tests.conftest import run_cli

from .helpers import MLP_DP, SMALL, device_env, explain, max_difference, run_processes

ARGS = [*SMALL, "checkpoint.every_steps=3"]  # 8 steps per epoch: checkpoints mid-epoch too


def checkpoints(run_dir) -> list[str]:
    return sorted(p.name for p in (run_dir / "ckpt").iterdir() if p.name.isdigit())


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, jax_cache):
    run_dir = tmp_path_factory.mktemp("two") / "run"
    results = run_processes(["run", MLP_DP, "-o", run_dir, *ARGS], 2, jax_cache)
    assert [r.returncode for r in results] == [0, 0], explain(results)
    return run_dir, results


def test_two_processes_equal_the_single_process_run(single_device_run, two_process_run):
    run_dir, results = two_process_run
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "completed"
    assert manifest["topology"] == {"processes": 2, "devices": 4, "mesh_shape": [4], "axis_names": ["batch"],
                                    "platform": "cpu"}
    meta = json.loads((run_dir / "ckpt" / checkpoints(run_dir)[-1] / "checkpoint.json").read_text())["meta"]
    assert meta["topology"] == manifest["topology"]
    assert max_difference(single_device_run, run_dir) <= 1e-6
    # Process 0 alone reports and writes; process 1 only trains.
    assert "model saved to" in results[0].stdout + results[0].stderr
    assert "model saved to" not in results[1].stdout + results[1].stderr
    assert "Epoch 3/3" in results[0].stdout + results[0].stderr
    assert "Epoch 3/3" not in results[1].stdout + results[1].stderr


def test_sigterm_stops_both_processes_and_a_killed_process_resumes_exactly(two_process_run, jax_cache, tmp_path):
    run_dir = tmp_path / "run"
    # SIGTERM to process 1 alone: JAX's preemption service stops both at the same step, with a checkpoint.
    stopped = run_processes(["run", MLP_DP, "-o", run_dir, *ARGS], 2, jax_cache,
                            extra_env={1: {"TRAINCTL_TEST_KILL_AT_STEP": "5",
                                           "TRAINCTL_TEST_KILL_SIGNAL": "SIGTERM"}})
    assert [r.returncode for r in stopped] == [143, 143], explain(stopped)
    events = json.loads((run_dir / "manifest.json").read_text())["events"]
    step = next(e["global_step"] for e in events if e["event"] == "interrupted")
    assert 5 <= step < 20 and checkpoints(run_dir)[-1] == f"{step:09d}", (step, checkpoints(run_dir))
    for result in stopped:
        assert f"after saving a checkpoint at step {step}" in result.stderr

    # Resume both; SIGKILL process 1 mid-run: process 0 cannot go on alone, the checkpoints stay sound.
    killed = run_processes(["resume", run_dir], 2, jax_cache,
                           extra_env={1: {"TRAINCTL_TEST_KILL_AT_STEP": str(step + 4)}})
    assert killed[1].returncode == -signal.SIGKILL, explain(killed)
    assert killed[0].returncode != 0, explain(killed)
    assert not (run_dir / "model.keras").exists()
    newest = int(checkpoints(run_dir)[-1])
    assert step < newest < step + 4

    # Resume both again: the run equals the one that never stopped, bit for bit.
    resumed = run_processes(["resume", run_dir], 2, jax_cache)
    assert [r.returncode for r in resumed] == [0, 0], explain(resumed)
    assert f"ckpt/{newest:09d}" in resumed[0].stdout + resumed[0].stderr
    assert max_difference(two_process_run[0], run_dir) == 0.0


def test_resume_on_another_topology_is_refused(two_process_run, jax_cache, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(two_process_run[0], run_dir)
    proc = run_cli("resume", run_dir, "train.epochs=4", env=device_env(4, jax_cache))
    assert proc.returncode == 2, proc.stderr
    assert "the checkpoint was written by a run on 2 processes, 4 cpu devices, mesh batch=4, but this resume " \
           "runs on 1 process, 4 cpu devices, mesh batch=4" in proc.stderr
    assert "--allow-drift" in proc.stderr
