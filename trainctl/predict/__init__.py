"""`trainctl predict`: a trained model over data of any size, streamed, resumable and atomic.

Input is read a chunk of rows at a time (`inputs.py`), mapped and transformed as the
recipe says for training, predicted with `model.predict` at the recipe's batch size,
and written as it comes (`outputs.py`) into a work directory `.OUT.predict/` beside OUT.
After each chunk, `progress.json` there is replaced atomically; it says how many rows
are done and how far each file is complete. A process killed at any moment leaves a
state that `--resume` continues from, and the finished OUT is byte-identical to an
uninterrupted prediction. OUT appears only when complete, by a rename.

Example:

    >>> predict("runs/mnist_mlp-20261125-154000", "pred.npz", data="new_images.npy", argmax=True)
    {'rows': 10000, 'out': 'pred.npz', 'seconds': 1.9, 'rows_per_s': 5263.2}
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from trainctl.atomic import write_text
from trainctl.errors import DataError, TrainctlError
from trainctl.predict.inputs import SINGLE, ArrayInput, open_input
from trainctl.predict.outputs import FORMATS, open_output

__all__ = ["predict", "named_outputs", "output_names", "CHUNK_ROWS"]

# Rows per chunk when the input's row size is unknown (CSV, Parquet), rounded to whole batches.
CHUNK_ROWS = 16384
# Otherwise, rows per chunk come from this much input: large enough that the per-chunk
# costs (a model.predict call, fsyncs, progress.json) vanish beside the rows', small
# enough that memory stays flat (a 784-float MNIST row: ~10,000 rows a chunk).
CHUNK_BYTES = 32 << 20


def work_dir(out: Path) -> Path:
    """Where an unfinished prediction into `out` keeps its parts and `progress.json`."""
    return out.parent / f".{out.name}.predict"


def _stat(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def _check_out(out: Path, resume: bool) -> dict | None:
    """The recorded progress to continue from, or None to start afresh; refuses to overwrite OUT."""
    if out.suffix.lower() not in FORMATS:
        raise DataError(f"-o {out}: the output's extension must be one of {', '.join(FORMATS)}")
    progress = work_dir(out) / "progress.json"
    if not resume:
        if out.exists():
            raise TrainctlError(f"{out} exists; remove it or choose another -o (predict never overwrites a file)")
        if work_dir(out).exists():
            raise TrainctlError(f"an unfinished prediction into {out} exists ({work_dir(out)}); "
                                f"continue it with --resume, or delete that directory to start again")
        return None
    if not progress.is_file():
        if out.exists():
            raise TrainctlError(f"{out} exists and has no unfinished prediction to resume")
        return None
    recorded = json.loads(progress.read_text(encoding="utf-8"))
    if out.exists() and recorded["rows"] != recorded["fingerprint"]["rows"]:
        raise TrainctlError(f"{out} exists; remove it or choose another -o (predict never overwrites a file)")
    return recorded


def output_names(model, count: int) -> list[str]:
    """Names for a model's `count` outputs: its `output_names`, or `output_0`, ... for a subclassed model."""
    names = list(getattr(model, "output_names", None) or [])
    return names[:count] if len(names) >= count else [f"output_{i}" for i in range(count)]


def named_outputs(predictions: Any, model) -> dict[str, np.ndarray]:
    """`model.predict`'s result as `{output_name: array}`.

    Example:

        >>> named_outputs(model.predict(x), model)
        {'class_output': array(...), 'score_output': array(...)}
    """
    if isinstance(predictions, dict):
        return {k: np.asarray(v) for k, v in predictions.items()}
    if not isinstance(predictions, (list, tuple)):
        predictions = [predictions]
    return {name: np.asarray(v) for name, v in zip(output_names(model, len(predictions)), predictions)}


def _classes(outputs: dict[str, np.ndarray], argmax: bool, top_k: int | None) -> dict[str, np.ndarray]:
    """Class indices instead of scores, for outputs with a class axis (last dimension > 1)."""
    if not argmax and not top_k:
        return outputs
    result = {}
    for name, scores in outputs.items():
        if scores.ndim < 2 or scores.shape[-1] < 2:
            result[name] = scores
        elif argmax:
            result[name] = np.argmax(scores, axis=-1)
        else:
            order = np.argsort(-scores, axis=-1, kind="stable")[..., :top_k]
            result[f"{name}_top_k"] = order
            result[f"{name}_top_k_scores"] = np.take_along_axis(scores, order, axis=-1)
    return result


