"""SWEEP.yaml is checked before anything trains: problems at their line in the sweep file, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_cli
from trainctl.errors import RecipeInvalid
from trainctl.sweep.spec import load_sweep

RECIPE = FIXTURES / "sweep_tiny.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(f"recipe: {RECIPE}\n" + text)
    return path


def test_a_misspelt_key_path_is_reported_at_its_line_in_the_sweep_file(tmp_path):
    path = _write(tmp_path, "grid:\n  train.batch_size: [32, 64]\n  train.epoch: [1, 2]\nmetric: val_loss\n")
    proc = run_cli("sweep", path, "-o", tmp_path / "out")
    assert proc.returncode == 2, proc.stderr
    assert f"{path}:4:3: train.epoch=1:" in proc.stderr
    assert "did you mean 'epochs'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_value_the_recipe_refuses_is_reported_at_its_key(tmp_path):
    path = _write(tmp_path, "search:\n  train.batch_size: {int: [0, 64]}\ntrials: 3\n")
    with pytest.raises(RecipeInvalid) as exc:
        load_sweep(path)
    assert [(e.line, e.col) for e in exc.value.errors] == [(3, 3)]
    assert "train.batch_size=0" in exc.value.errors[0].message


@pytest.mark.parametrize("text, message", [
    ("grid: {train.epochs: [1]}\nrandom: {train.epochs: {int: [1, 2]}}\n", "exactly one of grid, random or search"),
    ("random: {train.epochs: {int: [1, 2]}}\n", "random needs trials"),
    ("random: {train.epochs: {normal: [1, 2]}}\ntrials: 2\n", "normal"),
    ("recipe_typo: 1\ngrid: {train.epochs: [1]}\n", "recipe_typo"),
])
def test_bad_sweeps_are_refused(tmp_path, text, message):
    with pytest.raises(RecipeInvalid) as exc:
        load_sweep(_write(tmp_path, text))
    assert message in str(exc.value)
    assert all(e.file == str(tmp_path / "sweep.yaml") for e in exc.value.errors)


def test_a_shipped_recipe_is_found_by_name_and_a_missing_one_gets_a_hint(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("recipe: mnist_mlp\ngrid: {train.epochs: [1, 2]}\n")
    assert load_sweep(path).recipe_path.name == "mnist_mlp.yaml"
    path.write_text("recipe: mnist_mpl\ngrid: {train.epochs: [1, 2]}\n")
    with pytest.raises(RecipeInvalid) as exc:
        load_sweep(path)
    assert "did you mean 'mnist_mlp'?" in str(exc.value) and exc.value.errors[0].line == 1


def test_random_trials_are_planned_from_the_seed(tmp_path):
    space = ("random:\n  compile.optimizer.Adam.learning_rate: {loguniform: [1.0e-4, 1.0e-1]}\n"
             "  train.batch_size: {choice: [32, 64, 128]}\n  train.epochs: {int: [1, 3]}\ntrials: 6\n")
    a = [t.params for t in load_sweep(_write(tmp_path, space + "seed: 1\n")).planned()]
    b = [t.params for t in load_sweep(_write(tmp_path, space + "seed: 1\n")).planned()]
    c = [t.params for t in load_sweep(_write(tmp_path, space + "seed: 2\n")).planned()]
    assert a == b and a != c and len(a) == 6
    for params in a:
        assert 1e-4 <= params["compile.optimizer.Adam.learning_rate"] <= 1e-1
        assert params["train.batch_size"] in (32, 64, 128) and params["train.epochs"] in (1, 2, 3)
    # A longer sweep plans the same first trials: trial i depends on (seed, i) only.
    longer = [t.params for t in load_sweep(_write(tmp_path, space.replace("trials: 6", "trials: 8")
                                                   + "seed: 1\n")).planned()]
    assert longer[:6] == a


def test_grid_trials_are_named_by_their_place(tmp_path):
    sweep = load_sweep(_write(tmp_path, "grid:\n  train.batch_size: [32, 64]\n  train.epochs: [1, 2]\n"))
    assert [(t.name, t.params) for t in sweep.planned()] == [
        ("trial-000", {"train.batch_size": 32, "train.epochs": 1}),
        ("trial-001", {"train.batch_size": 32, "train.epochs": 2}),
        ("trial-002", {"train.batch_size": 64, "train.epochs": 1}),
        ("trial-003", {"train.batch_size": 64, "train.epochs": 2}),
    ]
