"""Data sources: each turns a `data.<split>` spec into named NumPy arrays (or a PyDataset, or a reader).

One small interface for all: `load(spec, ctx) -> dict[str, np.ndarray] | keras.utils.PyDataset | ChunkReader`.
A `ChunkReader` (images, Parquet) streams from disk: `trainctl.data` makes it a `StreamedDataset`.
Sources read files relative to the recipe's directory and never download anything.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import importlib.resources
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from trainctl.errors import RecipeInvalid


@dataclasses.dataclass
class SourceContext:
    """What a source may need besides its own spec."""

    loaded: Any  # LoadedRecipe
    path: tuple  # of the source spec in the recipe, for error positions
    seed: int
    shapes: dict[str, tuple]  # model input/output name -> per-sample shape (None for unknown dims)
    resolve: Callable[[str, tuple], Any]  # `module:name` from `imports:` -> object

    def fail(self, message: str, key: str | None = None, hint: str | None = None) -> RecipeInvalid:
        path = self.path + ((key,) if key else ())
        return RecipeInvalid([self.loaded.document.error(path, message, hint)])

    def file(self, name: str) -> Path:
        path = Path(name)
        path = path if path.is_absolute() else self.loaded.base_dir / path
        if not path.is_file():
            raise self.fail(f"file not found: {path}", "path")
        return path


@functools.lru_cache(maxsize=None)
def _mnist_arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    # Decompressing the file costs ~0.2 s; smoke runs and evaluations load it many times.
    # Read-only, because every caller shares these arrays.
    with importlib.resources.as_file(importlib.resources.files("trainctl.data") / "mnist.npz") as path:
        with np.load(path, allow_pickle=False) as f:
            x, y = f[f"x_{split}"], f[f"y_{split}"]
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def _mnist(spec, ctx: SourceContext) -> dict[str, np.ndarray]:
    x, y = _mnist_arrays(spec.split)
    return {"x": x, "y": y}


def _npz_member_memmap(path: Path, member: zipfile.ZipInfo) -> np.ndarray | None:
    """A read-only memory map of an uncompressed `.npy` member of an `.npz`, or None when it is compressed."""
    if member.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(member.header_offset)
        local = f.read(30)  # the local file header: its name and extra field lengths follow
        name_length, extra_length = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
        start = member.header_offset + 30 + name_length + extra_length
        f.seek(start)
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            return None
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            return None
        offset = f.tell()
    return np.memmap(path, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C", offset=offset)


def _npz(spec, ctx: SourceContext) -> dict[str, np.ndarray]:
    path = ctx.file(spec.path)
    try:
        with np.load(path, allow_pickle=False) as f:
            keys = spec.keys or {k: k for k in f.files}
            missing = [v for v in keys.values() if v not in f.files]
            if missing:
                raise ctx.fail(f"{path.name} has no array {missing[0]!r}; it has {', '.join(f.files)}", "keys")
            members = {info.filename: info for info in f.zip.infolist()}
            out = {}
            for name, key in keys.items():
                # Stored members are read lazily, a batch at a time; compressed ones must be inflated whole.
                mapped = _npz_member_memmap(path, members[f"{key}.npy"]) if f"{key}.npy" in members else None
                out[name] = f[key] if mapped is None else mapped
            return out
    except (OSError, ValueError) as exc:
        raise ctx.fail(f"cannot read {path} as .npz: {exc}", "path") from None


def _npy(spec, ctx: SourceContext) -> dict[str, np.ndarray]:
    out = {}
    for name, file in spec.arrays.items():
        path = ctx.file(file)
        try:
            out[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ctx.fail(f"cannot read {path} as .npy: {exc}", "arrays") from None
    return out


def _images(spec, ctx: SourceContext):
    from trainctl.data.images import ImageReader

    path = Path(spec.path)
    path = path if path.is_absolute() else ctx.loaded.base_dir / path
    if not path.exists():
        raise ctx.fail(f"no folder or index file at {path}", "path")
    return ImageReader(path, tuple(spec.image_size), spec.color_mode, spec.interpolation,
                       class_names=spec.class_names, skip_bad=spec.on_bad_file == "skip")


def _parquet(spec, ctx: SourceContext):
    from trainctl.data.parquet import ParquetReader, parquet_files

    return ParquetReader(parquet_files(spec.path, ctx.loaded.base_dir), spec.columns, spec.dtype,
                         skip_bad=spec.on_bad_file == "skip")


def _csv(spec, ctx: SourceContext) -> dict[str, np.ndarray]:
    path = ctx.file(spec.path)
    if spec.stream:
        from trainctl.data.parquet import CsvChunks, pyarrow_parquet

        pyarrow_parquet()  # the same extra: a clear message when pyarrow is missing
        return CsvChunks(path, spec.columns, spec.dtype, spec.delimiter)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter=spec.delimiter))
    if not rows:
        raise ctx.fail(f"{path.name} is empty; expected a header row", "path")
    header, body = rows[0], rows[1:]
    if not body:
        raise ctx.fail(f"{path.name} has a header row and no data rows", "path")
    return csv_arrays(header, body, spec, path.name, ctx.fail)


def csv_arrays(header: list[str], body: list[list[str]], spec, name: str, fail) -> dict[str, np.ndarray]:
    """A CSV source's arrays from its `header` and some rows: `spec.columns` picked, as `spec.dtype`.

    `trainctl predict` calls it on one chunk of rows at a time.

    Example:

        >>> csv_arrays(["a", "b"], [["1", "2"]], spec, "d.csv", ctx.fail)  # spec.columns == {"x": ["a", "b"]}
        {'x': array([[1., 2.]], dtype=float32)}
    """
    columns = spec.columns or {column: column for column in header}
    out = {}
    for key, cols in columns.items():
        cols_list = [cols] if isinstance(cols, str) else list(cols)
        idx = []
        for col in cols_list:
            if col not in header:
                raise fail(f"{name} has no column {col!r}; it has {', '.join(header)}", "columns")
            idx.append(header.index(col))
        try:
            arr = np.array([[row[i] for i in idx] for row in body], dtype=spec.dtype)
        except (ValueError, IndexError) as exc:
            raise fail(f"column(s) {cols_list} of {name} are not {spec.dtype}: {exc}", "columns") from None
        out[key] = arr[:, 0] if isinstance(cols, str) else arr
    return out


def _synthetic(spec, ctx: SourceContext) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(ctx.seed if spec.seed is None else spec.seed)
    wanted = {name: {"shape": [10 if d is None else d for d in shape]} for name, shape in ctx.shapes.items()}
    if spec.arrays:
        wanted = {name: a.model_dump() for name, a in spec.arrays.items()}
    if not wanted:
        raise ctx.fail("a synthetic source needs `arrays:` when the model's inputs and outputs are not declared")
    out = {}
    for name, a in wanted.items():
        shape = (spec.samples, *a["shape"])
        if a.get("integers"):
            out[name] = rng.integers(0, a["integers"], size=shape).astype(a.get("dtype") or "int32")
        else:
            out[name] = rng.random(size=shape).astype(a.get("dtype") or "float32")
    return out


def _python(spec, ctx: SourceContext):
    fn = ctx.resolve(spec.function, ctx.path + ("function",))
    try:
        result = fn(**spec.args)
    except Exception as exc:  # noqa: BLE001 - user code
        raise ctx.fail(f"{spec.function} failed: {type(exc).__name__}: {exc}", "function") from None
    if isinstance(result, dict):
        return {k: np.asarray(v) for k, v in result.items()}
    if isinstance(result, tuple) and 2 <= len(result) <= 3:
        names = ("x", "y", "sample_weight")
        return {names[i]: v for i, v in enumerate(result)}
    from trainctl.backend import keras

    if isinstance(result, keras.utils.PyDataset):
        return result
    raise ctx.fail(f"{spec.function} returned {type(result).__name__}; expected a dict of arrays, "
                   "(x, y[, sample_weight]) or a keras.utils.PyDataset", "function")


SOURCES: dict[str, Callable] = {
    "mnist": _mnist,
    "npz": _npz,
    "csv": _csv,
    "synthetic": _synthetic,
    "python": _python,
    "npy": _npy,
    "images": _images,
    "parquet": _parquet,
}


def load_source(spec, ctx: SourceContext):
    """Arrays (or a PyDataset, or a reader) of one split; arrays sliced as the spec says."""
    data = SOURCES[spec.source](spec, ctx)
    if spec.slice is not None and isinstance(data, dict):
        start, stop = (list(spec.slice) + [None, None])[:2]
        data = {k: v[start:stop] if hasattr(v, "shape") else v for k, v in data.items()}
    return data
