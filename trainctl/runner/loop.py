"""The training loop: Keras's own `fit` loop (JAX trainer), able to stop and start anywhere.

`model.fit` cannot start in the middle of an epoch, and Keras's BackupAndRestore only
restarts at epoch boundaries. This loop is `keras.src.backend.jax.trainer.JAXTrainer.fit`
step for step (same data adapter, same callbacks order, same train function), with
three additions: it can begin at any (epoch, step); it calls `on_step` after every
executed step so checkpoints can be written; and it stops cleanly when asked to.

The data order of a shuffled epoch is drawn from NumPy's global RNG when the epoch's
iterator draws its first batch, exactly as Keras does. The loop records the RNG state
at that moment, so a resume recreates the same permutation and skips to the step
without training on the skipped batches.

Example:

    >>> loop = Loop(model, splits, recipe.train, callbacks)
    >>> history = loop.run()
"""

from __future__ import annotations

import contextlib
import dataclasses
import random
import time
from typing import Any, Callable

import jax
import numpy as np

from trainctl.backend import keras
from trainctl.distribution import process_local_batches
from trainctl.keras_internals import (
    ArrayDataAdapter, JAXEpochIterator, array_slicing, data_adapter_utils, is_default, python_utils,
)

from trainctl.errors import TrainctlError
from trainctl.runner.execution import ExecutionPlan
from trainctl.runner.fused import DeviceArrays, FusedSteps


@dataclasses.dataclass
class Position:
    """Where training is: the epoch in progress and the next step in it."""

    epoch: int = 0
    step: int = 0  # next step of `epoch`; 0 means the epoch has not begun
    global_step: int = 0
    iterator_np_state: Any = None  # np.random state when the current data iterator began
    iterator_py_state: Any = None  # Python `random` state then (Keras shuffles PyDataset batches with it)
    iterator_steps: int = 0  # batches taken from that iterator
    stopped: bool = False  # a callback stopped training (EarlyStopping): a resume trains no further

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Position":
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


class ResumableEpochIterator(JAXEpochIterator):
    """Keras's epoch iterator that can begin an epoch at any step, reproducibly."""

    iterator_np_state = None
    iterator_py_state = None
    plan: ExecutionPlan = ExecutionPlan(1)
    device_arrays: DeviceArrays | None = None  # when set, batches are indices into these arrays

    def _get_iterator(self):
        if self.device_arrays is not None:
            return self.device_arrays.batches()
        return super()._get_iterator()

    def _fresh_iterator(self) -> None:
        # Keras draws an epoch's order when its iterator starts: arrays from NumPy's
        # global RNG, PyDataset batch indices from Python's `random`.
        self.iterator_np_state = np.random.get_state()
        self.iterator_py_state = random.getstate()
        self._current_iterator = iter(self._get_iterator())
        self._steps_seen = 0

    def fast_forward(self, position: Position) -> None:
        """Recreate the data iterator of `position` and skip the batches it had given."""
        if position.iterator_np_state is None:
            return
        now = np.random.get_state(), random.getstate()
        np.random.set_state(position.iterator_np_state)
        if position.iterator_py_state is not None:
            random.setstate(position.iterator_py_state)
        self._fresh_iterator()
        # A dataset that can compute any batch from its index (a StreamedDataset) need not read these.
        skipping = getattr(getattr(self.data_adapter, "py_dataset", None), "skipping", contextlib.nullcontext)
        with skipping():
            for _ in range(position.iterator_steps):
                next(self._current_iterator)
        self._steps_seen = position.iterator_steps
        np.random.set_state(now[0])
        random.setstate(now[1])

    def epoch(self, start_step: int = 0, global_step: int = 0):
        """Iterate one epoch from `start_step` (global step `global_step`), yielding `(begin_step, batches)`.

        `batches` hands the train function the batches of one execution, as many as
        `plan` allows from there, and counts those drawn (`batches.taken`). A
        generator of its own rather than `iter(self)`, which would restart Keras's
        enumeration from step 0.
        """
        self._epoch_iterator = self._enumerate_from(start_step, global_step)
        yield from self._epoch_iterator

    def _enumerate_from(self, start_step: int, global_step: int):
        # Mirrors EpochIterator._enumerate_iterator. The changes: the start step, and
        # executions sized by the plan that end exactly at the epoch's (or the data's) end,
        # where Keras's fixed-size ones would report steps past it.
        self.data_adapter.on_epoch_begin()
        steps_per_epoch = self.steps_per_epoch or self._num_batches or -1
        step = start_step
        if steps_per_epoch > 0:
            if self._current_iterator is None or (self.steps_per_epoch is None and start_step == 0):
                self._fresh_iterator()
            while step < steps_per_epoch:
                if self._num_batches and self._steps_seen >= self._num_batches:
                    if self.steps_per_epoch:
                        self._interrupted_warning()
                    break
                limit = steps_per_epoch - step
                if self._num_batches:
                    left = self._num_batches - self._steps_seen
                    # A smaller last batch runs on its own, so the executions before it can be fused.
                    limit = min(limit, left - 1 if left > 1 and self._partial_last_batch() else left)
                batches = Batches(self, self.plan.size(global_step, limit))
                yield step, batches
                step, global_step = step + batches.taken, global_step + batches.taken
            if self._num_batches and self._steps_seen >= self._num_batches:
                self._current_iterator = None  # a fresh one (and permutation) next epoch
                self._steps_seen = 0
        else:
            if self._current_iterator is None or start_step == 0:
                self._fresh_iterator()
            while True:
                batches = Batches(self, self.plan.size(global_step, 2**62))
                yield step, batches
                step, global_step = step + batches.taken, global_step + batches.taken
        self.data_adapter.on_epoch_end()

    def _partial_last_batch(self) -> bool:
        adapter = self.data_adapter
        return isinstance(adapter, ArrayDataAdapter) and adapter.has_partial_batch

    def drop_remainder(self) -> None:
        """Leave out each epoch's last, partial batch (array data only)."""
        adapter = self.data_adapter
        if not isinstance(adapter, ArrayDataAdapter):
            raise TrainctlError(
                f"train.drop_remainder needs array data, but the training data is a {type(adapter).__name__}, "
                "which makes its own batches; remove drop_remainder or make the batches in the dataset."
            )
        if adapter.has_partial_batch and adapter.num_batches > 1:
            # The permutation still covers every sample, as with tf.data's shuffle-then-batch.
            adapter._size -= 1
            adapter._partial_batch_size = 0
            self._num_batches = adapter.num_batches


