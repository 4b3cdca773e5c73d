"""`trainctl predict` equals `model.predict`, streams in chunks, resumes exactly after SIGKILL, never overwrites."""

from __future__ import annotations

import csv
import json
import signal
import time

import numpy as np
import pytest

from tests.conftest import RECIPES, run_cli, start_cli
from trainctl.predict import predict

CSV_RECIPE = """\
name: csv_regression
seed: 3
data:
  train: {source: csv, path: train.csv, columns: {x: [a, b, c], y: [l1, l2]}}
  transforms:
    x: [{multiply: 0.5}]
model:
  inputs: {features: {shape: [3]}}
  layers:
    - {name: hidden, Dense: {units: 8, activation: tanh}}
  outputs:
    value: {Dense: {units: 2}}
compile:
  optimizer: {SGD: {learning_rate: 0.01}}
  loss: MeanSquaredError
train:
  epochs: 1
  batch_size: 16
"""


def _load_model(run_dir):
    import keras

    return keras.saving.load_model(run_dir / "model.keras")


@pytest.fixture(scope="module")
def mlp_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("mlp") / "run"
    run_cli("run", RECIPES / "mnist_mlp.yaml", "--smoke", "-o", run_dir, check=True)
    return run_dir


@pytest.fixture(scope="module")
def csv_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("csvrun")
    rng = np.random.default_rng(0)
    rows = rng.random((64, 5)).round(4)
    (root / "train.csv").write_text("a,b,c,l1,l2\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    (root / "recipe.yaml").write_text(CSV_RECIPE)
    run_cli("run", root / "recipe.yaml", "-o", root / "run", check=True)
    return root / "run"


def test_cli_mnist_equals_model_predict_across_chunks(mlp_run, tmp_path):
    from trainctl.data.sources import _mnist_arrays

    x = np.ascontiguousarray(_mnist_arrays("test")[0][:3000])
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "p.npy"
    # 1000-row chunks round down to 960 (whole batches of 64): four chunks, the last one short.
    proc = run_cli("predict", mlp_run, "--data", tmp_path / "x.npy", "-o", out, "--chunk-rows", "1000", check=True)
    assert "predict: 3000/3000 rows" in proc.stderr and "rows/s" in proc.stderr
    expected = _load_model(mlp_run).predict(x.reshape(-1, 784).astype("float32") / np.float32(255),
                                            batch_size=64, verbose=0)
    got = np.load(out)
    assert got.shape == (3000, 10) and got.dtype == np.float32
    assert np.abs(got - expected).max() <= 1e-6
    assert not (tmp_path / ".p.npy.predict").exists()

    again = run_cli("predict", mlp_run, "--data", tmp_path / "x.npy", "-o", out)
    assert again.returncode == 2 and "exists" in again.stderr and "Traceback" not in again.stderr

    top = tmp_path / "top.csv"
    predict(mlp_run, top, data=tmp_path / "x.npy", top_k=2)
    with open(top) as f:
        table = list(csv.DictReader(f))
    best = np.argsort(-expected, axis=1, kind="stable")[:, :2]
    assert [int(r["predictions_top_k_0"]) for r in table] == best[:, 0].tolist()
    assert [int(r["predictions_top_k_1"]) for r in table] == best[:, 1].tolist()
    assert np.allclose([float(r["predictions_top_k_scores_0"]) for r in table], expected.max(axis=1), atol=1e-6)


def test_recipe_split_and_refusals(mlp_run, tmp_path):
    from trainctl.errors import TrainctlError

    out = tmp_path / "test.npz"
    predict(mlp_run, out, split="test", argmax=True)
    with np.load(out) as f:
        assert f.files == ["predictions"] and f["predictions"].shape == (128,)  # smoke run: data.limit=128
    (tmp_path / ".other.npy.predict").mkdir()
    with pytest.raises(TrainctlError, match="--resume"):
        predict(mlp_run, tmp_path / "other.npy", split="test")
    with pytest.raises(TrainctlError, match=r"\.npy, \.npz, \.csv, \.parquet"):
        predict(mlp_run, tmp_path / "p.txt", split="test")
    with pytest.raises(TrainctlError, match="a .npy file holds one array"):
        predict(mlp_run, tmp_path / "two.npy", split="test", top_k=3)


@pytest.mark.slow
def test_multi_output_npz_and_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    run_dir = tmp_path / "run"
    run_cli("run", RECIPES / "multi_io.yaml", "--smoke", "-o", run_dir, check=True)
    rng = np.random.default_rng(5)
    n = 300
    inputs = {"img_input": rng.random((n, 32, 32, 3)).astype("float32"),
              "ts_input": rng.random((n, 7, 10)).astype("float32")}
    np.savez(tmp_path / "in.npz", id=np.arange(1000, 1000 + n), **inputs)
    predict(run_dir, tmp_path / "p.npz", data=tmp_path / "in.npz", chunk_rows=100)
    predict(run_dir, tmp_path / "p.parquet", data=tmp_path / "in.npz", chunk_rows=100)
    model = _load_model(run_dir)
    expected = model.predict(inputs, batch_size=32, verbose=0)
    expected = dict(zip(model.output_names, expected)) if isinstance(expected, list) else expected
    with np.load(tmp_path / "p.npz") as f:
        assert sorted(f.files) == ["class_output", "id", "score_output"]
        assert f["id"].tolist() == list(range(1000, 1000 + n))
        for name in ("class_output", "score_output"):
            assert np.abs(f[name] - expected[name]).max() <= 1e-6
    table = pq.read_table(tmp_path / "p.parquet")
    assert table.num_rows == n and table.column("id").to_pylist() == list(range(1000, 1000 + n))
    assert np.abs(table.column("score_output_0").to_numpy() - expected["score_output"][:, 0]).max() <= 1e-6
    assert np.abs(np.stack([table.column(f"class_output_{i}").to_numpy() for i in range(5)], 1)
                  - expected["class_output"]).max() <= 1e-6


def test_csv_recipe_columns_and_ids(csv_run, tmp_path):
    rng = np.random.default_rng(1)
    feats = rng.random((250, 3)).round(5)
    ids = [f"row-{i}" for i in range(250)]
    # No label column, columns in another order: the recipe's `columns:` pick a, b, c by name.
    (tmp_path / "new.csv").write_text("c,id,a,b\n" + "".join(
        f"{f[2]},{i},{f[0]},{f[1]}\n" for i, f in zip(ids, feats)))
    out = tmp_path / "p.csv"
    predict(csv_run, out, data=tmp_path / "new.csv", chunk_rows=64)
    expected = _load_model(csv_run).predict(feats.astype("float32") * np.float32(0.5), batch_size=16, verbose=0)
    with open(out) as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == ids
    got = np.array([[float(r["value_0"]), float(r["value_1"])] for r in rows])
    assert np.abs(got - expected).max() <= 1e-6


@pytest.mark.parametrize("suffix", [".csv", pytest.param(".npz", marks=pytest.mark.slow)])
def test_sigkill_then_resume_gives_the_same_file(csv_run, tmp_path, suffix):
    from trainctl.errors import TrainctlError

    n = 600_000
    x = np.random.default_rng(2).random((n, 3)).astype("float32")
    np.save(tmp_path / "big.npy", x)
    args = ["predict", csv_run, "--data", tmp_path / "big.npy", "--batch-size", "512", "--chunk-rows", "4096"]
    full = tmp_path / f"full{suffix}"
    predict(csv_run, full, data=tmp_path / "big.npy", batch_size=512, chunk_rows=4096)

    out = tmp_path / f"killed{suffix}"
    progress = tmp_path / f".killed{suffix}.predict" / "progress.json"
    proc = start_cli(*args, "-o", out)
    deadline = time.monotonic() + 240
    done = 0
    while time.monotonic() < deadline and proc.poll() is None:
        if progress.exists():
            done = json.loads(progress.read_text())["rows"]
            if done >= n // 4:
                break
        time.sleep(0.01)
    assert proc.poll() is None, f"finished before it could be killed: {proc.communicate()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists() and 0 < done < n

    with pytest.raises(TrainctlError, match="--resume"):
        predict(csv_run, out, data=tmp_path / "big.npy", batch_size=512, chunk_rows=4096)
    with pytest.raises(TrainctlError, match="other arguments"):
        predict(csv_run, out, data=tmp_path / "big.npy", batch_size=256, chunk_rows=4096, resume=True)
    predict(csv_run, out, data=tmp_path / "big.npy", batch_size=512, chunk_rows=4096, resume=True)
    assert out.read_bytes() == full.read_bytes()
    assert not progress.parent.exists()
