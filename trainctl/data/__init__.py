"""Recipe `data:` → what `model.fit` takes: x, y and sample weights per split (or a PyDataset).

Example:

    >>> splits = load_splits(loaded, model)
    >>> splits.train.x.shape
    (50000, 784)
"""

from __future__ import annotations

import dataclasses
from typing import Any


from trainctl.data.checks import check_split
from trainctl.data.sources import SourceContext, load_source
from trainctl.data.transforms import apply_transforms
from trainctl.errors import RecipeInvalid

__all__ = ["Split", "Splits", "load_splits", "model_inputs", "model_shapes", "transform_arrays"]

SPLITS = ("train", "validation", "test")


@dataclasses.dataclass
class Split:
    """One split as `fit`/`evaluate` arguments: arrays (`x`, `y`, `sample_weight`) or a `dataset`."""

    x: Any = None
    y: Any = None
    sample_weight: Any = None
    dataset: Any = None  # a keras.utils.PyDataset

    @property
    def num_samples(self) -> int | None:
        if self.dataset is not None:
            return None
        first = self.x if not isinstance(self.x, (dict, list)) else next(iter(
            self.x.values() if isinstance(self.x, dict) else self.x))
        return len(first)

    def as_fit_args(self) -> dict:
        if self.dataset is not None:
            return {"x": self.dataset}
        return {"x": self.x, "y": self.y, "sample_weight": self.sample_weight}


@dataclasses.dataclass
class Splits:
    train: Split
    validation: Split | None = None
    test: Split | None = None

    def streamed(self) -> dict:
        """What a run records of its streamed splits: files, class names, bad files skipped, input wait.

        Example:

            >>> splits.streamed()
            {'train': {'files': 1000, 'class_names': ['0', ...], 'skipped': 0, 'input_wait': {0: 0.012}}}
        """
        out = {}
        for name in SPLITS:
            dataset = getattr(getattr(self, name), "dataset", None)
            if hasattr(dataset, "reader"):
                out[name] = {**dataset.reader.describe(), "skipped": len(dataset.reader.skipped),
                             "skipped_files": sorted(dataset.reader.skipped)[:20],
                             "input_wait": {str(e): round(f, 4) for e, f in dataset.input_wait().items()}}
        return out


def model_shapes(model) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """Per-sample shapes of a built model's named inputs and outputs (empty if unknown)."""
    try:
        inputs = {t.name.split(":")[0]: tuple(t.shape[1:]) for t in model.inputs}
        outputs = {name: tuple(t.shape[1:]) for name, t in zip(model.output_names, model.outputs)}
    except (AttributeError, ValueError, TypeError):  # a subclassed model before it is called
        return {}, {}
    input_names = [getattr(layer, "name", None) for layer in getattr(model, "_input_layers", [])]
    if input_names and len(input_names) == len(inputs):
        inputs = dict(zip(input_names, inputs.values()))
    return inputs, outputs


def _select(arrays: dict, key, names: list[str], default: str, what: str, fail) -> tuple[Any, list]:
    """The array(s) `key` picks for the model's `names` (inputs or outputs), and (array key, array) pairs."""
    if key is None:
        if names and all(n in arrays for n in names):
            key = names[0] if len(names) == 1 else {n: n for n in names}
        else:
            key = default
    try:
        if isinstance(key, str):
            return arrays[key], [(key, arrays[key])]
        if isinstance(key, list):
            return [arrays[k] for k in key], [(k, arrays[k]) for k in key]
        return {name: arrays[k] for name, k in key.items()}, [(k, arrays[k]) for k in key.values()]
    except KeyError as exc:
        raise fail(f"no array {exc.args[0]!r} for the model {what}; this split has: {', '.join(sorted(arrays))}")


def _check_shapes(x, shapes: dict[str, tuple], fail) -> None:
    if not shapes:
        return
    named = x if isinstance(x, dict) else dict(zip(shapes, x if isinstance(x, list) else [x]))
    for name, arr in named.items():
        expected = shapes.get(name)
        if expected is None or not hasattr(arr, "shape"):
            continue
        actual = tuple(arr.shape[1:])
        if len(actual) != len(expected) or any(e is not None and e != a for e, a in zip(expected, actual)):
            exp = "(" + ", ".join("None" if e is None else str(e) for e in expected) + ")"
            raise fail(f"input {name!r} expects samples of shape {exp}, but the data has {actual}",
                       "add a transform such as `reshape:` under data.transforms")


def transform_arrays(arrays: dict, loaded) -> dict:
    """`arrays` with the recipe's `data.transforms` applied to those they name, as in training.

    Transforms act on each sample, so applying them chunk by chunk (`trainctl predict`)
    gives the same arrays as applying them to the whole split.
    """
    for key, steps in loaded.spec.data.transforms.items():
        if key in arrays:
            try:
                arrays[key] = apply_transforms(arrays[key], steps)
            except (ValueError, TypeError) as exc:
                raise RecipeInvalid([loaded.document.error(("data", "transforms", key), f"{key}: {exc}")]) from None
    return arrays