class Batches:
    """The next `size` batches of an epoch iterator's data, counted as the train function draws them."""

    def __init__(self, owner: ResumableEpochIterator, size: int):
        self.owner = owner
        self.source = owner._current_iterator
        self.size = size
        self.taken = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.taken >= self.size:
            raise StopIteration
        batch = next(self.source)
        self.taken += 1
        self.owner._steps_seen += 1
        return batch


class LazyLogsCallbackList(keras.callbacks.CallbackList):
    """Keras's CallbackList, without the wait for the device after every batch when nothing needs it.

    Keras converts each batch's logs to Python floats for every callback, which waits for
    the step to finish; it hides the wait in a thread when no callback has batch hooks.
    Here the logs are converted only for callbacks whose batch hooks Keras would call
    with floats. `lazy` callbacks (trainctl's own, which read a value only now and then)
    and callbacks without batch hooks get the logs as they are: device scalars, under
    the same (flattened, sorted) keys.
    """

    def __init__(self, callbacks=None, lazy=(), **kwargs):
        super().__init__(callbacks, **kwargs)
        lazy_ids = {id(c) for c in lazy}
        self._wants_floats = [
            (c, id(c) not in lazy_ids and not (is_default(c.on_train_batch_end) and is_default(c.on_batch_end)))
            for c in self.callbacks
        ]

    def _on_train_batch_end(self, batch, logs=None):
        raw, floats = _flatten(logs), None
        for callback, wants_floats in self._wants_floats:
            if wants_floats and floats is None:
                floats = python_utils.pythonify_logs(logs)
            callback.on_train_batch_end(batch, logs=floats if wants_floats else dict(raw))


def _flatten(logs) -> dict:
    """`pythonify_logs` without the conversion to floats."""
    out = {}
    for key, value in sorted((logs or {}).items()):
        if isinstance(value, dict):
            out.update(_flatten(value))
        else:
            out[key] = value
    return out


class StopRequested(Exception):
    """Raised out of the loop after `on_step` saw a stop request and saved."""


