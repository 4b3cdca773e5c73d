"""One compiled call for a whole execution: Keras's train (or test) step under `jax.lax.scan`, checked.

Keras's JAX trainer runs `steps_per_execution` steps as that many calls of the jitted
train step; on CPU, for a small model, the cost of a call (arguments in, state out,
the batch copied to the device) is as large as the step itself. Here an execution of
equal-shaped batches is one call: the batches are stacked and the same `train_step`
runs over them in a `lax.scan`, the state never leaving the device. Validation is
fused the same way, with `test_step` (`FusedSteps(model, steps, step="test")`).

Array data (NumPy arrays through Keras's array adapter) is put on the device once
(`DeviceArrays`): its epoch iterator then yields the indices of each batch, drawn
from NumPy's global RNG exactly as Keras's adapter draws them, and a fused execution
sends only its indices and gathers the batches inside the scan. Executions that are
not fused get their batches sliced on the host from the same arrays, as Keras does.

Only executions of the planned length are fused: each other length would be a trace
and a compile (0.3 to 0.8 s for an MLP on CPU), more than running the few steps
left at the end of an epoch as separate calls saves in tens of epochs.

That the scan gives the weights of separate calls bit for bit is what XLA does on the
models tried, not a promise. So the first fused execution is also run as separate
calls, from a copy of the state, and every array of both results compared (its first
two batches alone first, which finds a model whose scan differs at little cost):
if anything differs, the separate calls' result is kept and the run goes on without
fusing. Either way the run equals `model.fit`'s.

Example:

    >>> steps = FusedSteps(model, steps=64)
    >>> logs, state = steps(state, batches)  # `batches` gives up to 64 batches
"""

from __future__ import annotations

import jax
import numpy as np

from trainctl.keras_internals import ArrayDataAdapter, array_slicing, distribution_lib, is_nnx_enabled, tree

PROBE_STEPS = 2  # batches of the short scan compared before the first long one
MAX_BYTES = 64 * 1024**2  # stacked batches of one execution, beyond which it is not fused
DEVICE_MAX_BYTES = 2 * 1024**3  # array data beyond this stays on the host


class FusedSteps:
    """Runs executions of equal-shaped batches as one `lax.scan` call, or as Keras does when they cannot be.

    Args:
        model: a compiled Keras model whose train (test) function is made.
        steps: the execution length that is fused (others run as separate calls).
        step: `"train"` (Keras's `train_step` and `train_function`) or `"test"` (validation).

    Attributes:
        status: "on" (fused, checked), "pending" (not checked yet) or "off: <why>".
    """

    def __init__(self, model, steps: int, step: str = "train"):
        self.model = model
        self.steps = steps
        self.step = step
        self.status = "pending"
        reason = _cannot_fuse(model, steps)
        if reason:
            self.status = f"off: {reason}"
        self.arrays: DeviceArrays | None = None  # set when the batches are indices into them
        self._scan = jax.jit(self._scan_steps, donate_argnums=0)
        self._gather_scan = jax.jit(self._gather_steps, donate_argnums=0)

    def _step(self, carry, data):
        logs, carry = getattr(self.model, f"{self.step}_step")(carry, data)
        return _as_carry(carry), logs

    def _separate(self, state, batches):
        return getattr(self.model, f"{self.step}_function")(state, batches)

    def _scan_steps(self, state, stacked):
        state, logs = jax.lax.scan(self._step, _as_carry(state), stacked)
        return jax.tree.map(lambda values: values[-1], logs), state

    def _gather_steps(self, state, arrays, indices):
        def body(carry, index):
            return self._step(carry, tree.map_structure(lambda a: a[index], arrays, none_is_leaf=False))

        state, logs = jax.lax.scan(body, _as_carry(state), indices)
        return jax.tree.map(lambda values: values[-1], logs), state

    def __call__(self, state, batches):
        """`(logs, state)` after the batches `batches` gives, as `model.train_function` returns them."""
        arrays = self.arrays
        if self.status.startswith("off") or getattr(batches, "size", self.steps) != self.steps:
            # Not drawn ahead: Keras's train function takes each batch just before its step.
            return self._separate(state, batches if arrays is None else map(arrays.slice, batches))
        items = list(batches)
        host = (lambda part: part) if arrays is None else (lambda part: [arrays.slice(i) for i in part])  # noqa: E731
        fused = self._fused(items) if len(items) == self.steps else None
        if fused is None:
            return self._separate(state, iter(host(items)))
        if self.status == "on":
            return fused(state)
        if self.steps > 4 * PROBE_STEPS:
            head = items[:PROBE_STEPS]
            self._compare(_copy(state), host(head), self._fused(head))
            if self.status.startswith("off"):
                return self._separate(state, iter(host(items)))
        logs, state = self._compare(state, host(items), fused)
        if not self.status.startswith("off"):
            self.status = "on"
        return logs, state

    def _fused(self, items):
        """A function of the state running `items` as one scan, or None when their batches differ in shape."""
        arrays = self.arrays
        if arrays is not None:
            if len({len(item.indices) for item in items}) != 1:
                return None
            indices = np.stack([item.indices for item in items])
            return lambda state: self._gather_scan(state, arrays.device, indices)
        stacked = _stack(items)
        return None if stacked is None else (lambda state: self._scan(state, stacked))

    def _compare(self, state, items, fused):
        """`fused` on `state`, the separate calls on a copy; their result, with `status` off if the two differ.

        Before the first fused execution, its first `PROBE_STEPS` batches are compared
        alone: a model whose scan differs (convolutions on CPU, where XLA also runs them
        slower inside a scan) is found in two steps instead of a whole execution.
        """
        copy = _copy(state)
        try:
            fused_logs, fused_state = fused(state)
        except (TypeError, ValueError) as exc:  # a step the scan cannot carry
            self.status = f"off: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
            return self._separate(copy, iter(items))
        logs, state = self._separate(copy, iter(items))
        if not _identical((fused_logs, fused_state), (logs, state)):
            self.status = "off: the fused steps differed from separate ones in the last bits"
        return logs, state


