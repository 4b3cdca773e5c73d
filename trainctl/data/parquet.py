"""`source: parquet`: columns of Parquet files read one row group at a time.

`path` is a file, a directory (every `*.parquet` below it) or a glob, in sorted order.
Only the footers are read up front (row counts, column names); a row group is read when a
batch needs it and at most a few are kept, so memory does not grow with the table.

Example (recipe):

    train: {source: parquet, path: "data/part-*.parquet", columns: {x: [f0, f1, f2], y: label}}
"""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np

from trainctl.data.streamed import BadFile, ChunkReader


def pyarrow_parquet():
    """`pyarrow.parquet`, or a clear error when the `parquet` extra is not installed."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise BadFile("source: parquet needs pyarrow: pip install 'trainctl[parquet]'") from None
    return pq


def parquet_files(path: str, base: Path) -> list[Path]:
    """The files `path` names (a file, a directory, a glob), relative to `base`, sorted."""
    full = Path(path) if Path(path).is_absolute() else base / path
    if full.is_dir():
        files = sorted(full.rglob("*.parquet"))
    elif full.is_file():
        files = [full]
    else:
        files = sorted(Path(p) for p in glob.glob(str(full), recursive=True) if Path(p).is_file())
    if not files:
        raise BadFile(f"no Parquet file at {full}")
    return files


def _numpy(column) -> np.ndarray:
    """A column as NumPy; a list column (an image, an embedding per row) as (rows, values), lists of one length."""
    import pyarrow as pa

    if pa.types.is_list(column.type) or pa.types.is_fixed_size_list(column.type) or pa.types.is_large_list(column.type):
        column = column.combine_chunks()
        values = column.flatten().to_numpy(zero_copy_only=False)
        return values.reshape(len(column), -1)
    return column.to_numpy()


def arrays_of(table, columns: dict, rows: np.ndarray, dtype: str, file: Path) -> dict[str, np.ndarray]:
    """`{name: rows of column(s)}` of a pyarrow table as `columns` maps them; several columns stack as features."""
    cache = {}
    out = {}
    for name, cols in columns.items():
        try:
            names = [cols] if isinstance(cols, str) else cols
            parts = [cache[c] if c in cache else cache.setdefault(c, _numpy(table.column(c))[rows]) for c in names]
            out[name] = (parts[0] if isinstance(cols, str) else np.stack(parts, axis=1)).astype(dtype)
        except (ValueError, TypeError) as exc:
            raise BadFile(f"{file}: column(s) {cols} are not {dtype}: {exc}") from None
    return out


class ParquetReader(ChunkReader):
    """Every row group of every file is one chunk; `columns` says which arrays to make of which columns."""

    def __init__(self, files: list[Path], columns: dict[str, str | list[str]] | None, dtype: str,
                 skip_bad: bool = False):
        pq = pyarrow_parquet()
        self.pq = pq
        self.dtype = dtype
        self.skipped = {}
        self.chunks: list[tuple[Path, int]] = []
        self.chunk_rows = []
        self.columns = columns
        for file in files:
            try:
                meta = pq.ParquetFile(file).metadata
            except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
                problem = f"{file}: cannot read as Parquet: {exc}"
            else:
                names = pq.ParquetFile(file).schema_arrow.names
                if self.columns is None:
                    self.columns = {name: name for name in names}
                wanted = [c for cols in self.columns.values() for c in ([cols] if isinstance(cols, str) else cols)]
                missing = [c for c in wanted if c not in names]
                problem = (f"{file} has no column {missing[0]!r}; it has {', '.join(names)}" if missing else None)
            if problem:
                if not skip_bad:
                    raise BadFile(problem)
                self.skipped[str(file)] = problem
                continue
            for group in range(meta.num_row_groups):
                self.chunks.append((file, group))
                self.chunk_rows.append(meta.row_group(group).num_rows)
        if not self.chunks:
            raise BadFile(f"no readable rows in {', '.join(map(str, files[:3]))}")
        self.needed = sorted({c for cols in self.columns.values() for c in ([cols] if isinstance(cols, str) else cols)})

    def read(self, chunk: int, rows: np.ndarray) -> dict[str, np.ndarray]:
        file, group = self.chunks[chunk]
        try:
            table = self.pq.ParquetFile(file).read_row_group(group, columns=self.needed)
        except (OSError, ValueError) as exc:
            raise BadFile(f"{file}: cannot read row group {group}: {exc}") from None
        return arrays_of(table, self.columns, rows, self.dtype, file)

    def describe(self) -> dict:
        return {"files": len({f for f, _ in self.chunks}), "row_groups": len(self.chunks),
                "rows": sum(self.chunk_rows), "skipped_files": sorted(self.skipped)}


class CsvChunks(ChunkReader):
    """A CSV file too large for memory (`source: csv` with `stream: true`): chunks of `chunk_rows` lines.

    One pass at the start records where each chunk begins (byte offsets, nothing else is
    kept); a chunk is parsed by pyarrow when a batch needs it. A quoted field spanning
    lines is not supported here (it would split a row across chunks).
    """

    def __init__(self, path: Path, columns: dict[str, str | list[str]] | None, dtype: str, delimiter: str,
                 chunk_rows: int = 100_000):
        import pyarrow.csv as pcsv

        self.pcsv = pcsv
        self.path, self.dtype, self.delimiter = path, dtype, delimiter
        self.skipped = {}
        self.offsets, self.chunk_rows = [], []
        with open(path, "rb") as f:
            self.header = f.readline().decode("utf-8").rstrip("\r\n").split(delimiter)
            rows, offset = 0, f.tell()
            for line in f:
                if rows == 0:
                    self.offsets.append(offset)
                offset += len(line)
                rows += 1
                if rows == chunk_rows:
                    self.chunk_rows.append(rows)
                    rows = 0
            if rows:
                self.chunk_rows.append(rows)
            self.offsets.append(offset)
        if not self.chunk_rows:
            raise BadFile(f"{path} has a header but no rows")
        self.columns = columns or {name: name for name in self.header}
        for cols in self.columns.values():
            for col in [cols] if isinstance(cols, str) else cols:
                if col not in self.header:
                    raise BadFile(f"{path} has no column {col!r}; it has {', '.join(self.header)}")

    def read(self, chunk: int, rows: np.ndarray) -> dict[str, np.ndarray]:
        import io

        with open(self.path, "rb") as f:
            f.seek(self.offsets[chunk])
            raw = f.read(self.offsets[chunk + 1] - self.offsets[chunk])
        try:
            table = self.pcsv.read_csv(io.BytesIO(raw), read_options=self.pcsv.ReadOptions(column_names=self.header),
                                       parse_options=self.pcsv.ParseOptions(delimiter=self.delimiter))
        except (OSError, ValueError) as exc:
            raise BadFile(f"{self.path}: cannot parse rows of chunk {chunk}: {exc}") from None
        return arrays_of(table, self.columns, rows, self.dtype, self.path)

    def describe(self) -> dict:
        return {"files": 1, "rows": sum(self.chunk_rows)}
