"""Check the data section against the files on disk and the model.

Files are opened only as far as needed to list what they hold: the zip directory of
an `.npz` (no array is read) and the header row of a CSV. Then every array name the
recipe uses (`x`, `y`, `sample_weight`, transform keys) must be one each split
provides, where that is knowable (a `python` source is known only when it runs).
"""

from __future__ import annotations

import csv
import glob
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from trainctl.recipe.context import CheckContext, describe
from trainctl.recipe.graph import ModelInfo
from trainctl.recipe.loader import PathT
from trainctl.recipe.modules import check_import_path
from trainctl.recipe.structure import did_you_mean
from trainctl.recipe.transforms import TRANSFORMS, dtype_hint, numpy_dtype_problem

SPLITS = ("train", "validation", "test")
MNIST_ARRAYS = frozenset({"x", "y"})
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # an .npz is a zip archive (possibly empty)


def check_data(ctx: CheckContext, model: ModelInfo, needs_targets: bool) -> None:
    """Check sources, array names, and transforms; `needs_targets` is False when compiled without a loss."""
    data = ctx.get(("data",))
    if not isinstance(data, dict):
        return
    arrays = _Arrays(ctx, {s: _check_source(ctx, ("data", s), data[s], model)
                           for s in SPLITS if isinstance(data.get(s), dict)})
    _check_keymap(ctx, arrays, "x", data.get("x"), model.inputs, model.n_inputs, "input")
    if needs_targets or data.get("y") is not None:
        _check_keymap(ctx, arrays, "y", data.get("y"), model.outputs, model.n_outputs, "output")
    if isinstance(data.get("sample_weight"), str):
        arrays.require(("data", "sample_weight"), data["sample_weight"])
    transforms = data.get("transforms")
    if isinstance(transforms, dict):
        for key, steps in transforms.items():
            arrays.require(("data", "transforms", key), key, every_split=False, key=True)
            for i, step in enumerate(steps if isinstance(steps, list) else []):
                _check_step(ctx, ("data", "transforms", key, i), step)


class _Arrays:
    """The array names each split provides (None where unknowable), and lookups that report misses."""

    def __init__(self, ctx: CheckContext, provided: dict[str, frozenset[str] | None]):
        self.ctx = ctx
        self.known = {split: keys for split, keys in provided.items() if keys is not None}

    def has(self, key: str) -> bool:
        return all(key in keys for keys in self.known.values())

    def require(self, path: PathT, name: Any, every_split: bool = True, key: bool = False) -> None:
        """Report `name` missing from the known splits (from all of them when not `every_split`)."""
        missing = [s for s, keys in self.known.items() if name not in keys]
        if not missing or (not every_split and len(missing) < len(self.known)):
            return
        split, keys = missing[0], self.known[missing[0]]
        also = "".join(f", nor in data.{s}" for s in missing[1:])
        hint = did_you_mean(str(name), keys) or f"data.{split} has: {', '.join(sorted(keys)) or 'no arrays'}"
        self.ctx.error(path, f"no array {name!r} in data.{split}{also}", hint, key=key)


def _check_keymap(ctx: CheckContext, arrays: _Arrays, which: str, value: Any, names: tuple[str, ...] | None,
                  count: int | None, what: str) -> None:
    """`data.x`/`data.y`: one array, a list (positional) or `{input_or_output: array}`."""
    path = ("data", which)
    listed = f" ({', '.join(names)})" if names else ""
    if value is None:
        _check_default(ctx, arrays, which, names, count, what)
        return
    if isinstance(value, str):
        if count and count > 1:
            ctx.error(path, f"data.{which} names one array but the model has {count} {what}s{listed}",
                      f"give one per {what}: {{{names[0] if names else what}: <array>, ...}}")
        arrays.require(path, value)
    elif isinstance(value, list):
        if count and len(value) != count:
            ctx.error(path, f"data.{which} lists {len(value)} array{'s' if len(value) != 1 else ''} but the model "
                            f"has {count} {what}"
                            f"{'s' if count > 1 else ''}{listed}")
        for i, key in enumerate(value):
            arrays.require(path + (i,), key)
    elif isinstance(value, dict):
        for name, key in value.items():
            if names is not None and name not in names:
                hint = did_you_mean(str(name), names) or f"the model's {what}s: {', '.join(names)}"
                ctx.error(path + (name,), f"unknown model {what} {name!r}", hint, key=True)
            arrays.require(path + (name,), key)
        missing = [n for n in names or () if n not in value]
        if missing:
            ctx.error(path, f"data.{which} gives no array for the model {what}"
                            f"{'s' if len(missing) > 1 else ''} {', '.join(repr(m) for m in missing)}")


