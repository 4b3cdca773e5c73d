"""Readers that hand `trainctl predict` its input a chunk of rows at a time.

Each reader knows its number of rows and yields `(start_row, named_arrays)` from any
row a previous chunk ended at, so a resumed prediction reads the same chunks as an
uninterrupted one. Nothing holds more than one chunk in memory: `.npy` files (and
the stored members of an `.npz`) are read by row ranges at their offsets, CSV files
line by line from a byte offset, Parquet files a row group at a time.

Example:

    >>> reader = open_input(Path("new.npy"), csv_spec=None, chunk_rows=65536, fail=fail)
    >>> for start, arrays in reader.chunks(0): ...
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from trainctl.data.sources import csv_arrays
from trainctl.errors import DataError

# The array name a lone `.npy` gets: the model's single input, as `data.x` defaults to.
SINGLE = "x"


class NpyFile:
    """A `.npy` array on disk (a file, or a stored member of a zip), read by row slices with `pread`.

    Not a memory map: pages of a map that have been read count in the process's RSS until
    the kernel reclaims them, which makes memory grow with the rows read.
    """

    def __init__(self, path: Path, offset: int = 0) -> None:
        with open(path, "rb") as f:
            f.seek(offset)
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            self.shape, fortran, self.dtype = read(f)
            self.data_offset = f.tell()
        if fortran or self.dtype.hasobject or not self.shape:
            raise ValueError("only C-ordered numeric arrays with a row dimension can be streamed")
        self.path, self.row_items = path, int(np.prod(self.shape[1:], dtype=np.int64))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(len(self))
        count = max(stop - start, 0) * self.row_items
        offset = self.data_offset + start * self.row_items * self.dtype.itemsize
        return np.fromfile(self.path, dtype=self.dtype, count=count, offset=offset).reshape(-1, *self.shape[1:])


def _npy_member(path: Path, info: zipfile.ZipInfo) -> NpyFile | None:
    """A stored (uncompressed) `.npy` member of a zip, read in place; None if compressed."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
    name_len, extra_len = int.from_bytes(local[26:28], "little"), int.from_bytes(local[28:30], "little")
    try:
        return NpyFile(path, info.header_offset + 30 + name_len + extra_len)
    except ValueError:
        return None


class ArrayInput:
    """Named arrays of equal length (`NpyFile`s or a recipe split's arrays), read in slices."""

    def __init__(self, arrays: dict[str, Any], chunk_rows: int) -> None:
        self.arrays, self.chunk_rows = arrays, chunk_rows
        lengths = {len(a) for a in arrays.values()}
        if len(lengths) > 1:
            raise DataError(f"the input arrays differ in length: {sorted(lengths)}")
        self.num_rows = lengths.pop() if lengths else 0
        self.row_bytes = sum(np.dtype(a.dtype).itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
                             for a in arrays.values())

    def state(self, row: int) -> dict:
        return {}

    def restore(self, row: int, state: dict) -> None:
        pass

    def chunks(self, start: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        for begin in range(start, self.num_rows, self.chunk_rows):
            yield begin, {k: np.asarray(a[begin:begin + self.chunk_rows]) for k, a in self.arrays.items()}


def _npz_arrays(path: Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if i.filename.endswith(".npy")]
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"cannot read {path} as .npz: {exc}") from None
    arrays: dict[str, Any] = {}
    loaded = None
    for info in infos:
        name = info.filename[: -len(".npy")]
        mapped = _npy_member(path, info)
        if mapped is None:  # a compressed member (np.savez_compressed) cannot be mapped: load it
            loaded = loaded if loaded is not None else np.load(path, allow_pickle=False)
            mapped = loaded[name]
        arrays[name] = mapped
    return arrays