class IndexBatch:
    """One batch of array data, as the indices of its samples in `DeviceArrays`."""

    __slots__ = ("indices",)

    def __init__(self, indices: np.ndarray):
        self.indices = indices


class DeviceArrays:
    """The arrays of Keras's array adapter, on the device once, and their batches as indices.

    Args:
        adapter: the `ArrayDataAdapter` of the training data.

    Example:

        >>> arrays = DeviceArrays.of(adapter)  # None when the data cannot be put there
        >>> batch = arrays.slice(next(arrays.batches()))  # what Keras's adapter would have given
    """

    def __init__(self, adapter: ArrayDataAdapter, sliceables):
        self.adapter = adapter
        self.host = sliceables
        self.device = tree.map_structure(lambda s: jax.device_put(s.array), sliceables, none_is_leaf=False)

    @classmethod
    def of(cls, adapter) -> "DeviceArrays | None":
        """`DeviceArrays` of `adapter`, or None unless it holds dense NumPy-like arrays of a reasonable size."""
        if type(adapter) is not ArrayDataAdapter:
            return None
        # As Keras's `get_jax_iterator` prepares them (floats cast to floatx).
        sliceables = array_slicing.convert_to_sliceable(adapter._inputs, target_backend="jax")
        leaves = [s for s in tree.flatten(sliceables) if s is not None]
        if not all(type(s) is array_slicing.NumpySliceable for s in leaves):
            return None
        if sum(s.array.nbytes for s in leaves) > DEVICE_MAX_BYTES:
            return None
        return cls(adapter, sliceables)

    def batches(self):
        """One epoch of `IndexBatch`es, ordered as `ArrayDataAdapter._get_iterator` orders its batches.

        The permutation is drawn from NumPy's global RNG when the first batch is taken, as Keras draws it.
        """
        adapter = self.adapter
        shuffle, size, n = adapter._shuffle, adapter._batch_size, adapter._num_samples
        permutation = np.random.permutation(n) if shuffle and shuffle != "batch" else None
        for i in range(adapter._size):
            start, stop = i * size, min((i + 1) * size, n)
            if shuffle == "batch":
                yield IndexBatch(np.random.permutation(stop - start) + start)
            elif shuffle:
                yield IndexBatch(permutation[start:stop])
            else:
                yield IndexBatch(np.arange(start, stop))

    def slice(self, batch: IndexBatch):
        """The batch as Keras's adapter gives it: sliced on the host."""
        return tree.map_structure(lambda s: s[batch.indices], self.host, none_is_leaf=False)


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


def _copy(state):
    return jax.tree.map(lambda a: a.copy() if isinstance(a, jax.Array) else a, state)


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
