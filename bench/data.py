"""Benchmarks of streamed data: images decoded per second per core, input wait, peak memory against rows.

    python bench/data.py decode              # PNG/JPEG decoding: images/s on one thread, and on every core
    python bench/data.py wait                # input-wait fraction of the image recipe, per epoch
    python bench/data.py memory              # peak RSS of one epoch over 800,000 and 8,000,000 Parquet rows

Each prints one JSON object per measurement; the figures in docs/performance.md come from here.
Data is written under --work (default: a temporary directory) from the MNIST digits trainctl ships.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _emit(**fields) -> None:
    # This machine may be shared: the load average says how much of it the figures had.
    print(json.dumps({**fields, "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1)}), flush=True)


def decode(work: Path, count: int) -> None:
    """Images per second decoded by ImageReader: MNIST PNGs (28x28 gray) and 256x256 RGB JPEGs resized to 224."""
    from PIL import Image

    from trainctl.data.images import ImageReader
    from trainctl.data.mnist_files import write_png_folder
    from trainctl.data.sources import _mnist_arrays
    from trainctl.data.streamed import StreamedDataset

    png = work / "png"
    if not png.exists():
        write_png_folder(png, "train", 0, count)
    jpeg = work / "jpeg"
    if not jpeg.exists():
        x, y = _mnist_arrays("train")
        for row in range(count // 4):
            (jpeg / str(y[row])).mkdir(parents=True, exist_ok=True)
            Image.fromarray(x[row]).convert("RGB").resize((256, 256)).save(jpeg / str(y[row]) / f"{row}.jpg",
                                                                            quality=90)
    cores = os.cpu_count() or 1
    for name, folder, size, mode in (("mnist_png_28", png, (28, 28), "grayscale"),
                                     ("jpeg_256_to_224", jpeg, (224, 224), "rgb")):
        reader = ImageReader(folder, size, mode, "bilinear")
        rows = np.arange(len(reader.files))
        reader.read(0, rows[:64])  # warm the page cache and Pillow's plugins
        began, cpu = time.perf_counter(), time.process_time()
        reader.read(0, rows)
        one = len(rows) / (time.perf_counter() - began)
        per_cpu_s = len(rows) / (time.process_time() - cpu)  # a core's rate, whatever else the machine runs
        dataset = StreamedDataset(reader, batch_size=64, shuffle=True, seed=0, to_batch=lambda a: a,
                                  workers=cores)
        dataset.on_epoch_end()  # epoch 0, as after Keras's symbolic build
        began = time.perf_counter()
        for index in range(dataset.num_batches):
            dataset[index]
        every = len(rows) / (time.perf_counter() - began)
        _emit(bench="decode", images=name, files=len(rows), images_per_cpu_second=round(per_cpu_s),
              images_per_s_one_thread=round(one), threads=cores, images_per_s_all_threads=round(every))


def wait(work: Path, count: int, epochs: int) -> None:
    """The image recipe (a small convnet) on `count` PNGs: the input-wait fraction trainctl records per epoch."""
    from trainctl.data.mnist_files import write_png_folder

    folder = work / "wait_png"
    if not folder.exists():
        write_png_folder(folder / "train", "train", 0, count)
        write_png_folder(folder / "validation", "train", 59000, 60000)
    recipe = REPO / "recipes" / "mnist_images.yaml"
    run_dir = work / f"wait_run_{time.time_ns()}"
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "trainctl", "run", recipe, "-o", run_dir, f"train.epochs={epochs}",
                    f"data.train.path={folder / 'train'}", f"data.validation.path={folder / 'validation'}",
                    "logs.plot=false", "checkpoint.every_steps=null"], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO), "CI": "1"}, capture_output=True)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    _emit(bench="input_wait", images=count, epochs=epochs, wall_s=round(time.perf_counter() - began, 1),
          input_wait_per_epoch=manifest["data"]["train"]["input_wait"])


MEMORY_RECIPE = """\
name: parquet_memory
seed: 1
data:
  train: {source: parquet, path: PATH, columns: {x: [COLUMNS], y: label}}
model:
  inputs: {x: {shape: [16]}}
  outputs:
    y: {Dense: {units: 1}}
compile: {optimizer: sgd, loss: mse}
train: {epochs: 1, batch_size: 8192}
checkpoint: {enabled: false}
logs: {plot: false, tensorboard: false}
"""


def memory(work: Path, sizes: list[int]) -> None:
    """Peak RSS of one epoch (shuffled) over Parquet tables of `sizes` rows (16 float32 features + a label)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = [f"f{i}" for i in range(16)]
    for rows in sizes:
        path = work / f"rows_{rows}.parquet"
        if not path.exists():
            rng = np.random.default_rng(rows)
            schema = pa.schema([(c, pa.float32()) for c in [*columns, "label"]])
            with pq.ParquetWriter(path, schema) as w:
                for start in range(0, rows, 100_000):
                    n = min(100_000, rows - start)
                    w.write_table(pa.table({c: rng.random(n, dtype="float32") for c in [*columns, "label"]}))
        recipe = work / f"memory_{rows}.yaml"
        recipe.write_text(MEMORY_RECIPE.replace("PATH", str(path)).replace("COLUMNS", ", ".join(columns)))
        peak = work / f"peak_{rows}.txt"
        began = time.perf_counter()
        subprocess.run([sys.executable, str(REPO / "bench" / "peak_rss.py"), "-m", "trainctl", "run", str(recipe),
                        "-o", str(work / f"memory_run_{rows}_{time.time_ns()}")], check=True, cwd=REPO,
                       env={**os.environ, "PYTHONPATH": str(REPO), "CI": "1", "PEAK_RSS_FILE": str(peak)},
                       capture_output=True)
        _emit(bench="parquet_memory", rows=rows, file_mb=round(path.stat().st_size / 2**20),
              peak_rss_mb=round(int(peak.read_text()) / 1024), wall_s=round(time.perf_counter() - began, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["decode", "wait", "memory"])
    parser.add_argument("--work", type=Path, default=None, help="where to write the data (kept between runs)")
    parser.add_argument("--images", type=int, default=8000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rows", type=int, nargs="*", default=[800_000, 8_000_000])
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="trainctl-bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.what == "decode":
        decode(work, args.images)
    elif args.what == "wait":
        wait(work, args.images, args.epochs)
    else:
        memory(work, args.rows)


if __name__ == "__main__":
    main()