def model_inputs(arrays: dict, loaded, model, fail) -> Any:
    """The model's `x` picked from transformed named arrays, as `data.x` says (or by input name).

    Example:

        >>> model_inputs({"x": np.zeros((2, 784), "float32")}, loaded, model, fail).shape
        (2, 784)
    """
    inputs, _ = model_shapes(model)
    x, _ = _select(arrays, loaded.spec.data.x, list(inputs), "x", "inputs", fail)
    _check_shapes(x, inputs, fail)
    return x


def load_splits(loaded, model, resolve) -> Splits:
    """Load, transform and map every declared split onto the model's inputs and outputs."""
    from trainctl.data.streamed import ChunkReader

    spec = loaded.spec.data
    doc = loaded.document
    inputs, outputs = model_shapes(model)
    out = {}
    for index, split in enumerate(SPLITS):
        source = getattr(spec, split)
        if source is None:
            continue
        path = ("data", split)

        def fail(message, hint=None, path=path):
            return RecipeInvalid([doc.error(path, message, hint)])

        ctx = SourceContext(loaded=loaded, path=path, seed=loaded.spec.seed + index,
                            shapes={**inputs, **outputs}, resolve=resolve)
        arrays = load_source(source, ctx)
        if isinstance(arrays, ChunkReader):
            out[split] = Split(dataset=_streamed(arrays, split, ctx, inputs, outputs, fail))
            continue
        if not isinstance(arrays, dict):
            out[split] = Split(dataset=arrays)
            continue
        if spec.limit is not None:
            arrays = {k: v[: spec.limit] for k, v in arrays.items()}
        x, y, sw, named_x, named_y = _fit_arrays(loaded, arrays, inputs, outputs, fail)
        check_split(loaded, model, split, named_x, named_y, [(spec.sample_weight, sw)] if sw is not None else [], fail)
        _check_shapes(x, inputs, fail)
        out[split] = Split(x=x, y=y, sample_weight=sw)
    return Splits(**out)


def _fit_arrays(loaded, arrays: dict, inputs: dict, outputs: dict, fail) -> tuple:
    """`(x, y, sample_weight, named_x, named_y)` for `fit` of named arrays (a whole split, or one batch):
    transformed and selected; `named_*` pair each selected array with its key, for the content checks."""
    spec = loaded.spec.data
    arrays = transform_arrays(dict(arrays), loaded)
    x, named_x = _select(arrays, spec.x, list(inputs), "x", "inputs", fail)
    # No `y` and no array named like the outputs or `y`: a model that computes its own
    # loss from its inputs (the guide's LogisticEndpoint) trains without targets.
    has_targets = spec.y is not None or "y" in arrays or (outputs and all(o in arrays for o in outputs))
    y, named_y = _select(arrays, spec.y, list(outputs), "y", "outputs", fail) if has_targets else (None, [])
    sw = arrays[spec.sample_weight] if spec.sample_weight else None
    return x, y, sw, named_x, named_y


def _streamed(reader, split: str, ctx: SourceContext, inputs: dict, outputs: dict, fail):
    """A `StreamedDataset` of `reader` for `split`: batches as `fit` takes them, the recipe's slice and limit."""
    import os

    from trainctl.data.streamed import StreamedDataset

    loaded = ctx.loaded
    spec, train = getattr(loaded.spec.data, split), loaded.spec.train
    total = sum(reader.chunk_rows)
    start, stop, _ = slice(*(list(spec.slice or []) + [None, None])[:2]).indices(total)
    if loaded.spec.data.limit is not None:
        stop = min(stop, start + loaded.spec.data.limit)
    batch_size = train.batch_size or 32
    if split != "train":
        batch_size = train.validation_batch_size or batch_size

    def to_batch(arrays: dict) -> tuple:
        x, y, sw, _, _ = _fit_arrays(loaded, arrays, inputs, outputs, fail)
        return (x,) if y is None and sw is None else (x, y) if sw is None else (x, y, sw)

    dataset = StreamedDataset(reader, batch_size=batch_size, shuffle=split == "train" and bool(train.shuffle),
                              seed=ctx.seed, to_batch=to_batch, rows=(start, stop),
                              workers=getattr(spec, "workers", None) or os.cpu_count() or 1,  # csv: no such key
                              epoch=train.initial_epoch if split == "train" else 0)
    if dataset.num_samples == 0:
        raise fail(f"data.{split} has no rows left after its slice/limit")
    _check_shapes(dataset.batch(0, 0)[0], inputs, fail)  # one batch read now: a bad recipe fails before training
    return dataset