def _carries_ids(out: Path, ids: np.ndarray) -> bool:
    """Ids go into tables (.csv, .parquet) and, when numeric, into a .npz: its arrays need one fixed dtype."""
    suffix = out.suffix.lower()
    return suffix in (".csv", ".parquet") or (suffix == ".npz" and ids.dtype.kind in "iub")


def _csv_spec(loaded, path: Path):
    """The recipe's own CSV source (columns, delimiter, dtype) to read a `.csv` like training did."""
    from trainctl.recipe.schema import CsvSource

    for split in ("test", "validation", "train"):
        source = getattr(loaded.spec.data, split)
        if getattr(source, "source", None) == "csv":
            return source
    return CsvSource(source="csv", path=str(path))


def _reader(loaded, model, split: str | None, data: Path | None, chunk_rows: int, id_column: str | None):
    """The chunked input and a function from one chunk's named arrays to the model's `x`."""
    from trainctl.backend import keras
    from trainctl.compile import Builder
    from trainctl.data import load_splits, model_inputs, transform_arrays

    if data is None:
        chosen = getattr(load_splits(loaded, model, Builder(loaded).user_object), split)
        if chosen is None:
            raise TrainctlError(f"the recipe declares no `data.{split}`; choose another --split or pass --data FILE")
        if chosen.dataset is not None:
            raise TrainctlError(f"data.{split} is a PyDataset; predict reads arrays: pass --data FILE")
        flat = keras.tree.flatten(chosen.x)  # already mapped and transformed by load_splits
        reader = ArrayInput({str(i): a for i, a in enumerate(flat)}, chunk_rows)
        return reader, lambda arrays: keras.tree.pack_sequence_as(chosen.x, [arrays[str(i)] for i in range(len(flat))])

    def fail(message: str, hint: str | None = None) -> DataError:
        return DataError(f"{data}: {message}" + (f" ({hint})" if hint else ""))

    def csv_fail(message: str, key: str | None = None) -> DataError:  # csv_arrays names the recipe key
        return DataError(f"{data}: {message}")

    reader = open_input(data, _csv_spec(loaded, data), chunk_rows, csv_fail, id_column)
    if data.suffix.lower() == ".npy" and isinstance(loaded.spec.data.x, str):
        reader.arrays = {loaded.spec.data.x: reader.arrays[SINGLE]}  # the model's one input, as data.x names it
    return reader, lambda arrays: model_inputs(transform_arrays(arrays, loaded), loaded, model, fail)


