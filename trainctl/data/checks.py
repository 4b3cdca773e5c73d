"""Arrays that would fail deep inside Keras, or train into meaningless numbers, refused before the first step.

`load_splits` calls `check_split` on every split it loads: the arrays the model takes
must hold numbers (not strings, objects or complex values), at least one sample, the
same number of samples each, and targets without NaN. Labels of a sparse loss must be
class indices below the output's width, and a metric must fit the labels' form (one-hot
vs class indices). Each error names the split, the array and what was found, at the
recipe line of the split (or of the metric).

Example:

    >>> check_split(loaded, model, "train", [("x", x)], [("y", y)], [], fail)  # raises `fail(...)` on a problem
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from trainctl.errors import RecipeInvalid

Named = list[tuple[str, Any]]  # (array key in the split, array)

# Metrics that read one-hot labels, and the sparse form to use instead (and back).
_ONE_HOT_METRICS = {"categoricalaccuracy": "SparseCategoricalAccuracy",
                    "topkcategoricalaccuracy": "SparseTopKCategoricalAccuracy",
                    "categoricalcrossentropy": "SparseCategoricalCrossentropy"}
_SPARSE_METRICS = {"sparsecategoricalaccuracy": "CategoricalAccuracy",
                   "sparsetopkcategoricalaccuracy": "TopKCategoricalAccuracy",
                   "sparsecategoricalcrossentropy": "CategoricalCrossentropy"}


def _plain(name: str) -> str:
    return name.replace("_", "").lower()


def check_split(loaded, model, split: str, inputs: Named, targets: Named, weights: Named,
                fail: Callable[..., RecipeInvalid]) -> None:
    """Refuse arrays `fit` cannot use or whose results would mean nothing (see the module doc)."""
    arrays = [*inputs, *targets, *weights]
    for key, arr in arrays:
        kind = getattr(getattr(arr, "dtype", None), "kind", None)
        if kind in ("U", "S", "O", "V"):
            raise fail(f"data.{split}: array {key!r} holds {arr.dtype} values ({_what(kind)}); a model takes numbers",
                       "encode them as numbers before saving the data, or map another array")
        if kind == "c":
            raise fail(f"data.{split}: array {key!r} holds complex numbers ({arr.dtype}); Keras trains on real numbers",
                       "split them into real and imaginary parts (two features) before saving the data")
        if getattr(arr, "ndim", 1) == 0:
            raise fail(f"data.{split}: array {key!r} is a single value, not an array of samples")
    lengths = {key: len(arr) for key, arr in arrays if hasattr(arr, "__len__")}
    if lengths and min(lengths.values()) == 0:
        empty = next(k for k, n in lengths.items() if n == 0)
        span = getattr(getattr(loaded.spec.data, split), "slice", None)
        sliced = f" after slice {list(span)}" if span is not None else ""
        raise fail(f"data.{split} has no samples{sliced}: array {empty!r} is empty",
                   "a slice is [start, stop] with start < stop" if sliced else None)
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k!r} {n}" for k, n in lengths.items())
        raise fail(f"data.{split}: the arrays have different numbers of samples ({listed})",
                   "x, y and sample weights must have one entry per sample")
    for key, arr in targets:
        if arr.dtype.kind == "f" and not np.isfinite(arr).all():
            bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1))
            raise fail(f"data.{split}: target array {key!r} holds NaN or infinite values at {len(bad)} sample"
                       f"{'s' if len(bad) > 1 else ''} (the first at index {bad[0]})",
                       "drop or fill those samples before training")
    _check_labels(loaded, model, split, targets, fail)


def _what(kind: str) -> str:
    return {"U": "text", "S": "bytes", "O": "Python objects", "V": "raw records"}[kind]


def _output_units(model) -> list[int | None]:
    try:
        return [t.shape[-1] if len(t.shape) > 1 else None for t in model.outputs]
    except (AttributeError, TypeError, ValueError):  # a subclassed model: unknown outputs
        return []


def _ref_name(ref: Any) -> tuple[str | None, dict]:
    """The Keras name and arguments of a loss or metric reference (None for custom code)."""
    if isinstance(ref, str):
        return ref, {}
    if isinstance(ref, dict) and len(ref) == 1 and "class" not in ref:
        (name, args), = ref.items()
        return str(name), args if isinstance(args, dict) else {}
    return None, {}


def _check_labels(loaded, model, split: str, targets: Named, fail) -> None:
    """Sparse labels in [0, units); metrics matching the label form. Single-output models only."""
    units = _output_units(model)
    if len(units) != 1 or len(targets) != 1 or not units[0] or units[0] < 2:
        return
    width = units[0]
    key, y = targets[0]
    compile_ = loaded.document.data.get("compile") or {}
    loss, loss_args = _ref_name(compile_.get("loss"))
    sparse_labels = y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1)
    if loss and "sparse" in loss.lower() and sparse_labels:
        ignored = loss_args.get("ignore_class")
        values = y if ignored is None else y[y != ignored]
        if values.size and (values.dtype.kind == "f" and (values != np.round(values)).any()):
            raise fail(f"data.{split}: labels {key!r} for the sparse loss {loss} must be class indices (whole "
                       f"numbers), found {values[values != np.round(values)][0]!r}")
        if values.size and (values.min() < 0 or values.max() >= width):
            bad = values.min() if values.min() < 0 else values.max()
            raise fail(f"data.{split}: labels {key!r} must be class indices in [0, {width}) for the model's "
                       f"{width}-unit output, found {bad.item()!r}",
                       "check the labels, or the output layer's units" + (
                           "" if ignored is not None else "; a label to skip needs the loss's ignore_class"))
    for section in ("metrics", "weighted_metrics"):
        refs = compile_.get(section)
        for i, ref in enumerate(refs if isinstance(refs, list) else []):
            name, _ = _ref_name(ref)
            if name is None:
                continue
            plain, path = _plain(name), ("compile", section, i)
            if sparse_labels and plain in _ONE_HOT_METRICS:
                raise _at(loaded, path, f"metric {name} compares one-hot labels, but data.{split}.{key} holds class "
                                        f"indices (shape {y.shape})",
                          f"use {_ONE_HOT_METRICS[plain]}, or 'accuracy', which picks the form")
            if not sparse_labels and y.shape[-1] == width and plain in _SPARSE_METRICS:
                raise _at(loaded, path, f"metric {name} compares class indices, but data.{split}.{key} holds "
                                        f"one-hot labels (shape {y.shape})",
                          f"use {_SPARSE_METRICS[plain]}, or 'accuracy', which picks the form")
            if sparse_labels and plain == "auc" and width > 2:
                raise _at(loaded, path, f"metric {name} scores binary (or one-hot multi-label) targets, but "
                                        f"data.{split}.{key} holds class indices of a {width}-class output",
                          "use SparseCategoricalAccuracy, or one-hot labels with AUC: {multi_label: true}")


def _at(loaded, path: tuple, message: str, hint: str | None = None) -> RecipeInvalid:
    return RecipeInvalid([loaded.document.error(path, message, hint)])
