"""`source: images`: image files and their labels, decoded with Pillow batch by batch.

The files are a folder with one subfolder per class (labels are the indices of the sorted
subfolder names, as `keras.utils.image_dataset_from_directory` numbers them) or an index
file (CSV or Parquet) with the columns `file,label`. Only the paths are held in memory;
each image is decoded when its batch is read. Arrays: `x` (N, height, width, channels) uint8
and `y` (N,) int32; a recipe scales `x` with `transforms` (`cast: float32`, `divide: 255`).

Example (recipe):

    train: {source: images, path: digits/train, image_size: [28, 28], color_mode: grayscale}
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from trainctl.data.streamed import BadFile, ChunkReader

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # as image_dataset_from_directory
FORMATS = ("PNG", "JPEG", "BMP", "GIF")
MODES = {"grayscale": "L", "rgb": "RGB", "rgba": "RGBA"}
# Pillow's filters under the names Keras gives `interpolation`.
FILTERS = {"nearest": "NEAREST", "bilinear": "BILINEAR", "bicubic": "BICUBIC", "area": "BOX", "lanczos3": "LANCZOS"}
# 8-bit modes Pillow converts to L/RGB/RGBA without losing range; 16-bit and float images would be clipped.
READABLE_MODES = {"1", "L", "LA", "P", "PA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "La", "RGBa"}


def pillow():
    """Pillow's Image module, or a clear error when the `images` extra is not installed."""
    try:
        from PIL import Image
    except ImportError:
        raise BadFile("source: images needs Pillow: pip install 'trainctl[images]'") from None
    return Image


def list_directory(root: Path, class_names: list[str] | None) -> tuple[list[Path], list[int], list[str]]:
    """Files and labels of a folder of class subfolders, class by class, each sorted by name."""
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    names = list(class_names) if class_names else found
    unknown = sorted(set(names) - set(found))
    if unknown:
        raise BadFile(f"{root} has no subfolder {unknown[0]!r} named in class_names; it has: {', '.join(found)}")
    files, labels = [], []
    for label, name in enumerate(names):
        for path in sorted((root / name).rglob("*")):
            if path.suffix.lower() in EXTENSIONS and path.is_file():
                files.append(path)
                labels.append(label)
    return files, labels, names


def read_index(index: Path, class_names: list[str] | None) -> tuple[list[Path], list[int], list[str]]:
    """Files and labels of a CSV or Parquet index with columns `file,label` (files relative to the index)."""
    if index.suffix.lower() == ".parquet":
        from trainctl.data.parquet import pyarrow_parquet

        table = pyarrow_parquet().read_table(index)
        missing = [c for c in ("file", "label") if c not in table.column_names]
        if missing:
            raise BadFile(f"{index} has no column {missing[0]!r}; an image index needs `file,label`")
        rows = zip(table.column("file").to_pylist(), table.column("label").to_pylist())
    else:
        with open(index, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            if not {"file", "label"} <= set(reader.fieldnames or ()):
                raise BadFile(f"{index} has columns {reader.fieldnames}; an image index needs `file,label`")
            rows = [(r["file"], r["label"]) for r in reader]
    files, raw = [], []
    for file, label in rows:
        files.append(index.parent / file)
        raw.append(str(label))
    if class_names:
        names = list(class_names)
    elif all(r.lstrip("-").isdigit() for r in raw):  # integer labels are the class indices themselves
        names = [str(i) for i in range(max(map(int, raw), default=-1) + 1)]
    else:
        names = sorted(set(raw))
    lookup = {n: i for i, n in enumerate(names)}
    unknown = sorted(set(raw) - set(lookup))
    if unknown:
        raise BadFile(f"{index}: label {unknown[0]!r} is not one of the class names {names}")
    return files, [lookup[r] for r in raw], names


class ImageReader(ChunkReader):
    """Decodes image files on demand; every file is one row of one chunk (so a shuffle is global)."""

    cache_chunks = False

    def __init__(self, path: Path, image_size: tuple[int, int], color_mode: str, interpolation: str,
                 class_names: list[str] | None = None, skip_bad: bool = False):
        self.image = pillow()
        lister = list_directory if path.is_dir() else read_index
        self.files, labels, self.class_names = lister(path, class_names)
        if not self.files:
            raise BadFile(f"{path} holds no image files ({', '.join(EXTENSIONS)})")
        self.labels = np.asarray(labels, dtype="int32")
        self.height, self.width = image_size
        self.mode = MODES[color_mode]
        self.filter = getattr(self.image.Resampling, FILTERS[interpolation])
        self.skip_bad = skip_bad
        self.skipped = {}
        self.chunk_rows = [len(self.files)]

    def decode(self, path: Path) -> np.ndarray:
        """One image as (height, width, channels) uint8, or `BadFile` naming it."""
        try:
            # Only the formats listed: Pillow otherwise tries every plugin it has on each file.
            with self.image.open(path, formats=FORMATS) as im:
                if im.mode not in READABLE_MODES:
                    raise BadFile(f"{path}: image mode {im.mode} is not an 8-bit mode; "
                                  f"expected one Pillow converts to {self.mode} (L, RGB, RGBA, P, ...)")
                if im.mode != self.mode:
                    im = im.convert(self.mode)
                if im.size != (self.width, self.height):
                    im = im.resize((self.width, self.height), self.filter)
                array = np.asarray(im)
        except (OSError, SyntaxError, ValueError, self.image.DecompressionBombError) as exc:
            raise BadFile(f"{path}: cannot decode the image: {exc}") from None
        return array[..., None] if array.ndim == 2 else array

    def read(self, chunk: int, rows: np.ndarray) -> dict[str, np.ndarray]:
        images, kept = [], []
        for row in rows:
            try:
                images.append(self.decode(self.files[row]))
            except BadFile as exc:
                if not self.skip_bad:
                    raise
                self.skipped[str(self.files[row])] = str(exc)
                continue
            kept.append(row)
        if not kept:
            return {}
        return {"x": np.stack(images), "y": self.labels[np.asarray(kept)]}

    def describe(self) -> dict:
        return {"files": len(self.files), "class_names": self.class_names}