def predict(target: str | Path, out: str | Path, *, split: str | None = None, data: str | Path | None = None,
            batch_size: int | None = None, resume: bool = False, argmax: bool = False, top_k: int | None = None,
            id_column: str | None = "id", overrides: list[str] | None = None,
            chunk_rows: int | None = None) -> dict[str, Any]:
    """Predict with a run's `model.keras` on a split of its recipe or a file, into OUT.

    Args:
        target: a run directory, or a `model.keras` inside one.
        out: `.npy` (one output), `.npz` (one array per output, by name), `.csv` or `.parquet`
            (one column per output value: `name` or `name_0`, `name_1`, ...).
        split / data: the recipe's `train`, `validation` or `test` split, or a `.npy`, `.npz`,
            `.csv` or `.parquet` file (mapped and transformed like the recipe's data).
        batch_size: default the recipe's `train.batch_size`.
        resume: continue an unfinished prediction into `out` (same arguments).
        argmax / top_k: class indices (and top-k scores) instead of class scores.
        id_column: an input column/array carried into a `.csv`, `.parquet` or `.npz` output.
        overrides: recipe overrides, as for `eval`.
        chunk_rows: rows read, predicted and recorded at a time (rounded down to whole batches);
            default: 32 MiB of input rows, or `CHUNK_ROWS` when the row size is unknown.

    Returns: rows predicted, OUT, seconds and rows per second of this process.
    """
    from trainctl.logs.console import get_reporter
    from trainctl.logs.throughput import RowProgress
    from trainctl.runner.evaluate import load_trained

    out, data = Path(out), None if data is None else Path(data)
    if (split is None) == (data is None):
        raise TrainctlError("give one of --split NAME or --data FILE")
    if split is not None and split not in ("train", "validation", "test"):
        raise TrainctlError(f"--split must be train, validation or test, got {split!r}")
    if top_k is not None and (argmax or top_k < 1):
        raise TrainctlError("--top-k takes a positive number and does not combine with --argmax")
    recorded = _check_out(out, resume)
    loaded, model = load_trained(target, overrides)
    batch_size = batch_size or loaded.spec.train.batch_size
    reader, to_x = _reader(loaded, model, split, data, chunk_rows or CHUNK_ROWS, id_column)
    if chunk_rows is None and getattr(reader, "row_bytes", 0):
        chunk_rows = CHUNK_BYTES // reader.row_bytes
    # Whole batches: the same batches as one model.predict over all rows, so the same results.
    reader.chunk_rows = chunk_rows = max(1, (chunk_rows or CHUNK_ROWS) // batch_size) * batch_size
    model_path = Path(target) if Path(target).suffix == ".keras" else Path(target) / "model.keras"
    fingerprint = {
        "model": [str(model_path.resolve()), *_stat(model_path)],
        "input": [str(data.resolve()), *_stat(data)] if data is not None else ["split", split],
        "rows": reader.num_rows, "batch_size": batch_size, "chunk_rows": chunk_rows, "argmax": argmax,
        "top_k": top_k, "id_column": id_column, "overrides": list(overrides or []),
    }
    work = work_dir(out)
    if recorded is not None and out.exists():  # killed after OUT was complete, before cleaning up
        shutil.rmtree(work)
        get_reporter().info(f"{out} is complete")
        return {"rows": reader.num_rows, "out": str(out), "seconds": 0.0, "rows_per_s": None}
    writer = open_output(out, work, reader.num_rows)
    start = 0
    if recorded is not None and recorded.get("rows", 0) > 0:
        if recorded["fingerprint"] != fingerprint:
            raise TrainctlError(f"the unfinished prediction in {work} was made with other arguments, model or "
                                f"input; run the same command, or delete {work} to start again")
        start = recorded["rows"]
        reader.restore(start, recorded["reader"])
        writer.restore(recorded["writer"])
    else:
        shutil.rmtree(work, ignore_errors=True)  # nothing recorded yet: nothing to keep
        work.mkdir(parents=True)
    report = get_reporter()
    source = data if data is not None else f"data.{split}"
    report.info(f"predicting {reader.num_rows} rows of {source} into {out} (batch size {batch_size}"
                + (f", resuming at row {start})" if start else ")"))
    progress = RowProgress(reader.num_rows, "predict", done=start)
    t0 = time.monotonic()

    def record(begin: int, outputs: dict, reader_state: dict) -> None:
        rows = len(next(iter(outputs.values())))
        state = writer.write(begin, outputs)
        write_text(work / "progress.json", json.dumps({
            "fingerprint": fingerprint, "rows": begin + rows, "reader": reader_state, "writer": state}))

    # One writer thread: chunk k is written and fsynced while chunk k+1 is predicted, in order.
    pending, pending_rows = None, 0
    try:
        with ThreadPoolExecutor(1) as io_thread:
            for begin, arrays in reader.chunks(start):
                ids = arrays.pop(id_column, None) if id_column and data is not None else None
                outputs = _classes(named_outputs(model.predict(to_x(arrays), batch_size=batch_size, verbose=0),
                                                 model), argmax, top_k)
                if ids is not None and _carries_ids(out, ids):
                    outputs = {id_column: ids, **outputs}
                rows = len(next(iter(outputs.values())))
                if pending is not None:
                    pending.result()
                    progress.advance(pending_rows)
                pending, pending_rows = io_thread.submit(record, begin, outputs, reader.state(begin + rows)), rows
            if pending is not None:
                pending.result()
                progress.advance(pending_rows)
        writer.finish()
    finally:
        progress.close()
    shutil.rmtree(work)
    seconds = time.monotonic() - t0
    done = reader.num_rows - start
    return {"rows": reader.num_rows, "out": str(out), "seconds": round(seconds, 3),
            "rows_per_s": round(done / seconds, 1) if seconds > 0 else None}
