"""One compiled call for a whole execution: Keras's train step under `jax.lax.scan`, checked once.

Keras's JAX trainer runs `steps_per_execution` steps as that many calls of the jitted
train step; on CPU, for a small model, the cost of a call (arguments in, state out,
the batch copied to the device) is as large as the step itself. Here an execution of
`steps` equal-shaped batches is one call: the batches are stacked and the same
`train_step` runs over them in a `lax.scan`, the state never leaving the device.

That the scan gives the weights of separate calls bit for bit is what XLA does on the
models tried, not a promise. So the first fused execution of a run is also run as
separate calls, from a copy of the state, and every array of both results compared:
if anything differs, the separate calls' result is kept and the run goes on without
fusing. Either way the run equals `model.fit`'s.

Example:

    >>> steps = FusedSteps(model, steps=64)
    >>> logs, state = steps(state, batches)  # `batches` gives up to 64 batches
"""

from __future__ import annotations

import jax
import numpy as np

from trainctl.keras_internals import distribution_lib, is_nnx_enabled

MAX_BYTES = 64 * 1024**2  # stacked batches of one execution, beyond which it is not fused


class FusedSteps:
    """Runs executions of `steps` batches as one `lax.scan` call, or as Keras does when they cannot be.

    Args:
        model: a compiled Keras model whose train function is made.
        steps: the execution length that is fused (others run as separate calls).

    Attributes:
        status: "on" (fused, checked), "pending" (not checked yet) or "off: <why>".
    """

    def __init__(self, model, steps: int):
        self.model = model
        self.steps = steps
        self.status = "pending"
        reason = _cannot_fuse(model, steps)
        if reason:
            self.status = f"off: {reason}"
        self._scan = jax.jit(self._scan_steps, donate_argnums=0)

    def _scan_steps(self, state, stacked):
        def body(carry, data):
            logs, carry = self.model.train_step(carry, data)
            return _as_carry(carry), logs

        state, logs = jax.lax.scan(body, _as_carry(state), stacked)
        return jax.tree.map(lambda values: values[-1], logs), state

    def __call__(self, state, batches):
        """`(logs, state)` after the batches `batches` gives, as `model.train_function` returns them."""
        if self.status.startswith("off"):
            return self.model.train_function(state, batches)
        items = list(batches)
        stacked = _stack(items) if len(items) == self.steps else None
        if stacked is None:
            return self.model.train_function(state, iter(items))
        if self.status == "on":
            return self._scan(state, stacked)
        return self._check(state, items, stacked)

    def _check(self, state, items, stacked):
        copy = jax.tree.map(lambda a: a.copy() if isinstance(a, jax.Array) else a, state)
        try:
            fused_logs, fused_state = self._scan(state, stacked)
        except (TypeError, ValueError) as exc:  # a train step the scan cannot carry
            self.status = f"off: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            return self.model.train_function(copy, iter(items))
        logs, state = self.model.train_function(copy, iter(items))
        same = _identical((fused_logs, fused_state), (logs, state))
        self.status = "on" if same else "off: the fused steps differed from separate ones in the last bits"
        return logs, state


def _cannot_fuse(model, steps: int) -> str | None:
    if steps < 2:
        return "one step per execution"
    if model.run_eagerly or not model.jit_compile:
        return "the model runs eagerly or without jit_compile"
    if distribution_lib.distribution() is not None:
        return "a keras.distribution is set"
    if is_nnx_enabled():
        return "Flax NNX is enabled"
    return None


def _as_carry(state):
    return tuple(list(part) for part in state)


def _stack(items: list):
    """The batches stacked along a new first axis, or None when their shapes differ or they are too big."""
    first = jax.tree.structure(items[0])
    if any(jax.tree.structure(item) != first for item in items[1:]):
        return None
    leaves = [jax.tree.leaves(item) for item in items]
    if any(np.shape(a) != np.shape(b) for row in leaves[1:] for a, b in zip(leaves[0], row)):
        return None
    if sum(np.asarray(a).nbytes for a in leaves[0]) * len(items) > MAX_BYTES:
        return None
    return jax.tree.unflatten(first, [np.stack(column) for column in zip(*leaves)])


def _identical(a, b) -> bool:
    left, right = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(left) == len(right) and all(
        np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True) for x, y in zip(left, right))