class Loop:
    """`model.fit(...)` for a recipe, resumable at any step.

    Args:
        model: a compiled Keras model (JAX backend).
        train, validation: `trainctl.data.Split`s.
        spec: the recipe's `train:` section (`TrainSpec`).
        callbacks: Keras callbacks (a History is added, as `fit` does).
        position: where to begin; `Position()` for a new run.
        on_step: called with the loop after every executed step (checkpoints, signals).
        on_epoch_end: called with the loop after each epoch's callbacks ran.
        restore: called once the model, optimizer and callbacks exist and `on_train_begin`
            has run, to load a checkpoint into them.
        fresh_callbacks: those of `callbacks` built new for this process whose state is
            not restored (progress, log writers): on a mid-epoch resume they alone get
            `on_epoch_begin`, since the others' state already includes it.
        plan: how many steps each execution runs (`trainctl.runner.execution`); default:
            the model's `steps_per_execution`.
        lazy_logs: those of `callbacks` that take batch logs as device values and read
            them at their own pace (see `LazyLogsCallbackList`).
    """

    def __init__(self, model, train, validation, spec, callbacks, position: Position | None = None,
                 on_step: Callable | None = None, on_epoch_end: Callable | None = None,
                 restore: Callable | None = None, fresh_callbacks: tuple = (), plan: ExecutionPlan | None = None,
                 lazy_logs: tuple = (), checks: Callable | None = None):
        self.model = model
        self.checks = checks  # checks(model, validating), once the model and its metrics are built
        self.spec = spec
        self.plan = plan or ExecutionPlan(model.steps_per_execution)
        self.executed = 0  # steps run by the last execution
        self.position = position or Position(epoch=spec.initial_epoch)
        self.on_step = on_step
        self.on_epoch_end_hook = on_epoch_end
        self.restore = restore
        self.user_callbacks = list(callbacks)
        self.fresh_callbacks = list(fresh_callbacks)
        self.lazy_logs = tuple(lazy_logs)
        self.train = train.as_fit_args()
        self.validation = validation.as_fit_args() if validation is not None else None
        if spec.validation_split and self.validation is None:
            (x, y, sw), val = array_slicing.train_validation_split(
                (self.train["x"], self.train["y"], self.train["sample_weight"]),
                validation_split=spec.validation_split,
            )
            self.train = {"x": x, "y": y, "sample_weight": sw}
            vx, vy, vsw = data_adapter_utils.unpack_x_y_sample_weight(val)
            self.validation = {"x": vx, "y": vy, "sample_weight": vsw}
        self.callbacks = None
        self.iterator = None
        self.fused: FusedSteps | None = None
        self.fused_validation: FusedSteps | None = None
        self._validation_executions: list | None = None  # the batches of each fused validation execution

    def sync(self) -> None:
        """Write the JAX training state back into the Keras variables (before reading them)."""
        self.model.jax_state_sync()

    def run(self):
        model, spec, pos = self.model, self.spec, self.position
        self.iterator = it = ResumableEpochIterator(
            x=self.train["x"], y=self.train.get("y"), sample_weight=self.train.get("sample_weight"),
            batch_size=spec.batch_size, steps_per_epoch=spec.steps_per_epoch,
            # A streamed dataset orders its own batches; other data as the recipe says (True, False, "batch").
            shuffle=False if getattr(self.train["x"], "shuffles_itself", False) else spec.shuffle,
            class_weight=spec.class_weight, steps_per_execution=self.plan.max_steps,
        )
        process_local_batches(it)
        it.plan = self.plan
        if spec.drop_remainder:
            it.drop_remainder()
        if self.plan.adaptive and it.num_batches:  # an epoch-long execution, when epochs are short
            full = it.num_batches - (1 if it._partial_last_batch() and not spec.steps_per_epoch else 0)
            longest = min(self.plan.max_steps, max(full, 1))
            if not self.plan.boundaries and full > 0:
                # Executions of one length that leave fewer steps at the epoch's end (run as
                # separate calls): 781 batches are 4 x 195 + 1, not 3 x 256 + 13.
                longest = full // -(-full // longest)
            self.plan.max_steps = longest
        model.steps_per_execution = self.plan.max_steps  # before the train function is made
        model._eval_epoch_iterator = None
        model._symbolic_build(iterator=it)
        if self.checks is not None:
            self.checks(model, self.validation is not None)
        it.reset()
        self.callbacks = callbacks = LazyLogsCallbackList(
            self.user_callbacks, lazy=self.lazy_logs, add_history=True, add_progbar=False, verbose=0,
            epochs=spec.epochs, steps=it.num_batches, model=model,
        )
        model.make_train_function()
        # `auto` may fuse whole executions (checked against separate steps first); an
        # integer from the recipe runs as Keras runs it.
        self.fused = FusedSteps(model, self.plan.max_steps) if self.plan.adaptive else None
        if self.fused is not None and not self.fused.status.startswith("off"):
            # Array data goes to the device once; executions then send only batch indices.
            it.device_arrays = self.fused.arrays = DeviceArrays.of(it.data_adapter)
            if self.fused.arrays is None and hasattr(getattr(it.data_adapter, "py_dataset", None), "reader"):
                # Read from disk: a fused execution would take all its batches before its first
                # step, so the reading threads would wait for the steps and the steps for them.
                self.fused.status = "off: streamed data is read while the steps before it run"
        execute = self.fused or model.train_function
        model.stop_training = False
        training_logs = {}
        logs = {}
        training_finished = False
        callbacks.on_train_begin()
        if self.restore is not None:
            self.restore(self)
            it.fast_forward(pos)
        try:
            for epoch in range(pos.epoch, spec.epochs if not pos.stopped else pos.epoch):
                pos.epoch = epoch
                resumed_mid_epoch = pos.step > 0
                if not resumed_mid_epoch:
                    model.reset_metrics()
                    callbacks.on_epoch_begin(epoch)
                else:
                    for callback in self.fresh_callbacks:
                        callback.on_epoch_begin(epoch)
                model._jax_state_synced = True
                previous = None  # (logs, steps) of the execution before, and when the one before it ended
                with it.catch_stop_iteration():
                    for begin_step, batches in it.epoch(pos.step, pos.global_step):
                        callbacks.on_train_batch_begin(begin_step)
                        if model._jax_state_synced:
                            state = model._get_jax_state(
                                trainable_variables=True, non_trainable_variables=True,
                                optimizer_variables=True, metrics_variables=True, purge_model_variables=True,
                            )
                            model._jax_state_synced = False
                        logs, state = execute(state, batches)
                        tv, ntv, ov, mv = state
                        _keep_state(model, trainable_variables=tv, non_trainable_variables=ntv,
                                    optimizer_variables=ov, metrics_variables=mv)
                        self.executed = batches.taken
                        end_step = begin_step + batches.taken - 1
                        callbacks.on_train_batch_end(end_step, logs)
                        pos.step = end_step + 1
                        pos.global_step += batches.taken
                        pos.iterator_np_state = it.iterator_np_state
                        pos.iterator_py_state = it.iterator_py_state
                        pos.iterator_steps = it._steps_seen
                        # The device may run one execution ahead of this loop, no further: signals
                        # are answered within an execution or two. The time between the ends of
                        # two executions is the time the later one took.
                        if previous is not None:
                            jax.block_until_ready(previous[0])
                            ended = time.perf_counter()
                            if previous[2] is not None:
                                self.plan.record(previous[1], ended - previous[2])
                        else:
                            ended = None
                        previous = (logs, batches.taken, ended)
                        if self.on_step is not None:
                            self.on_step(self)
                        if model.stop_training:
                            break
                model.jax_state_sync()
                epoch_logs = dict(model._get_metrics_result_or_logs(logs))
                if self.validation is not None and model._should_eval(epoch, spec.validation_freq):
                    epoch_logs.update(self._validate(callbacks))
                callbacks.on_epoch_end(epoch, epoch_logs)
                training_logs = epoch_logs
                pos.epoch, pos.step = epoch + 1, 0
                fresh_next = it._current_iterator is None
                pos.iterator_np_state = None if fresh_next else it.iterator_np_state
                pos.iterator_py_state = None if fresh_next else it.iterator_py_state
                pos.iterator_steps = it._steps_seen
                pos.stopped = bool(model.stop_training)
                if self.on_epoch_end_hook is not None:
                    self.on_epoch_end_hook(self)
                if model.stop_training:
                    break
            training_finished = True
        finally:
            model.jax_state_sync()
            if isinstance(model.optimizer, keras.optimizers.Optimizer) and spec.epochs > 0:
                model.optimizer.finalize_variable_values(model.trainable_weights)
            if getattr(model, "_eval_epoch_iterator", None) is not None:
                del model._eval_epoch_iterator
            if training_finished:
                callbacks.on_train_end(logs=training_logs)
            model._jax_state = None
        return model.history

    def _validate(self, callbacks) -> dict:
        model, spec, val = self.model, self.spec, self.validation
        batch_size = spec.validation_batch_size or spec.batch_size
        steps = _validation_execution(model.steps_per_execution, spec.validation_steps)
        if getattr(model, "_eval_epoch_iterator", None) is None:
            model._eval_epoch_iterator = process_local_batches(JAXEpochIterator(
                x=val["x"], y=val.get("y"), sample_weight=val.get("sample_weight"),
                batch_size=batch_size, steps_per_execution=steps,
                steps_per_epoch=spec.validation_steps, shuffle=False,
            ))
        if self._validation_executions is None:
            self.fused_validation = self._fused_validation(model._eval_epoch_iterator, callbacks)
        if self.fused_validation is not None:
            val_logs = self._evaluate_fused(callbacks)
        else:
            training_steps, model.steps_per_execution = model.steps_per_execution, steps
            try:
                val_logs = model.evaluate(
                    x=val["x"], y=val.get("y"), sample_weight=val.get("sample_weight"), batch_size=batch_size,
                    steps=spec.validation_steps, callbacks=callbacks, return_dict=True,
                    _use_cached_eval_dataset=True,
                )
            finally:
                model.steps_per_execution = training_steps
        return {f"val_{name}": value for name, value in val_logs.items()}

    def _fused_validation(self, iterator, callbacks) -> FusedSteps | None:
        """A `FusedSteps` of the test step over the validation arrays on the device, when it can be one.

        Only where training fuses (so nothing rules it out), the data is plain arrays, and
        no callback but trainctl's own wants to see validation batches: Keras calls those
        hooks once per execution, and the executions here are cut differently. Decided
        once training's first fused execution has been checked; sets `_validation_executions`.
        """
        if self.fused is None or self.fused.status == "pending":
            return None  # asked again after the next epoch
        self._validation_executions = []
        if self.fused.status != "on":
            return None
        lazy = {id(c) for c in self.lazy_logs}
        hooks = ("on_test_batch_begin", "on_test_batch_end")
        if any(id(c) not in lazy and not all(is_default(getattr(c, h)) for h in hooks) for c in callbacks.callbacks):
            return None
        steps = self.spec.validation_steps
        adapter = iterator.data_adapter
        if steps is not None and steps > adapter.num_batches:
            return None  # Keras warns that the data ran out; leave that to it
        arrays = DeviceArrays.of(adapter)
        if arrays is None:
            return None
        total = steps or adapter.num_batches
        full = total - (1 if adapter.has_partial_batch and total == adapter.num_batches else 0)
        fused = FusedSteps(self.model, min(self.plan.max_steps, full), step="test")
        if fused.status.startswith("off"):
            return None
        fused.arrays = arrays
        # Executions of up to `fused.steps` full batches, then the last, smaller batch on its own.
        batches = list(arrays.batches())[:total]
        self._validation_executions = [batches[i:min(i + fused.steps, full)] for i in range(0, full, fused.steps)]
        self._validation_executions += [batches[full:total]] if total > full else []
        return fused

    def _evaluate_fused(self, callbacks) -> dict:
        """`model.evaluate` on the cached validation data (Keras's JAX trainer, step for step), fused.

        The full batches run in executions of up to `steps_per_execution` (those of that
        length fused), the last, smaller batch on its own; the first fused execution is
        checked against separate calls (`FusedSteps`).
        """
        model, fused = self.model, self.fused_validation
        model.make_test_function()
        model.stop_evaluating = False
        callbacks.on_test_begin()
        logs = {}
        model.reset_metrics()
        model._jax_state_synced = True
        begin = 0
        for execution in self._validation_executions:
            callbacks.on_test_batch_begin(begin)
            if model._jax_state_synced:
                state = model._get_jax_state(trainable_variables=True, non_trainable_variables=True,
                                             metrics_variables=True, purge_model_variables=True)
                model._jax_state_synced = False
            logs, state = fused(state, execution)
            tv, ntv, mv = state
            _keep_state(model, trainable_variables=tv, non_trainable_variables=ntv, metrics_variables=mv)
            begin += len(execution)
            callbacks.on_test_batch_end(begin - 1, logs)
            if model.stop_evaluating:
                break
        model.jax_state_sync()
        logs = python_utils.pythonify_logs(model._get_metrics_result_or_logs(logs))
        callbacks.on_test_end(logs)
        model._jax_state = None
        return logs



def _keep_state(model, **groups) -> None:
    """Store the state an execution returned as the model's `_jax_state`, as Keras's loops do.

    Keras sets it through `Layer.__setattr__`, whose tracking walks the state after every
    execution; nothing in it is tracked, so the walk is skipped.
    """
    object.__setattr__(model, "_jax_state", groups)

def _validation_execution(steps_per_execution: int, validation_steps: int | None) -> int:
    """Steps per validation execution: one that divides `validation_steps`.

    Keras evaluates `validation_steps` in whole executions, so with 64 steps per
    execution `validation_steps: 10` would evaluate 64 batches; `model.fit` with one
    step per execution evaluates 10, as the recipe asks, and so does this, for any value.
    """
    if not validation_steps:
        return steps_per_execution
    return max(d for d in range(1, min(steps_per_execution, validation_steps) + 1) if validation_steps % d == 0)
