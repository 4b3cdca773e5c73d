"""`eval --data FILE` reads the file as the recipe reads its own data, or as `--x`/`--y` say."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import run_cli

RECIPE = """\
name: csv_reg
seed: 1
data:
  train: {source: csv, path: train.csv, columns: {features: [a, b], target: t}}
  x: features
  y: target
model:
  inputs: {features: {shape: [2]}}
  outputs: {out: {Dense: {units: 1}}}
compile: {optimizer: sgd, loss: mse}
train: {epochs: 1, batch_size: 8}
"""


def _csv(path, rows):
    path.write_text("t,b,a\n" + "".join(f"{t},{b},{a}\n" for t, b, a in rows))


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaldata")
    rng = np.random.default_rng(0)
    _csv(root / "train.csv", rng.normal(size=(32, 3)).round(3))
    (root / "r.yaml").write_text(RECIPE)
    run_cli("run", root / "r.yaml", "-o", root / "run", check=True)
    return root


def test_a_csv_file_is_read_with_the_recipes_columns(csv_run):
    other = csv_run / "other.csv"
    _csv(other, [(1.0, 0.0, 0.0)] * 8)  # columns in the file's own order; the recipe's mapping picks them
    result = json.loads(run_cli("eval", csv_run / "run", "--data", other, "--json", check=True).stdout)
    assert set(result) == {"loss"} and result["loss"] > 0


def test_an_npz_file_is_mapped_with_x_and_y(csv_run):
    npz = csv_run / "other.npz"
    np.savez(npz, inputs=np.zeros((8, 2), "float32"), labels=np.ones((8, 1), "float32"))
    proc = run_cli("eval", csv_run / "run", "--data", npz)
    assert proc.returncode == 2 and "features" in proc.stderr  # the recipe's keys are not in the file
    result = json.loads(run_cli("eval", csv_run / "run", "--data", npz, "--x", "inputs", "--y", "labels",
                                "--json", check=True).stdout)
    assert result["loss"] >= 0
