"""Image folders and Parquet files, streamed: they train what the same data as arrays trains, and resume exactly.

Real files (MNIST digits written as PNGs and as Parquet), the real CLI in subprocesses,
real SIGKILLs. The arrays run reads an .npz holding the digits in the order the files
list them (class folders in sorted order, for images), so with `shuffle: false` both
feed the same batches and must give the same weights bit for bit. Shuffled, a streamed
run killed mid-epoch and resumed must equal the run never killed.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import cli_env, run_cli
from trainctl.data.mnist_files import write_parquet, write_png_folder
from trainctl.data.sources import _mnist_arrays

ROWS = 256  # 8 steps of 32 per epoch

MODEL = """\
model:
  inputs: {digits: {shape: [784]}}
  layers:
    - {name: dense_1, Dense: {units: 32, activation: relu}}
  outputs:
    predictions: {Dense: {units: 10, activation: softmax}}
compile:
  optimizer: {RMSprop: {learning_rate: 1.0e-3}}
  loss: SparseCategoricalCrossentropy
train: {epochs: 2, batch_size: 32, shuffle: SHUFFLE}
checkpoint: {every_steps: 3}
logs: {plot: false}
"""

SOURCES = {
    "images": "  train: {source: images, path: png, image_size: [28, 28], color_mode: grayscale, workers: 2}\n",
    "parquet": "  train: {source: parquet, path: digits.parquet, columns: {x: pixels, y: label}, workers: 2}\n",
    "arrays": "  train: {source: npz, path: digits.npz}\n",
}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("digits")
    write_png_folder(root / "png", "train", 0, ROWS)
    x, y = _mnist_arrays("train")
    order = np.argsort(y[:ROWS], kind="stable")  # the folder lists class 0's files first, each by name (row)
    np.savez(root / "digits.npz", x=x[:ROWS][order], y=y[:ROWS][order].astype("int64"))
    # The Parquet file holds the rows in that same order, in row groups of 50 (six chunks).
    write_parquet(root / "digits_rows.parquet", "train", 0, ROWS, row_group_size=50)
    import pyarrow.parquet as pq

    pq.write_table(pq.read_table(root / "digits_rows.parquet").take(order), root / "digits.parquet", row_group_size=50)
    return root


def recipe(data_dir: Path, source: str, shuffle: bool) -> Path:
    path = data_dir / f"{source}-{shuffle}.yaml"
    path.write_text(f"name: streamed_{source}\nseed: 3\ndata:\n{SOURCES[source]}"
                    "  transforms:\n    x: [{reshape: [784]}, {cast: float32}, {divide: 255}]\n"
                    + MODEL.replace("SHUFFLE", str(shuffle).lower()))
    return path


def weights(run_dir: Path) -> list[np.ndarray]:
    import keras

    return [v.numpy() for v in keras.saving.load_model(run_dir / "model.keras").weights]


def max_diff(a: Path, b: Path) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(weights(a), weights(b)))


def test_image_folder_and_parquet_train_what_the_same_arrays_train(data_dir, tmp_path):
    runs = {}
    for source in ("arrays", "images", "parquet"):
        runs[source] = tmp_path / source
        run_cli("run", recipe(data_dir, source, shuffle=False), "-o", runs[source], check=True)
    assert max_diff(runs["arrays"], runs["images"]) == 0.0
    assert max_diff(runs["arrays"], runs["parquet"]) == 0.0
    manifest = json.loads((runs["images"] / "manifest.json").read_text())
    assert manifest["data"]["train"]["class_names"] == [str(i) for i in range(10)]
    assert manifest["data"]["train"]["files"] == ROWS
    assert set(manifest["data"]["train"]["input_wait"]) == {"0", "1"}
    # Each batch is read while the steps before it run, never a whole execution first.
    assert manifest["steps_per_execution"]["fused"] == "off: streamed data is read while the steps before it run"


# The Parquet run is the same StreamedDataset over row groups; slow only to keep CI's budget (pytest -m slow).
@pytest.mark.parametrize("source", ["images", pytest.param("parquet", marks=pytest.mark.slow)])
def test_sigkill_mid_epoch_then_resume_is_exact(data_dir, tmp_path, source):
    shuffled = recipe(data_dir, source, shuffle=True)
    reference, killed = tmp_path / "reference", tmp_path / "killed"
    run_cli("run", shuffled, "-o", reference, check=True)
    proc = run_cli("run", shuffled, "-o", killed, env=cli_env(TRAINCTL_TEST_KILL_AT_STEP="13"))  # epoch 2, step 5
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    resumed = run_cli("resume", killed, check=True)
    assert "(epoch 2, step 4)" in resumed.stderr  # from the checkpoint at global step 12
    assert max_diff(reference, killed) == 0.0
