"""Turning what Keras hands callbacks into plain Python numbers, shared by the log writers.

Example:

    >>> learning_rate(model)
    0.001
    >>> to_python({"loss": jnp.float32(0.5)})
    {'loss': 0.5}
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np


def to_python(logs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Convert log values (JAX/NumPy scalars or arrays) to floats, or lists for non-scalars.

    Example:

        >>> to_python({"loss": np.float32(0.5), "f1": np.array([0.1, 0.2])})
        {'loss': 0.5, 'f1': [0.1, 0.2]}
    """
    result = {}
    for key, value in (logs or {}).items():
        array = np.asarray(value)
        if array.ndim:
            result[key] = array.tolist()
        elif array.dtype.kind in "biuf":
            result[key] = float(array)
        else:  # a callback may log a string or an object; keep it as it is
            result[key] = value
    return result


def learning_rate(model: Any) -> float | None:
    """The optimizer's current learning rate, schedules evaluated; None without one.

    Reads the optimizer inside a `LossScaleOptimizer`. Only meaningful outside a JAX
    training step (epoch boundaries), where Keras has synced the variables back.

    Example:

        >>> learning_rate(model)
        0.001
    """
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)
    lr = getattr(optimizer, "learning_rate", None)
    if lr is None:
        return None
    return float(np.asarray(lr))
