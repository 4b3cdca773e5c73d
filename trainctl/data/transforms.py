"""Small declarative array transforms the guides use, applied per array key, in order.

Each is a one-key mapping in the recipe: `{reshape: [784]}`, `{flatten: true}`,
`{cast: float32}`, `{divide: 255}`, `{multiply: 0.5}`, `{one_hot: 10}`, `{expand_dims: -1}`.
`divide` exists beside `multiply` because `x / 255` and `x * (1/255)` differ in the
last bit, and a recipe must reproduce the hand-written arrays exactly.
"""

from __future__ import annotations

from typing import Callable

import numpy as np


def _one_hot(a: np.ndarray, n: int) -> np.ndarray:
    return np.eye(int(n), dtype="float32")[np.asarray(a).astype("int64").reshape(-1)].reshape(*a.shape, int(n))


TRANSFORMS: dict[str, Callable[[np.ndarray, object], np.ndarray]] = {
    "reshape": lambda a, shape: a.reshape((a.shape[0], *shape)),
    "flatten": lambda a, _: a.reshape((a.shape[0], -1)),
    "cast": lambda a, dtype: a.astype(dtype),
    "divide": lambda a, d: a / np.asarray(d, dtype=a.dtype if a.dtype.kind == "f" else None),
    "multiply": lambda a, m: a * np.asarray(m, dtype=a.dtype if a.dtype.kind == "f" else None),
    "one_hot": _one_hot,
    "expand_dims": lambda a, axis: np.expand_dims(a, axis),
}


def apply_transforms(array: np.ndarray, steps: list[dict]) -> np.ndarray:
    """`array` after each `{name: argument}` step.

    Example:

        >>> apply_transforms(np.zeros((2, 28, 28), "uint8"), [{"reshape": [784]}, {"cast": "float32"}]).shape
        (2, 784)
    """
    for step in steps:
        (name, arg), = step.items()
        array = TRANSFORMS[name](array, arg)
    return array