def _check_default(ctx: CheckContext, arrays: _Arrays, which: str, names: tuple[str, ...] | None,
                   count: int | None, what: str) -> None:
    """`data.x`/`data.y` unset: arrays named like the model's inputs/outputs, else one array named x/y."""
    if names and all(arrays.has(n) for n in names):
        return
    if count in (1, None) and arrays.has(which):
        return
    wanted = set(names) if count and count > 1 else {which}
    split = next((s for s, keys in arrays.known.items() if not wanted <= keys), None)
    if split is None:
        return
    if count and count > 1:
        named = f"named like the model {what}s ({', '.join(names or ())})"
    else:
        named = f"named like the model {what} ({', '.join(names)}) or {which!r}" if names else f"named {which!r}"
    ctx.error(("data",), f"data.{which} is not set, and data.{split} has no arrays {named}",
              f"set data.{which}; data.{split} has: {', '.join(sorted(arrays.known[split])) or 'no arrays'}",
              key=True)


def _check_step(ctx: CheckContext, path: PathT, step: Any) -> None:
    if not isinstance(step, dict) or len(step) != 1:
        ctx.error(path, f"a transform step is a one-key mapping like {{reshape: [784]}}, got {describe(step)}")
        return
    (name, arg), = step.items()
    transform = TRANSFORMS.get(name) if isinstance(name, str) else None
    if transform is None:
        hint = did_you_mean(str(name), TRANSFORMS) or f"expected one of: {', '.join(TRANSFORMS)}"
        ctx.error(path + (name,), f"unknown transform {name!r}", hint, key=True)
        return
    problem = transform.check(arg)
    if problem:
        got = "" if repr(arg) in problem else f", got {describe(arg)}"
        example = f"e.g. {{{name}: {transform.example}}}".replace("True", "true")
        ctx.error(path + (name,), f"{name}: {problem}{got}", transform.hint(arg) if transform.hint else example)


def _check_source(ctx: CheckContext, path: PathT, src: dict, model: ModelInfo) -> frozenset[str] | None:
    """Check one split's source; return the array names it provides (None if unknowable)."""
    span = src.get("slice")
    if isinstance(span, list) and not 1 <= len(span) <= 3:
        ctx.error(path + ("slice",), f"expected [start, stop] (or [start, stop, step]), got {len(span)} numbers")
    elif isinstance(span, list) and len(span) == 3 and span[2] == 0:
        ctx.error(path + ("slice", 2), "a slice step cannot be 0")
    elif _empty_slice(span):
        ctx.error(path + ("slice",), f"slice {span} selects no samples: its stop is not after its start",
                  f"did you mean [{span[1]}, {span[0]}]?" if span[1] >= 0 else None)
    kind = src.get("source")
    if kind == "mnist":
        return MNIST_ARRAYS
    if kind == "npz":
        return _npz_arrays(ctx, path, src)
    if kind == "csv":
        return _csv_arrays(ctx, path, src)
    if kind == "synthetic":
        return _synthetic_arrays(ctx, path, src, model)
    if kind == "python":
        check_import_path(ctx, path + ("function",), src.get("function"), what="function")
    if kind in ("images", "parquet"):
        _existing_path(ctx, path, src.get("path"), glob_ok=kind == "parquet")
    if kind == "images":
        return frozenset({"x", "y"})
    if kind == "npy":
        arrays = src.get("arrays")
        if isinstance(arrays, dict):
            for name, file in arrays.items():
                _existing_file(ctx, path + ("arrays", name), file, key=())
            return frozenset(arrays)
    if kind == "parquet" and isinstance(src.get("columns"), dict):
        return frozenset(src["columns"])
    return None


def _empty_slice(span: Any) -> bool:
    """`[start, stop]` (step positive or absent) that selects nothing whatever the data's length."""
    if not isinstance(span, list) or len(span) not in (2, 3):
        return False
    start, stop, step = (span + [1])[:3]
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step))
    return ints and step > 0 and (start >= 0) == (stop >= 0) and stop <= start


def _existing_file(ctx: CheckContext, path: PathT, value: Any, key: tuple = ("path",)) -> Path | None:
    if not isinstance(value, str):
        return None
    file = Path(value).expanduser()
    file = file if file.is_absolute() else ctx.base_dir / file
    if not file.is_file():
        problem = "is a directory, not a file" if file.is_dir() else "not found"
        ctx.error(path + key, f"data file {problem}: {file}",
                  "relative paths start at the recipe's directory" if not Path(value).is_absolute() else None)
        return None
    return file


