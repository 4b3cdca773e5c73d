"""Checks that need the compiled model, run after it is built and before the first step.

A callback's `monitor` must name a metric the model logs; Keras finds out only at the
end of the first epoch (or never: an unknown name just makes EarlyStopping warn and do
nothing). The names are what the built model reports (`loss`, each compiled metric,
per-output names for several outputs), with `val_` versions when the run validates.

Example:

    >>> check_monitors(loaded, model, validating=True)  # after model._symbolic_build(...)
"""

from __future__ import annotations

from trainctl.errors import RecipeInvalid
from trainctl.recipe.callback_checks import MONITORING, callback_args
from trainctl.recipe.structure import did_you_mean

# Written into the epoch's logs by callbacks themselves (ReduceLROnPlateau, LearningRateScheduler).
_CALLBACK_LOGS = ("learning_rate",)


def logged_names(model, validating: bool) -> list[str]:
    """The keys of the epoch logs `fit` will produce for this built, compiled model."""
    names = list(model.get_metrics_result())
    return [*names, *(f"val_{n}" for n in names if validating), *_CALLBACK_LOGS]


def check_monitors(loaded, model, validating: bool) -> None:
    """Every `monitor` of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint is a name the model logs."""
    errors = []
    names = None
    for i, ref in enumerate(loaded.document.data.get("callbacks") or []):
        name, args, at = callback_args(ref, ("callbacks", i))
        monitor = args.get("monitor")
        if name not in MONITORING or not isinstance(monitor, str):
            continue
        names = names if names is not None else logged_names(model, validating)
        if monitor in names:
            continue
        if monitor.startswith("val_") and monitor[4:] in names and not validating:
            message = f"{name} monitors {monitor!r}, but the run has no validation data"
            hint = f"add data.validation or train.validation_split, or monitor {monitor[4:]!r}"
        else:
            message = f"{name} monitors {monitor!r}, which the model does not log"
            hint = did_you_mean(monitor, names) or f"it logs: {', '.join(names)}"
        errors.append(loaded.document.error(at + ("monitor",), message, hint))
    if errors:
        raise RecipeInvalid(errors)