class CsvInput:
    """A CSV file with a header row, one record per line, read `chunk_rows` lines at a time.

    Columns become arrays as the recipe's CSV `columns:` say (those present in this
    file: a file to predict on has no label column), else one array per column; the
    `keep` column (an id) is carried as text.
    """

    def __init__(self, path: Path, spec, chunk_rows: int, fail, keep: str | None) -> None:
        self.path, self.chunk_rows, self.fail = path, chunk_rows, fail
        with open(path, "rb") as f:
            first = f.readline()
            body = f.tell()
            self.num_rows = sum(block.count(b"\n") for block in iter(lambda: f.read(1 << 24), b""))
            f.seek(0, 2)
            if f.tell() > body:
                f.seek(-1, 2)
                self.num_rows += f.read(1) != b"\n"  # a last line without a newline
        if not first.strip():
            raise DataError(f"{path} is empty; expected a header row naming the columns")
        self.header = next(csv.reader([first.decode("utf-8").rstrip("\r\n")], delimiter=spec.delimiter))
        self.keep = keep if keep in self.header else None
        if spec.columns:
            listed = {k: [v] if isinstance(v, str) else v for k, v in spec.columns.items()}
            mapping = {k: spec.columns[k] for k, cols in listed.items() if all(c in self.header for c in cols)}
        else:
            mapping = {c: c for c in self.header if c != self.keep}
        self.spec = spec.model_copy(update={"columns": mapping})
        self._offsets = {0: body}  # first row of a chunk -> its byte offset

    def state(self, row: int) -> dict:
        """What `restore` needs to start reading at `row` (the end of a chunk read)."""
        return {"offset": self._offsets[row]}

    def restore(self, row: int, state: dict) -> None:
        self._offsets[row] = state["offset"]

    def chunks(self, start: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        with open(self.path, "rb") as f:
            f.seek(self._offsets[start])
            row = start
            while lines := [line for line in (f.readline() for _ in range(self.chunk_rows)) if line.strip()]:
                text = b"".join(lines).decode("utf-8")
                records = list(csv.reader(io.StringIO(text), delimiter=self.spec.delimiter))
                self._offsets[row + len(records)] = f.tell()
                arrays = csv_arrays(self.header, records, self.spec, self.path.name, self.fail)
                if self.keep is not None:
                    index = self.header.index(self.keep)
                    arrays[self.keep] = np.array([r[index] for r in records])
                yield row, arrays
                row += len(records)


class ParquetInput:
    """A Parquet file read one row group (at most `chunk_rows` rows) at a time, with pyarrow."""

    def __init__(self, path: Path, chunk_rows: int) -> None:
        pq = require_pyarrow("read .parquet input")
        self.file, self.chunk_rows = pq.ParquetFile(path), chunk_rows
        self.num_rows = self.file.metadata.num_rows

    state, restore = ArrayInput.state, ArrayInput.restore  # a row number is all it needs

    def chunks(self, start: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        row = 0
        for group in range(self.file.num_row_groups):
            size = self.file.metadata.row_group(group).num_rows
            if row + size <= start:
                row += size
                continue
            table = self.file.read_row_group(group)
            for begin in range(0, size, self.chunk_rows):
                if row + begin + self.chunk_rows <= start:
                    continue
                part = table.slice(begin, self.chunk_rows)
                yield row + begin, {name: _column(part.column(name)) for name in part.column_names}
            row += size


def _column(column) -> np.ndarray:
    """One Parquet column as a NumPy array; a list column (fixed-length vectors) as a 2-D array."""
    import pyarrow as pa

    column = column.combine_chunks()
    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) or pa.types.is_large_list(column.type):
        flat = column.flatten().to_numpy(zero_copy_only=False)
        return flat.reshape(len(column), -1) if len(column) else flat.reshape(0, 0)
    return column.to_numpy(zero_copy_only=False)


def require_pyarrow(what: str):
    """`pyarrow.parquet`, or a usage error naming the extra that installs it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"to {what}, install pyarrow: pip install 'trainctl[parquet]'") from None
    return pq


def open_input(path: Path, csv_spec, chunk_rows: int, fail, keep: str | None = None):
    """The reader for an input file, chosen by its extension (.npy, .npz, .csv, .parquet).

    `csv_spec` (a recipe's CSV source: columns, delimiter, dtype) reads a `.csv`; `keep`
    names an id column a CSV file carries as text.
    """
    if not path.is_file():
        raise DataError(f"--data {path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            return ArrayInput({SINGLE: NpyFile(path)}, chunk_rows)
        except ValueError as exc:
            raise DataError(f"cannot read {path} as .npy: {exc}") from None
    if suffix == ".npz":
        return ArrayInput(_npz_arrays(path), chunk_rows)
    if suffix == ".csv":
        return CsvInput(path, csv_spec, chunk_rows, fail, keep)
    if suffix == ".parquet":
        return ParquetInput(path, chunk_rows)
    raise DataError(f"--data takes a .npy, .npz, .csv or .parquet file, got {path}")
