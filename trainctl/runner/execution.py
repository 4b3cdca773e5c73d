"""How many training steps each call of the train function runs (`compile.steps_per_execution`).

In Keras's JAX trainer, `steps_per_execution: N` calls the same jitted train step N
times in a row before returning to the loop, so the weights are bit for bit those of
N = 1; what N saves is the per-step work of the loop around it: callbacks, reading the
logs, checkpoint checks (and with `auto`, executions can be fused into one call:
`trainctl.runner.fused`). What N changes is how often callbacks see the model, so
`auto` picks N from what the run needs to see:

- an execution never runs past a global step at which something must happen exactly:
  a multiple of `checkpoint.every_steps`, of a TensorBoard `update_freq`, of
  `logs.per_batch`; nor past the end of an epoch. When those periods allow it, all
  executions between them have one length (the longest that divides them all), so
  that each can be fused;
- a recipe callback with batch hooks (e.g. a loss history per batch) sees every batch,
  as with `model.fit`, so `auto` is 1 then; so it is in a run over several processes,
  which must all stop at the same steps;
- an execution lasts about `TARGET_SECONDS` at most, so that progress, Ctrl-C and
  SIGTERM are answered promptly even when a step takes long.

An integer in the recipe is used as given (still ending executions at those steps).

Example:

    >>> plan = plan_execution("auto", callbacks, every_steps=1000)
    >>> plan.max_steps, plan.boundaries
    (250, (1000,))
    >>> plan.size(global_step=990, limit=5000)  # stops at the checkpoint at step 1000
    10
"""

from __future__ import annotations

import dataclasses
import math

from trainctl.backend import keras
from trainctl.keras_internals import is_default

AUTO_MAX_STEPS = 256  # longer executions gain little more (docs/performance.md)
MIN_EVEN_STEPS = 8  # shorter even executions than this are not worth giving up longer ones for
TARGET_SECONDS = 0.5  # longest an automatic execution should take (signals are answered after it)


@dataclasses.dataclass
class ExecutionPlan:
    """The steps of each execution: at most `max_steps`, never across a multiple of a boundary.

    Args:
        max_steps: the model's `steps_per_execution`.
        boundaries: global-step periods at which an execution must end.
        adaptive: shorten executions to about `TARGET_SECONDS` (for `auto`).
        reason: why, in words (recorded in the manifest).
    """

    max_steps: int
    boundaries: tuple[int, ...] = ()
    adaptive: bool = False
    reason: str = ""
    seconds_per_step: float | None = None  # measured on the last execution

    def size(self, global_step: int, limit: int) -> int:
        """Steps of the execution starting at `global_step`, given `limit` steps left in the epoch."""
        n = min(self.max_steps, limit)
        if self.adaptive:
            # Until a step has been timed, one step at a time: the first ones compile.
            n = min(n, 1 if self.seconds_per_step is None
                    else max(1, int(TARGET_SECONDS / max(self.seconds_per_step, 1e-9))))
        for every in self.boundaries:
            n = min(n, every - global_step % every)
        return max(n, 1)

    def record(self, steps: int, seconds: float) -> None:
        """How long an execution of `steps` steps took, from the end of the one before to its own end."""
        self.seconds_per_step = seconds / max(steps, 1)

    def to_dict(self) -> dict:
        return {"max_steps": self.max_steps, "boundaries": list(self.boundaries), "reason": self.reason}


def _overrides_batch_hooks(callback) -> bool:
    # Keras marks the no-op hooks of `Callback` as defaults; its CallbackList asks the same.
    hooks = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
    return any(not is_default(getattr(callback, hook)) for hook in hooks)


def _needs(callback) -> tuple[int | None, bool]:
    """`(period, every_batch)`: the global-step period `callback` acts on, and whether it needs every batch."""
    from trainctl.logs.files import MetricsFiles
    from trainctl.logs.progress import ConsoleProgress
    from trainctl.logs.tensorboard import TensorBoardWriter
    from trainctl.runner.run import NaNGuard

    if isinstance(callback, TensorBoardWriter):
        return (callback.update_freq if isinstance(callback.update_freq, int) else None), False
    if isinstance(callback, MetricsFiles):
        return (callback.batch_freq or None), False
    if isinstance(callback, (ConsoleProgress, NaNGuard)):  # throttled by time, not by step
        return None, False
    if isinstance(callback, (keras.callbacks.ModelCheckpoint, keras.callbacks.BackupAndRestore)):
        if getattr(callback, "save_freq", "epoch") == "epoch":
            return None, False
        return None, True
    return None, _overrides_batch_hooks(callback)


def plan_execution(requested, callbacks, every_steps: int | None = None, recipe_callbacks=(),
                   processes: int = 1) -> ExecutionPlan:
    """The plan for `compile.steps_per_execution: requested` (`"auto"` or an int).

    Args:
        requested: the recipe's value.
        callbacks: every callback of the loop (the recipe's and trainctl's own).
        every_steps: `checkpoint.every_steps` when checkpoints are on.
        recipe_callbacks: those of `callbacks` the recipe declared, in order (for the reason).
        processes: processes of the run; with several, every one must stop at the same
            steps (checkpoints, preemption), which timed executions would not.
    """
    boundaries = {every_steps} if every_steps else set()
    per_batch = []
    for callback in callbacks:
        period, every_batch = _needs(callback)
        if period:
            boundaries.add(int(period))
        if every_batch:
            per_batch.append(callback)
    bounds = tuple(sorted(boundaries))
    if requested != "auto":
        return ExecutionPlan(int(requested), bounds, reason=f"compile.steps_per_execution: {requested}")
    if 1 in boundaries:
        return ExecutionPlan(1, bounds, reason="auto: 1, something is written after every step (per-batch logs)")
    if processes > 1:
        return ExecutionPlan(1, bounds, reason=f"auto: 1, the {processes} processes must stop at the same steps")
    if per_batch:
        index = next((i for i, c in enumerate(recipe_callbacks) if c is per_batch[0]), None)
        where = f"callbacks[{index}] " if index is not None else ""
        return ExecutionPlan(1, bounds, reason=f"auto: 1, {where}({type(per_batch[0]).__name__}) "
                                               "has batch hooks and sees every batch")
    limits = ", ".join(f"every {b} steps" for b in bounds)
    steps = _even_length(bounds)
    return ExecutionPlan(steps, bounds, adaptive=True,
                         reason=f"auto: up to {steps} steps or {TARGET_SECONDS:g} s"
                                + (f", ending at {limits}" if limits else ""))


def _even_length(boundaries: tuple[int, ...]) -> int:
    """The longest execution that divides every boundary period, if not too short; else `AUTO_MAX_STEPS`.

    Executions of one length between boundaries can all be fused (`trainctl.runner.fused`).
    """
    if not boundaries:
        return AUTO_MAX_STEPS
    period = math.gcd(*boundaries)
    length = max(d for d in range(1, min(period, AUTO_MAX_STEPS) + 1) if period % d == 0)
    return length if length >= MIN_EVEN_STEPS else AUTO_MAX_STEPS
