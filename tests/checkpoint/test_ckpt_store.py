"""The checkpoint store: atomic saves, verification and fallback, pruning, crash leftovers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from trainctl.checkpoint import CheckpointError, CheckpointStore, TrainingState, resolve_checkpoint
from trainctl.checkpoint.state import STATE_ARRAYS, STATE_JSON, WEIGHTS_FILE
from trainctl.checkpoint.store import MANIFEST, PAUSE_ENV

REPO = Path(__file__).resolve().parents[2]


def make_state(step: int) -> TrainingState:
    """A state with real content in every file; the store never parses the weights file."""
    return TrainingState(
        weights_h5=bytes([step % 256]) * 64,
        variables={
            "metrics": [{"path": "loss/total", "shape": [], "dtype": "float32", "value": np.float32(step)}]
        },
        rng={"numpy": np.random.RandomState(step).get_state(), "python": None, "keras": None},
        callbacks=[],
        position={"global_step": step},
        extra={},
    )


def saved_steps(store: CheckpointStore) -> list[int]:
    return [int(p.name) for p in store.list()]


def test_save_writes_a_manifest_with_sums_and_the_state_reads_back(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    path = store.save(make_state(5), 5, {"epoch": 1, "recipe_sha256": "ab" * 32})
    assert path == tmp_path / "ckpt" / "000000005"
    manifest = json.loads((path / MANIFEST).read_text())
    assert manifest["step"] == 5 and manifest["meta"] == {"epoch": 1, "recipe_sha256": "ab" * 32}
    assert manifest["saved_at"].endswith("+00:00")
    assert set(manifest["files"]) == {WEIGHTS_FILE, STATE_ARRAYS, STATE_JSON}
    assert manifest["files"][WEIGHTS_FILE]["size"] == 64
    assert store.verify(path) == []

    state = store.load(path)
    assert state.position == {"global_step": 5} and state.weights_h5 == bytes([5]) * 64
    assert state.variables["metrics"][0]["value"].dtype == np.float32
    assert state.rng["numpy"][1].tolist() == np.random.RandomState(5).get_state()[1].tolist()


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-10])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage, file, problem",
    [
        (_truncate, STATE_ARRAYS, "size"),
        (_flip_byte, WEIGHTS_FILE, "sha256"),
        (Path.unlink, STATE_JSON, "missing"),
        (_flip_byte, MANIFEST, "unreadable"),
    ],
)
def test_latest_reports_a_damaged_checkpoint_and_falls_back(tmp_path, damage, file, problem):
    store = CheckpointStore(tmp_path / "ckpt")
    for step in (10, 20):
        store.save(make_state(step), step, {})
    newest = store.list()[-1]
    damage(newest / file)

    problems = []
    path, load = store.latest(on_problem=problems.append)
    assert path.name == "000000010" and load().position == {"global_step": 10}
    assert [(p.checkpoint, p.file, p.problem) for p in problems] == [(newest, file, problem)]
    if problem in ("size", "sha256"):
        entry = json.loads((newest / MANIFEST).read_text())["files"][file]
        assert problems[0].expected == entry[problem] != problems[0].actual
        assert str(problems[0]).startswith(f"checkpoint {newest}: {file}: {problem} (expected ")
    with pytest.raises(CheckpointError, match=f"{file}: {problem}"):
        store.load(newest)


def test_latest_is_none_when_no_checkpoint_is_sound(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    assert store.latest() is None
    store.save(make_state(1), 1, {})
    _truncate(store.list()[0] / WEIGHTS_FILE)
    problems = []
    assert store.latest(on_problem=problems.append) is None
    assert len(problems) == 1


def test_save_prunes_to_keep_and_drops_checkpoints_of_an_abandoned_future(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt", keep=2)
    for step in (1, 2, 3, 4):
        store.save(make_state(step), step, {})
    assert saved_steps(store) == [3, 4]

    # A run resumed from 3 and checkpointing at 3 again replaces it, keeping 4 out:
    # 4 was written by the run that was abandoned.
    store.save(make_state(33), 3, {})
    assert saved_steps(store) == [3]
    assert store.load(store.list()[0]).position == {"global_step": 33}
    assert not any(p.name.startswith(".") for p in store.ckpt_dir.iterdir())


def test_leftovers_are_ignored_and_removed_by_the_next_save(tmp_path):
    store = CheckpointStore(tmp_path / "ckpt")
    store.save(make_state(1), 1, {})
    leftover = tmp_path / "ckpt" / ".000000002.tmp-abc123"
    leftover.mkdir()
    (leftover / WEIGHTS_FILE).write_bytes(b"partial")
    assert saved_steps(store) == [1] and store.latest()[0].name == "000000001"
    store.save(make_state(3), 3, {})
    assert not leftover.exists()


def test_sigkill_inside_the_write_window_leaves_the_previous_checkpoint(tmp_path):
    ckpt = tmp_path / "ckpt"
    CheckpointStore(ckpt).save(make_state(1), 1, {})
    flag = tmp_path / "in-write-window"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, sys.argv[2]); sys.path.insert(0, sys.argv[3]);"
            "from test_ckpt_store import make_state; from trainctl.checkpoint import CheckpointStore;"
            "CheckpointStore(sys.argv[1]).save(make_state(2), 2, {})",
            str(ckpt),
            str(REPO),
            str(Path(__file__).parent),
        ],
        env={**os.environ, PAUSE_ENV: str(flag)},
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert child.poll() is None, "the writer exited before reaching the write window"
            assert time.monotonic() < deadline, "the writer never reached the write window"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    leftovers = [p for p in ckpt.iterdir() if p.name.startswith(".000000002.tmp-")]
    assert len(leftovers) == 1 and (leftovers[0] / MANIFEST).exists()  # killed with its files written

    store = CheckpointStore(ckpt)
    problems = []
    path, load = store.latest(on_problem=problems.append)
    assert (path.name, problems) == ("000000001", [])
    assert load().position == {"global_step": 1}
    store.save(make_state(3), 3, {})
    assert not leftovers[0].exists()


def test_resolve_checkpoint_accepts_run_dir_ckpt_dir_and_one_checkpoint(tmp_path):
    run = tmp_path / "run"
    path = CheckpointStore(run / "ckpt").save(make_state(7), 7, {})
    assert resolve_checkpoint(run) == (run, None)
    assert resolve_checkpoint(run / "ckpt") == (run, None)
    assert resolve_checkpoint(path) == (run, path)
    with pytest.raises(FileNotFoundError, match="not a directory"):
        resolve_checkpoint(run / "nope")
    tmp_leftover = run / "ckpt" / ".000000008.tmp-x"
    tmp_leftover.mkdir()
    with pytest.raises(ValueError, match="named by their step"):
        resolve_checkpoint(tmp_leftover)


def test_save_rejects_meta_that_is_not_json(tmp_path):
    with pytest.raises(TypeError, match="meta must be JSON"):
        CheckpointStore(tmp_path / "ckpt").save(make_state(1), 1, {"loss": np.float32(1.0)})
    assert not (tmp_path / "ckpt").exists()
