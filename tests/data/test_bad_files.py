"""Bad files stop a run with exit code 2 naming the file, or are skipped and counted when the recipe asks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_cli
from trainctl.data.images import ImageReader
from trainctl.data.mnist_files import write_parquet, write_png_folder
from trainctl.data.parquet import ParquetReader, parquet_files
from trainctl.data.streamed import BadFile


@pytest.fixture
def folder(tmp_path) -> Path:
    root = write_png_folder(tmp_path / "png", "train", 0, 64)
    return root


def corrupt(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[:40])  # a PNG cut short: the header reads, the pixels do not
    return path


def reader(folder: Path, skip: bool = False) -> ImageReader:
    return ImageReader(folder, (28, 28), "grayscale", "bilinear", skip_bad=skip)


def test_a_corrupt_png_names_the_file_or_is_skipped(folder):
    bad = corrupt(sorted((folder / "3").iterdir())[0])
    images = reader(folder)
    row = images.files.index(bad)
    with pytest.raises(BadFile, match=f"{bad}: cannot decode the image"):
        images.read(0, np.arange(len(images.files)))
    skipping = reader(folder, skip=True)
    arrays = skipping.read(0, np.arange(len(skipping.files)))
    assert len(arrays["x"]) == len(skipping.files) - 1
    assert list(skipping.skipped) == [str(bad)]
    assert np.array_equal(np.delete(skipping.labels, row), arrays["y"])


def test_an_image_of_a_mode_that_would_lose_range_is_refused(folder):
    from PIL import Image

    wide = folder / "0" / "wide.png"
    Image.fromarray(np.full((28, 28), 40000, dtype="uint16")).save(wide)
    images = reader(folder)
    with pytest.raises(BadFile, match=f"{wide}: image mode I;16 is not an 8-bit mode"):
        images.read(0, np.array([images.files.index(wide)]))


def test_a_parquet_file_missing_a_column_names_the_file_or_is_skipped(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_parquet(tmp_path / "parts" / "a.parquet", "train", 0, 100)
    pq.write_table(pa.table({"pixels": pa.array([[0] * 784] * 10), "labels": pa.array([1] * 10)}),
                   tmp_path / "parts" / "b.parquet")
    files = parquet_files("parts", tmp_path)
    with pytest.raises(BadFile, match=r"b\.parquet has no column 'label'; it has pixels, labels"):
        ParquetReader(files, {"x": "pixels", "y": "label"}, "float32")
    skipping = ParquetReader(files, {"x": "pixels", "y": "label"}, "float32", skip_bad=True)
    assert sum(skipping.chunk_rows) == 100 and [Path(f).name for f in skipping.skipped] == ["b.parquet"]


RECIPE = """\
name: bad_files
seed: 1
data:
  train: {source: images, path: png, image_size: [28, 28], color_mode: grayscale, workers: 2, on_bad_file: MODE}
  transforms:
    x: [{reshape: [784]}, {cast: float32}, {divide: 255}]
model:
  inputs: {digits: {shape: [784]}}
  outputs:
    predictions: {Dense: {units: 10, activation: softmax}}
compile: {optimizer: sgd, loss: SparseCategoricalCrossentropy}
train: {epochs: 1, batch_size: 16, shuffle: false}
logs: {plot: false}
"""


def test_a_bad_file_met_during_training_exits_2_naming_it_or_is_skipped_and_counted(folder, tmp_path):
    bad = corrupt(sorted((folder / "9").iterdir())[-1])  # in the last batch: read by a prefetch thread
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("MODE", "error"))
    proc = run_cli("run", recipe, "-o", tmp_path / "failed")
    assert proc.returncode == 2, proc.stderr
    assert f"{bad}: cannot decode the image" in proc.stderr
    assert "Traceback" not in proc.stderr
    recipe.write_text(RECIPE.replace("MODE", "skip"))
    proc = run_cli("run", recipe, "-o", tmp_path / "skipped", check=True)
    assert "skipped 1 bad file(s)" in proc.stderr
    data = json.loads((tmp_path / "skipped" / "manifest.json").read_text())["data"]["train"]
    assert data["skipped"] == 1 and data["skipped_files"] == [str(bad)]


def test_validate_names_a_missing_image_folder_or_parquet_glob_at_its_line(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(RECIPE.replace("MODE", "error").replace("path: png", "path: pngs"))
    proc = run_cli("validate", recipe)
    assert proc.returncode == 2
    assert f"r.yaml:4:33: no folder or index file at {tmp_path / 'pngs'}" in proc.stderr
    parquet = "{source: parquet, path: 'parts/*.parquet', columns: {x: pixels, y: label}}"
    recipe.write_text(RECIPE.replace(RECIPE.splitlines()[3].split(": ", 1)[1], parquet))
    proc = run_cli("validate", recipe)
    assert proc.returncode == 2 and "no file, folder or glob match at" in proc.stderr
    write_parquet(tmp_path / "parts" / "a.parquet", "train", 0, 10)
    assert run_cli("validate", recipe).returncode == 0
