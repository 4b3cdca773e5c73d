"""Recipe `data:` → what `model.fit` takes: x, y and sample weights per split (or a PyDataset).

Example:

    >>> splits = load_splits(loaded, model)
    >>> splits.train.x.shape
    (50000, 784)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

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


def _select(arrays: dict, key, names: list[str], default: str, what: str, fail) -> Any:
    """The array(s) `key` picks for the model's `names` (inputs or outputs)."""
    if key is None:
        if names and all(n in arrays for n in names):
            return arrays[names[0]] if len(names) == 1 else {n: arrays[n] for n in names}
        key = default
    try:
        if isinstance(key, str):
            return arrays[key]
        if isinstance(key, list):
            return [arrays[k] for k in key]
        return {name: arrays[k] for name, k in key.items()}
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
    x = _select(arrays, loaded.spec.data.x, list(inputs), "x", "inputs", fail)
    _check_shapes(x, inputs, fail)
    return x


def load_splits(loaded, model, resolve) -> Splits:
    """Load, transform and map every declared split onto the model's inputs and outputs."""
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
        if not isinstance(arrays, dict):
            out[split] = Split(dataset=arrays)
            continue
        if spec.limit is not None:
            arrays = {k: v[: spec.limit] for k, v in arrays.items()}
        arrays = transform_arrays(arrays, loaded)
        x = _select(arrays, spec.x, list(inputs), "x", "inputs", fail)
        # No `y` and no array named like the outputs or `y`: a model that computes its own
        # loss from its inputs (the guide's LogisticEndpoint) trains without targets.
        has_targets = spec.y is not None or "y" in arrays or (outputs and all(o in arrays for o in outputs))
        y = _select(arrays, spec.y, list(outputs), "y", "outputs", fail) if has_targets else None
        sw = arrays[spec.sample_weight] if spec.sample_weight else None
        _check_shapes(x, inputs, fail)
        out[split] = Split(x=x, y=y, sample_weight=sw)
    return Splits(**out)
