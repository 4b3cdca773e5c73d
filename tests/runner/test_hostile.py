"""A recipe cannot reach outside its limits, and bad data or settings stop with exit 2 before training.

Through the real command in a subprocess: planted modules beside a recipe never run,
callback paths stay in the run directory, a read-only run directory or a full disk
ends with exit 74 naming the path (the last good checkpoint kept). Data problems
(sizes, dtypes, empty splits, labels, metric forms, monitors) are checked in-process
through the CLI's `main` (the same code path, without paying for a Keras import per
case); `pytest -m slow` runs each of them through a subprocess too.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli_env, run_cli
from trainctl.cli import main

BASE = """\
name: h
seed: 0
data:
  train: {source: npz, path: d.npz}
  x: x
  y: y
model:
  inputs: {x: {shape: [4]}}
  layers:
    - {Dense: {units: 8, activation: relu}}
  outputs:
    y: {Dense: {units: 10, activation: softmax}}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
train: {epochs: 1, batch_size: 16}
"""


def _data(directory: Path) -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 64)
    np.savez(directory / "d.npz", x=rng.random((64, 4)).astype("float32"), y=y, y57=np.r_[y[:-1], 57],
             yneg=np.r_[-1, y[1:]], ynan=np.r_[np.nan, y[1:]].astype("float32"),
             xc=(rng.random((64, 4)) + 1j).astype("complex64"), ys=np.array(["cat"] * 64), yshort=y[:63],
             xstr=np.array([["a"] * 4] * 64))
    np.savez(directory / "empty.npz")
    (directory / "header_only.csv").write_text("a,b,c,d,y\n", encoding="utf-8")


def _snapshot(root: Path, skip: Path | None = None) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if skip is None or skip not in (p, *p.parents)}


def _with_callbacks(entry: str, train: str = "") -> list[tuple[str, str]]:
    """The edit adding `callbacks: [entry]` (and `train` settings) to BASE."""
    return [("\ntrain: {", f"\ncallbacks: [{entry}]\ntrain: {{{train}")]


# name: (edit of BASE as (old, new) pairs, text expected in the error, the line it is reported at)
RUN_CASES = {
    "x/y lengths differ": ([("  y: y\n", "  y: yshort\n")], "different numbers of samples ('x' 64, 'yshort' 63)",
                           "  train:"),
    "string npz array": ([("  x: x\n", "  x: xstr\n")], "array 'xstr' holds <U1 values (text)", "  train:"),
    "label 57 of 10 classes": ([("  y: y\n", "  y: y57\n")], "class indices in [0, 10) for the model's 10-unit "
                               "output, found 57", "  train:"),
    "label -1": ([("  y: y\n", "  y: yneg\n")], "found -1", "  train:"),
    "NaN label": ([("  y: y\n", "  y: ynan\n")], "holds NaN or infinite values at 1 sample (the first at index 0)",
                  "  train:"),
    "complex input": ([("  x: x\n", "  x: xc\n")], "array 'xc' holds complex numbers", "  train:"),
    "CategoricalAccuracy on sparse labels": ([("[accuracy]", "[CategoricalAccuracy]")],
                                             "metric CategoricalAccuracy compares one-hot labels", "  metrics:"),
    "AUC on 10-class sparse labels": ([("[accuracy]", "[accuracy, AUC]")], "metric AUC scores binary",
                                      "  metrics:"),
    "unknown monitor": (_with_callbacks("{EarlyStopping: {monitor: val_acuracy}}", "validation_split: 0.25, "),
                        "EarlyStopping monitors 'val_acuracy', which the model does not log "
                        "(did you mean 'val_accuracy'?)", "callbacks:"),
    "val_ monitor without validation": (_with_callbacks("{ReduceLROnPlateau: {monitor: val_loss}}"),
                                        "ReduceLROnPlateau monitors 'val_loss', but the run has no validation data",
                                        "callbacks:"),
}


def _recipe(directory: Path, edits) -> Path:
    text = BASE
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = directory / "recipe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _line_of(path: Path, start: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if line.startswith(start))


def _main(*args: str) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
    return code, err.getvalue()


def _assert_refused(tmp_path: Path, case: str, code: int, err: str, recipe: Path) -> None:
    _, expected, line_start = RUN_CASES[case]
    assert code == 2, err
    assert f"{recipe}:{_line_of(recipe, line_start)}:" in err, err
    assert expected in err, err
    assert "Traceback" not in err
    # Refused before the first step: no checkpoint was written.
    assert not list((tmp_path / "run").rglob("ckpt/0*")), sorted(_snapshot(tmp_path / "run"))


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_bad_data_and_settings_stop_before_training(tmp_path, case):
    _data(tmp_path)
    recipe = _recipe(tmp_path, RUN_CASES[case][0])
    before = _snapshot(tmp_path)
    code, err = _main("run", str(recipe), "-o", str(tmp_path / "run"))
    _assert_refused(tmp_path, case, code, err, recipe)
    assert _snapshot(tmp_path, skip=tmp_path / "run") == before


@pytest.mark.slow
@pytest.mark.parametrize("case", list(RUN_CASES))
def test_bad_data_and_settings_through_a_subprocess(tmp_path, case):
    _data(tmp_path)
    recipe = _recipe(tmp_path, RUN_CASES[case][0])
    before = _snapshot(tmp_path)
    proc = run_cli("run", recipe, "-o", tmp_path / "run", cwd=tmp_path)
    _assert_refused(tmp_path, case, proc.returncode, proc.stderr, recipe)
    assert _snapshot(tmp_path, skip=tmp_path / "run") == before


# Refused by `validate`, each at its line: (edits, expected, line start)
VALIDATE_CASES = {
    "empty npz": ([("path: d.npz}", "path: empty.npz}")], "empty.npz holds no arrays", "  train:"),
    "CSV with a header and no rows": ([("{source: npz, path: d.npz}", "{source: csv, path: header_only.csv}"),
                                       ("  x: x\n", "  x: [a, b, c, d]\n")],
                                      "header_only.csv has a header row and no data rows", "  train:"),
    "slice [500, 10]": ([("path: d.npz}", "path: d.npz, slice: [500, 10]}")],
                        "slice [500, 10] selects no samples: its stop is not after its start "
                        "(did you mean [10, 500]?)", "  train:"),
    "integer monitor": (_with_callbacks("{EarlyStopping: {monitor: 3}}"),
                        "`monitor` is a metric name like 'val_loss', got 3 (int)", "callbacks:"),
    "absolute ModelCheckpoint": (_with_callbacks("{ModelCheckpoint: {filepath: /tmp/evil.keras}}"),
                                 "ModelCheckpoint.filepath '/tmp/evil.keras' would write outside the run directory: "
                                 "it is absolute", "callbacks:"),
    "CSVLogger climbing out": (_with_callbacks("{CSVLogger: {filename: logs/../../evil.csv}}"),
                               "CSVLogger.filename 'logs/../../evil.csv' would write outside the run directory: "
                               "it climbs out with '..'", "callbacks:"),
    "TensorBoard in home": (_with_callbacks("{TensorBoard: {log_dir: ~/tb}}"),
                            "TensorBoard.log_dir '~/tb' would write outside", "callbacks:"),
    "BackupAndRestore absolute": (_with_callbacks("{BackupAndRestore: {backup_dir: /tmp/bk}}"),
                                  "BackupAndRestore.backup_dir '/tmp/bk' would write outside", "callbacks:"),
}


def test_validate_refuses_data_and_paths_it_can_see(tmp_path):
    """One `trainctl validate` of every case, each in its own directory; each error at its line."""
    recipes = {}
    for n, (case, (edits, _, _)) in enumerate(VALIDATE_CASES.items()):
        directory = tmp_path / f"case{n}"
        directory.mkdir()
        _data(directory)
        recipes[case] = _recipe(directory, edits)
    before = _snapshot(tmp_path)
    proc = run_cli("validate", *recipes.values(), cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for case, (_, expected, line_start) in VALIDATE_CASES.items():
        recipe = recipes[case]
        lines = [ln for ln in proc.stderr.splitlines() if f"{recipe}:" in ln]
        assert any(f"{recipe}:{_line_of(recipe, line_start)}:" in ln and expected in ln for ln in lines), (case, lines)
    assert _snapshot(tmp_path) == before
    assert not Path("/tmp/evil.keras").exists() and not Path("/tmp/bk").exists()


PLANTED = ["tensorboardX", "h5py", "matplotlib", "csv", "optree", "ml_dtypes", "numpy", "keras", "yaml", "components"]


def test_planted_modules_never_run(tmp_path):
    """Modules beside the recipe (and in the current directory) named like libraries trainctl loads stay unused."""
    markers = tmp_path / "markers"
    markers.mkdir()
    home = tmp_path / "project"
    home.mkdir()
    _data(home)
    for name in PLANTED:
        (home / f"{name}.py").write_text(f"open({str(markers / name)!r}, 'w').write('ran')\n", encoding="utf-8")
    recipe = _recipe(home, [("\ntrain: {", "\nlogs: {tensorboard: true, plot: true}\n"
                                         "callbacks: [{CSVLogger: {filename: log.csv}}]\ntrain: {")])
    before = _snapshot(home)
    proc = run_cli("run", recipe, "-o", home / "run", cwd=home)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in markers.iterdir()) == []
    assert (home / "run" / "log.csv").is_file()
    assert (home / "run" / "events").is_dir()
    assert _snapshot(home, skip=home / "run") == before  # nothing written beside the run directory


def test_an_import_shadowing_an_installed_package_is_refused(tmp_path):
    (tmp_path / "tensorboardX.py").write_text("raise SystemExit('planted code ran')\n", encoding="utf-8")
    _data(tmp_path)
    recipe = _recipe(tmp_path, [("seed: 0\n", "seed: 0\nimports: [tensorboardX]\n")])
    proc = run_cli("validate", recipe, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert (f"{recipe}:3:" in proc.stderr and "module 'tensorboardX' beside the recipe" in proc.stderr
            and "set TRAINCTL_SHADOW=tensorboardX" in proc.stderr), proc.stderr
    allowed = run_cli("validate", recipe, cwd=tmp_path, env=cli_env(TRAINCTL_SHADOW="tensorboardX"))
    assert allowed.returncode == 0, allowed.stderr


@contextlib.contextmanager
def _tmpfs(path: Path, size: str):
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"needs a tmpfs mount (root): {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_read_only_run_directory_exits_74_naming_it(tmp_path):
    _data(tmp_path)
    recipe = _recipe(tmp_path, [])
    with _tmpfs(tmp_path / "ro", "1m") as ro:
        (ro / "existing").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        proc = run_cli("run", recipe, "-o", ro / "run", cwd=tmp_path)  # cannot even be created
        existing = run_cli("run", recipe, "-o", ro / "existing", cwd=tmp_path)  # its first file fails
    assert proc.returncode == 74, proc.stderr
    assert f"cannot write {ro / 'run'}: Read-only file system" in proc.stderr, proc.stderr
    assert existing.returncode == 74, existing.stderr
    # The run directory's lock is its first file.
    assert f"cannot write {ro / 'existing' / '.lock'}: Read-only file system" in existing.stderr, existing.stderr
    assert "Traceback" not in proc.stderr + existing.stderr


@pytest.mark.slow  # three real runs: ~30 s on an idle machine
def test_disk_full_while_checkpointing_keeps_the_last_good_checkpoint(tmp_path):
    """Epoch 1 checkpoints; the disk fills; resuming for epoch 2 fails at its checkpoint with exit 74."""
    _data(tmp_path)
    # ~0.5 MB of weights and optimizer state per checkpoint: the full disk refuses it.
    recipe = _recipe(tmp_path, [("units: 8, activation: relu", "units: 4096, activation: relu")])
    with _tmpfs(tmp_path / "disk", "4m") as disk:
        run = disk / "run"
        first = run_cli("run", recipe, "-o", run, cwd=tmp_path)
        assert first.returncode == 0, first.stderr
        ckpts = sorted((run / "ckpt").iterdir())
        stat = os.statvfs(disk)
        filler = disk / "filler"
        with open(filler, "wb") as f:  # leave 64 KiB: the run's small files fit, a checkpoint does not
            f.write(b"\0" * max(0, stat.f_bavail * stat.f_frsize - 64 * 1024))
        second = run_cli("resume", run, "train.epochs=2", cwd=tmp_path)
        assert second.returncode == 74, second.stderr
        assert "Traceback" not in second.stderr
        assert f"cannot write the directory {run / 'ckpt'}/" in second.stderr, second.stderr
        assert "No space left on device [ENOSPC]" in second.stderr, second.stderr
        assert sorted(p for p in (run / "ckpt").iterdir() if not p.name.startswith(".")) == ckpts
        filler.unlink()
        again = run_cli("resume", run, "train.epochs=2", cwd=tmp_path)  # the kept checkpoint resumes
        assert again.returncode == 0, again.stderr
        assert "resumed from" in again.stderr + again.stdout


@pytest.mark.slow  # Keras spends ~20 s on the chain before the stack runs out
def test_a_model_too_deep_to_build_is_exit_2_at_the_model(tmp_path):
    _data(tmp_path)
    layers = "".join("    - {Dense: {units: 2}}\n" for _ in range(3000))
    recipe = _recipe(tmp_path, [("    - {Dense: {units: 8, activation: relu}}\n", layers)])
    proc = run_cli("run", recipe, "-o", tmp_path / "run", cwd=tmp_path, timeout=900)
    assert proc.returncode == 2, proc.stderr
    assert f"{recipe}:{_line_of(recipe, 'model:') + 1}:" in proc.stderr, proc.stderr
    assert "the model is too deep for Keras to build" in proc.stderr and "Traceback" not in proc.stderr
