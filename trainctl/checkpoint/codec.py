"""Plain data <-> JSON text plus a dict of numpy arrays, without pickle.

A checkpoint may come from another machine, so reading one must never run code:
arrays go to an `.npz` read with `allow_pickle=False` and everything else to JSON.
JSON alone would turn tuples into lists and numpy scalars into Python numbers, which
breaks exact round trips (`np.random.set_state` wants its tuple back, a callback's
`best` may be a `np.float32`), so those values become small placeholder objects.

Supported values: None, bool, int, float, str, numpy arrays (not object dtype) and
scalars, jax arrays (stored as numpy), and lists, tuples and dicts of these (any
dict keys that are themselves supported values).

Example:

    >>> doc, arrays = encode({"rng": np.random.get_state()})
    >>> decode(doc, arrays)["rng"][1].dtype
    dtype('uint32')
"""

from __future__ import annotations

from typing import Any

import numpy as np

_ARRAY = "__ndarray__"
_SCALAR = "__npscalar__"
_TUPLE = "__tuple__"
_DICT = "__dict__"
_MARKERS = (_ARRAY, _SCALAR, _TUPLE, _DICT)


class Unsupported(TypeError):
    """Raised for a value that is not plain data (see the module docstring)."""


SKIP = object()
"""What `copy_plain(..., strict=False)` answers for a value it cannot store."""


def copy_plain(value: Any, strict: bool = True) -> Any:
    """Deep-copy `value` as plain data (jax arrays become numpy arrays).

    With `strict=False`, a value that is not plain data (or a container holding
    one) is answered with `SKIP` instead of raising `Unsupported`.

    Example:

        >>> copy_plain({"wait": 2, "op": print}, strict=False) is SKIP
        True
    """
    try:
        return _copy(value)
    except Unsupported:
        if strict:
            raise
        return SKIP


def _copy(value: Any) -> Any:
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, (np.ndarray, np.generic)):
        return _checked(value).copy()
    if _is_jax_array(value):
        return _checked(np.array(value))
    if type(value) is list:
        return [_copy(v) for v in value]
    if type(value) is tuple:
        return tuple(_copy(v) for v in value)
    if type(value) is dict:
        return {_copy(k): _copy(v) for k, v in value.items()}
    raise Unsupported(f"cannot store a {type(value).__module__}.{type(value).__qualname__}: {value!r:.80}")


def _is_jax_array(value: Any) -> bool:
    # Checked by module name so this file needs no jax import.
    return type(value).__module__.startswith("jax") and hasattr(value, "__array__")


def _checked(value: np.ndarray | np.generic) -> np.ndarray | np.generic:
    if value.dtype.hasobject:  # np.savez would pickle it
        raise Unsupported(f"cannot store a numpy value of object dtype: {value!r:.80}")
    return value


def encode(value: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """Split plain data into a JSON-ready document and the arrays it refers to.

    Raises `Unsupported` naming the first value that is not plain data.
    """
    arrays: dict[str, np.ndarray] = {}

    def store(array: np.ndarray) -> dict:
        key = f"a{len(arrays)}"
        ref = {_ARRAY: key}
        if array.dtype.isbuiltin == 2:  # a dtype registered from outside numpy
            # numpy saves ml_dtypes (bfloat16, float8...) as opaque void bytes;
            # keep the bits as unsigned ints and the dtype name beside them.
            ref["dtype"] = array.dtype.name
            array = array.view(f"u{array.dtype.itemsize}")
        arrays[key] = array
        return ref

    def walk(v: Any) -> Any:
        if v is None or type(v) in (bool, int, float, str):
            return v  # repr() of a float round-trips exactly; json keeps NaN/Infinity
        if _is_jax_array(v):
            v = np.array(v)
        if isinstance(v, np.ndarray):
            return store(_checked(v))
        if isinstance(v, np.generic):
            ref = store(np.asarray(_checked(v)))
            ref[_SCALAR] = ref.pop(_ARRAY)
            return ref
        if type(v) is list:
            return [walk(x) for x in v]
        if type(v) is tuple:
            return {_TUPLE: [walk(x) for x in v]}
        if type(v) is dict:
            if all(type(k) is str and k not in _MARKERS for k in v):
                return {k: walk(x) for k, x in v.items()}
            return {_DICT: [[walk(k), walk(x)] for k, x in v.items()]}
        raise Unsupported(f"cannot store a {type(v).__module__}.{type(v).__qualname__}: {v!r:.80}")

    return walk(value), arrays


def decode(doc: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Inverse of `encode`: rebuild tuples, numpy arrays and scalars, non-str-key dicts."""

    def array(ref: dict, key: str) -> np.ndarray:
        if key not in arrays:
            raise ValueError(f"the state document refers to array {key!r}, which the array file lacks")
        a = arrays[key]
        return a.view(_named_dtype(ref["dtype"])) if "dtype" in ref else a

    def walk(v: Any) -> Any:
        if isinstance(v, list):
            return [walk(x) for x in v]
        if not isinstance(v, dict):
            return v
        if _ARRAY in v:
            return array(v, v[_ARRAY])
        if _SCALAR in v:
            return array(v, v[_SCALAR])[()]
        if _TUPLE in v:
            return tuple(walk(x) for x in v[_TUPLE])
        if _DICT in v:
            return {walk(k): walk(x) for k, x in v[_DICT]}
        return {k: walk(x) for k, x in v.items()}

    return walk(doc)


def _named_dtype(name: str) -> np.dtype:
    import ml_dtypes  # ships with jax; defines bfloat16, float8_* ...

    try:
        return np.dtype(getattr(ml_dtypes, name))
    except AttributeError:
        raise ValueError(
            f"unknown array dtype {name!r} in checkpoint; expected an ml_dtypes name such as 'bfloat16'"
        ) from None
