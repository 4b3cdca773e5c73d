"""Declarative schedules for `LearningRateScheduler`, which in Keras needs a Python function.

    callbacks:
      - LearningRateScheduler: {schedule: {constant_then_exponential: {epochs: 10, rate: 0.1}}}

Each form is a function `(epoch, lr) -> lr`, the signature Keras calls. For anything
else, name a function from an `imports:` module: `schedule: {class: "mymod:my_schedule"}`.
"""

from __future__ import annotations

import math
from typing import Callable


def constant_then_exponential(epochs: int, rate: float) -> Callable[[int, float], float]:
    """Keep the rate for `epochs` epochs, then multiply it by `exp(-rate)` every epoch (the guide's schedule).

    Example:

        >>> f = constant_then_exponential(10, 0.1)
        >>> f(3, 0.01), round(f(10, 0.01), 6)
        (0.01, 0.009048)
    """
    return lambda epoch, lr: lr if epoch < epochs else lr * math.exp(-rate)


def exponential(rate: float) -> Callable[[int, float], float]:
    """Multiply the rate by `exp(-rate)` every epoch after the first."""
    return lambda epoch, lr: lr if epoch == 0 else lr * math.exp(-rate)


def step_decay(every: int, factor: float) -> Callable[[int, float], float]:
    """Multiply the rate by `factor` at every `every`-th epoch (10, 20, ... for every=10)."""
    return lambda epoch, lr: lr * factor if epoch > 0 and epoch % every == 0 else lr


def linear_warmup(epochs: int, target: float) -> Callable[[int, float], float]:
    """Rise linearly to `target` over the first `epochs` epochs, then leave the rate alone."""
    return lambda epoch, lr: target * (epoch + 1) / epochs if epoch < epochs else lr


LR_SCHEDULES = {
    "constant_then_exponential": constant_then_exponential,
    "exponential": exponential,
    "step_decay": step_decay,
    "linear_warmup": linear_warmup,
}
