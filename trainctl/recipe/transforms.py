"""The data transforms a recipe may list, and the argument each one takes.

`trainctl/data/transforms.py` implements them under exactly these names; validation and
docs/recipes.md read this table. Each step is a one-key mapping, applied per array key
in order to every split:

    transforms:
      x: [{reshape: [784]}, {cast: float32}, {divide: 255}]
      y: [{one_hot: 10}]
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from trainctl.recipe.context import describe
from trainctl.recipe.structure import did_you_mean


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_NUMERIC = "biufc"  # numpy dtype kinds: bool, signed, unsigned, float, complex
NUMPY_DTYPES = tuple(sorted({np.dtype(t).name for t in np.sctypeDict.values() if np.dtype(t).kind in _NUMERIC}))


def numpy_dtype_problem(name: Any) -> str | None:
    """Why `name` is not a numeric numpy dtype name, or None if it is.

    Example:

        >>> numpy_dtype_problem("float32") is None, numpy_dtype_problem("flaot32")
        (True, "unknown numpy dtype 'flaot32'")
    """
    if not isinstance(name, str):
        return f"expected a dtype name like 'float32', got {describe(name)}"
    try:
        kind = np.dtype(name).kind
    except TypeError:
        return f"unknown numpy dtype {name!r}"
    if kind not in _NUMERIC:
        return f"dtype {name!r} is not numeric or bool"
    return None


def _reshape(v: Any) -> str | None:
    if not isinstance(v, list) or not all(_is_int(d) for d in v):
        return "expected a per-sample shape, a list of integers like [28, 28, 1]"
    if sum(d == -1 for d in v) > 1:
        return "at most one dimension can be -1"
    if any(d < 1 and d != -1 for d in v):
        return "dimensions must be positive (or one -1, inferred)"
    return None


def _flatten(v: Any) -> str | None:
    return None if v is True else "expected `flatten: true`"


def _divide(v: Any) -> str | None:
    if not _is_number(v):
        return "expected a number"
    return "cannot divide by 0" if v == 0 else None


def _number(v: Any) -> str | None:
    return None if _is_number(v) else "expected a number"


def _one_hot(v: Any) -> str | None:
    return None if _is_int(v) and v >= 1 else "expected the number of classes, a positive integer"


def _axis(v: Any) -> str | None:
    return None if _is_int(v) else "expected an axis, an integer like -1"


def dtype_hint(name: Any) -> str:
    """"did you mean" for a misspelt numpy dtype, else the accepted names."""
    return did_you_mean(str(name), NUMPY_DTYPES) or "expected a numeric numpy dtype: float32, int64, uint8, bool, ..."


@dataclasses.dataclass(frozen=True)
class Transform:
    """One transform: its name, what it does, an example argument, the argument's check and a hint."""

    name: str
    description: str
    example: Any
    check: Callable[[Any], str | None]
    hint: Callable[[Any], str] | None = None


TRANSFORMS: dict[str, Transform] = {
    t.name: t
    for t in (
        Transform("reshape", "Reshape every sample (the batch dimension is kept).", [784], _reshape),
        Transform("flatten", "Flatten every sample to one dimension.", True, _flatten),
        Transform("cast", "Convert to a numpy dtype.", "float32", numpy_dtype_problem, dtype_hint),
        Transform("divide", "Divide by a number (e.g. 255 to scale pixels to [0, 1]).", 255, _divide),
        Transform("multiply", "Multiply by a number.", 0.5, _number),
        Transform("one_hot", "Integer class labels to one-hot vectors with this many classes.", 10, _one_hot),
        Transform("expand_dims", "Insert a size-1 axis into every sample; -1 adds a trailing channel axis.", -1, _axis),
    )
}
