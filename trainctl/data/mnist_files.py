"""MNIST digits (shipped inside trainctl) written out as files: a folder of PNGs, a Parquet table.

The image-folder and Parquet recipes, their tests and the data benchmarks read these, so
every one of them runs offline and compares against the same digits as arrays. The files
are deterministic: the same rows give the same bytes.

    python -m trainctl.data.mnist_files recipes/data      # the samples the recipes ship with

Example:

    >>> write_png_folder("digits/train", "train", 0, 1000)     # digits/train/<label>/<row>.png
    >>> write_parquet("digits/train.parquet", "train", 0, 1000)  # columns pixels (784 uint8), label
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from trainctl.data.sources import _mnist_arrays


def write_png_folder(dest: str | Path, split: str, start: int, stop: int) -> Path:
    """Rows `[start, stop)` of MNIST `split` as `dest/<label>/<row:05d>.png` (grayscale, 28x28)."""
    from PIL import Image

    dest = Path(dest)
    x, y = _mnist_arrays(split)
    for label in range(10):
        (dest / str(label)).mkdir(parents=True, exist_ok=True)
    for row in range(start, stop):
        Image.fromarray(x[row]).save(dest / str(y[row]) / f"{row:05d}.png", optimize=True)
    return dest


def write_parquet(dest: str | Path, split: str, start: int, stop: int, row_group_size: int = 10_000) -> Path:
    """Rows `[start, stop)` of MNIST `split` as a Parquet file: `pixels` (784 uint8 per row) and `label`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    x, y = _mnist_arrays(split)
    pixels = pa.FixedSizeListArray.from_arrays(pa.array(x[start:stop].reshape(-1)), 784)
    table = pa.table({"pixels": pixels, "label": pa.array(y[start:stop].astype(np.int64))})
    pq.write_table(table, dest, row_group_size=row_group_size, compression="zstd")
    return dest


def write_samples(root: str | Path) -> None:
    """The samples under recipes/data: 1,000 training and 200 validation digits, as PNGs and as Parquet."""
    root = Path(root)
    write_png_folder(root / "mnist_png" / "train", "train", 0, 1000)
    write_png_folder(root / "mnist_png" / "validation", "train", 59800, 60000)
    write_parquet(root / "mnist_parquet" / "train.parquet", "train", 0, 1000, row_group_size=250)
    write_parquet(root / "mnist_parquet" / "validation.parquet", "train", 59800, 60000, row_group_size=250)


if __name__ == "__main__":
    write_samples(sys.argv[1] if len(sys.argv) > 1 else "recipes/data")