def _existing_path(ctx: CheckContext, path: PathT, value: Any, glob_ok: bool) -> None:
    """A folder, a file, or (Parquet) a glob matching at least one file."""
    if not isinstance(value, str):
        return
    full = Path(value).expanduser()
    full = full if full.is_absolute() else ctx.base_dir / full
    if full.exists() or (glob_ok and glob.glob(str(full), recursive=True)):
        return
    ctx.error(path + ("path",), f"no {'file, folder or glob match' if glob_ok else 'folder or index file'} at {full}",
              "relative paths start at the recipe's directory" if not Path(value).is_absolute() else None)


def _npz_arrays(ctx: CheckContext, path: PathT, src: dict) -> frozenset[str] | None:
    file = _existing_file(ctx, path, src.get("path"))
    if file is None:
        return None
    try:
        with open(file, "rb") as f:
            magic = f.read(4)
        if magic not in _ZIP_MAGIC:
            raise ValueError("not a zip archive of .npy arrays")
        with np.load(file, allow_pickle=False) as archive:  # lists the zip directory; reads no array
            stored = frozenset(archive.files)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        ctx.error(path + ("path",), f"cannot read {file} as .npz: {exc}", "write it with numpy.savez")
        return None
    if not stored:
        ctx.error(path + ("path",), f"{file} holds no arrays", "write them with numpy.savez(path, x=..., y=...)")
        return None
    renames = src.get("keys")
    if not isinstance(renames, dict):
        return stored
    for name, key in renames.items():
        if key not in stored:
            hint = did_you_mean(str(key), stored) or f"{file.name} has: {', '.join(sorted(stored))}"
            ctx.error(path + ("keys", name), f"no array {key!r} in {file.name}", hint)
    return frozenset(renames) | (stored - set(renames.values()))


def _csv_arrays(ctx: CheckContext, path: PathT, src: dict) -> frozenset[str] | None:
    delimiter = src.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        ctx.error(path + ("delimiter",), f"expected one character, got {describe(delimiter)}")
        delimiter = ","
    if "dtype" in src and (problem := numpy_dtype_problem(src["dtype"])):
        ctx.error(path + ("dtype",), problem, dtype_hint(src["dtype"]))
    file = _existing_file(ctx, path, src.get("path"))
    if file is None:
        return None
    try:
        with open(file, newline="", encoding="utf-8") as f:
            rows = csv.reader(f, delimiter=delimiter)
            header, first = next(rows, None), next(rows, None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        ctx.error(path + ("path",), f"cannot read {file} as CSV: {exc}")
        return None
    if not header:
        ctx.error(path + ("path",), f"{file} is empty; expected a header row naming the columns")
        return None
    if first is None:
        ctx.error(path + ("path",), f"{file} has a header row and no data rows")
    header = [h.strip() for h in header]
    columns = src.get("columns")
    if not isinstance(columns, dict):
        return frozenset(header)
    for name, wanted in columns.items():
        for at, column in ([(path + ("columns", name), wanted)] if not isinstance(wanted, list) else
                           [(path + ("columns", name, i), c) for i, c in enumerate(wanted)]):
            if column not in header:
                hint = did_you_mean(str(column), header) or f"{file.name} has: {', '.join(header)}"
                ctx.error(at, f"no column {column!r} in {file.name}", hint)
    return frozenset(columns)


def _synthetic_arrays(ctx: CheckContext, path: PathT, src: dict, model: ModelInfo) -> frozenset[str] | None:
    arrays = src.get("arrays")
    if not isinstance(arrays, dict):
        if model.inputs is None or model.outputs is None:
            return None
        return frozenset(model.inputs) | frozenset(model.outputs)
    for name, spec in arrays.items():
        if not isinstance(spec, dict):
            continue
        at = path + ("arrays", name)
        if "dtype" in spec and (problem := numpy_dtype_problem(spec["dtype"])):
            ctx.error(at + ("dtype",), problem, dtype_hint(spec["dtype"]))
        for i, dim in enumerate(spec.get("shape") or []):
            if isinstance(dim, int) and dim < 1:
                ctx.error(at + ("shape", i), f"a dimension must be a positive integer, got {dim}")
        integers = spec.get("integers")
        if isinstance(integers, int) and not isinstance(integers, bool) and integers < 1:
            ctx.error(at + ("integers",), f"`integers` draws from [0, integers): expected at least 1, got {integers}")
    return frozenset(arrays)
