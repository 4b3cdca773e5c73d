"""Writers that put predictions into OUT chunk by chunk, in a work directory beside it.

Every writer keeps its partial output in `work` (`.OUT.predict/` next to OUT), returns
after each chunk the small state that says how far the output is complete (what
`progress.json` records), can take that state back after a crash (cutting off what a
killed process wrote past it), and at the end renames the finished file onto OUT.
Writing the same chunks gives the same bytes, whether or not the process was killed
in between: that is what makes `--resume` exact.

- `.npy`: one preallocated array (a header, then a sparse file of the full size), filled by row ranges.
- `.npz`: one such `.npy` per array, zipped at the end with fixed timestamps.
- `.csv`: rows appended to one file; a resumed run truncates it to the recorded length.
- `.parquet`: one part file per chunk, joined at the end as one row group each.

Example:

    >>> writer = open_output(Path("pred.npz"), work, num_rows=10_000)
    >>> state = writer.write(0, {"class_output": probs, "score_output": scores})
    >>> writer.finish()
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np

from trainctl.atomic import atomic_path, fsync_dir
from trainctl.errors import DataError

FORMATS = (".npy", ".npz", ".csv", ".parquet")
_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes on every run


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _publish(src: Path, dest: Path) -> None:
    """Rename a finished file from the work directory onto OUT, durably."""
    _fsync(src)
    os.replace(src, dest)
    fsync_dir(dest.parent)


class _NpyArrays:
    """Arrays preallocated on disk as `.npy` files in `work`, filled in place by row ranges.

    Written with `pwrite`, not through a memory map, whose written pages would count in
    the process's RSS and make memory grow with the number of rows.
    """

    def __init__(self, work: Path, num_rows: int) -> None:
        self.work, self.num_rows = work, num_rows
        self.names: list[str] = []
        self._files: dict[str, tuple[int, int]] = {}  # name -> (fd, offset of row 0)

    def _file(self, index: int) -> Path:
        return self.work / f"{index}.npy"

    def _open(self, index: int, values: np.ndarray) -> tuple[int, int]:
        from trainctl.predict.inputs import NpyFile

        path = self._file(index)
        if not path.exists():  # the header, then a sparse file of the full size
            shape = (self.num_rows, *values.shape[1:])
            header = {"descr": np.lib.format.dtype_to_descr(values.dtype), "fortran_order": False, "shape": shape}
            with open(path, "wb") as f:
                np.lib.format.write_array_header_1_0(f, header)
                f.truncate(f.tell() + values.itemsize * int(np.prod(shape, dtype=np.int64)))
        return os.open(path, os.O_RDWR), NpyFile(path).data_offset

    def write(self, start: int, arrays: dict[str, np.ndarray]) -> dict:
        if not self.names:
            self.names = list(arrays)
        for index, name in enumerate(self.names):
            values = np.ascontiguousarray(arrays[name])
            if name not in self._files:
                self._files[name] = self._open(index, values)
            fd, offset = self._files[name]
            row_bytes = values.itemsize * int(np.prod(values.shape[1:], dtype=np.int64))
            os.pwrite(fd, values.tobytes(), offset + start * row_bytes)
        for fd, _ in self._files.values():
            os.fsync(fd)  # on disk before progress.json says these rows are done
        return {"names": self.names}

    def restore(self, state: dict) -> None:
        self.names = list(state.get("names", []))

    def close(self) -> None:
        for fd, _ in self._files.values():
            os.close(fd)
        self._files.clear()


class NpyOutput(_NpyArrays):
    """A single array, written in place into a preallocated `.npy`."""

    def __init__(self, out: Path, work: Path, num_rows: int) -> None:
        super().__init__(work, num_rows)
        self.out = out

    def write(self, start: int, arrays: dict[str, np.ndarray]) -> dict:
        if len(arrays) != 1:
            raise DataError(f"{self.out.name}: a .npy file holds one array, but the prediction has "
                            f"{len(arrays)} ({', '.join(arrays)}); write a .npz, .csv or .parquet instead")
        return super().write(start, arrays)

    def finish(self) -> None:
        self.close()
        _publish(self._file(0), self.out)


class NpzOutput(_NpyArrays):
    """One array per output (named after it), zipped from the preallocated `.npy` files at the end."""

    def __init__(self, out: Path, work: Path, num_rows: int) -> None:
        super().__init__(work, num_rows)
        self.out = out

    def finish(self) -> None:
        self.close()
        with atomic_path(self.out) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            for index, name in enumerate(self.names):
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_EPOCH)
                with open(self._file(index), "rb") as src, zf.open(info, "w", force_zip64=True) as dst:
                    shutil.copyfileobj(src, dst, 1 << 24)


def _columns(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """One 1-D column per scalar of each sample: `name`, or `name_0`, `name_1`, ... (row-major)."""
    out = {}
    for name, values in arrays.items():
        flat = values.reshape(len(values), -1) if values.ndim > 1 else values
        if flat.ndim == 1:
            out[name] = flat
        else:
            out.update({f"{name}_{i}": flat[:, i] for i in range(flat.shape[1])})
    return out


def _text(column: np.ndarray) -> np.ndarray:
    # Shortest text that reads back to the same float32/float64 value.
    if column.dtype.kind == "f":
        return np.char.mod("%.9g" if column.dtype.itemsize <= 4 else "%.17g", column)
    return column.astype(str)


class CsvOutput:
    """A header row, then one line per row: the id column (if any) and every output's values."""

    def __init__(self, out: Path, work: Path, num_rows: int) -> None:
        self.out, self.part = out, work / "part.csv"

    def write(self, start: int, arrays: dict[str, np.ndarray]) -> dict:
        import csv
        import io

        columns = _columns(arrays)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        if start == 0:
            writer.writerow(columns)
        writer.writerows(zip(*(_text(c) for c in columns.values())))
        with open(self.part, "a", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
            return {"bytes": f.tell()}

    def restore(self, state: dict) -> None:
        with open(self.part, "rb+") as f:  # drop what a killed process appended after its last record
            f.truncate(state["bytes"])

    def finish(self) -> None:
        _publish(self.part, self.out)


class ParquetOutput:
    """One Parquet part per chunk, joined into OUT at the end (one row group per chunk)."""

    def __init__(self, out: Path, work: Path, num_rows: int) -> None:
        from trainctl.predict.inputs import require_pyarrow

        self.pq = require_pyarrow("write .parquet output")
        self.out, self.work, self.parts = out, work, 0

    def write(self, start: int, arrays: dict[str, np.ndarray]) -> dict:
        import pyarrow as pa

        table = pa.table(_columns(arrays))
        with atomic_path(self.work / f"part-{self.parts:06d}.parquet") as tmp:
            self.pq.write_table(table, tmp)
        self.parts += 1
        return {"parts": self.parts}

    def restore(self, state: dict) -> None:
        self.parts = state["parts"]

    def finish(self) -> None:
        paths = [self.work / f"part-{i:06d}.parquet" for i in range(self.parts)]
        with atomic_path(self.out) as tmp:
            writer = None
            for path in paths:
                table = self.pq.read_table(path)
                writer = writer or self.pq.ParquetWriter(tmp, table.schema)
                writer.write_table(table)
            if writer is not None:
                writer.close()


_WRITERS = {".npy": NpyOutput, ".npz": NpzOutput, ".csv": CsvOutput, ".parquet": ParquetOutput}


def open_output(out: Path, work: Path, num_rows: int):
    """The writer for OUT's extension (.npy, .npz, .csv, .parquet), keeping its parts in `work`."""
    suffix = out.suffix.lower()
    if suffix not in _WRITERS:
        raise DataError(f"-o {out}: the output's extension must be one of {', '.join(FORMATS)}")
    return _WRITERS[suffix](out, work, num_rows)
