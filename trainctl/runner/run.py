"""`trainctl run` and `trainctl resume`, top to bottom.

    seed → model → compile → data → callbacks → (restore checkpoint) → loop → model.keras

Everything a run writes lands in its `RunDir`; everything a resume needs is read from
it: the resolved recipe and the newest sound checkpoint.

Example:

    >>> result = start(load_recipe("recipes/mnist_mlp.yaml"), out=None, command=["run", ...])
    >>> result.run_dir
    PosixPath('runs/mnist_mlp-20261125-154000')
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import signal
import threading
import time
from pathlib import Path

from trainctl import distribution
from trainctl.atomic import BackgroundWrites
from trainctl.backend import keras
from trainctl.errors import EXIT_SIGINT, EXIT_SIGTERM, Interrupted, TrainctlError, TrainingFailed
from trainctl.logs.console import get_reporter
from trainctl.runner.rundir import RunDir, now


@dataclasses.dataclass
class RunResult:
    run_dir: Path
    history: dict
    status: str


class _Signals:
    """Turn SIGINT/SIGTERM into a request the loop honours at the next step, after a checkpoint.

    A second SIGINT while stopping interrupts at once (the last checkpoint stays valid).
    With several processes, SIGTERM is left to JAX's preemption service, which stops every
    process at the same step (`distribution.preempted_at`), and a SIGINT is passed on to it.
    """

    def __init__(self, multi_process: bool = False):
        self.received: int | None = None
        self.multi_process = multi_process
        self._old = {}

    def _handle(self, signum, frame):
        if self.received is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.received = signum
        if self.multi_process:
            os.kill(os.getpid(), signal.SIGTERM)

    def __enter__(self):
        for sig in (signal.SIGINT,) if self.multi_process else (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._old.items():
            signal.signal(sig, handler)


# Test-only: SIGKILL this process once training reaches this global step, so tests can
# kill at a chosen point of an epoch deterministically. Never set it in real runs.
_KILL_AT_STEP = int(os.environ["TRAINCTL_TEST_KILL_AT_STEP"]) if os.environ.get("TRAINCTL_TEST_KILL_AT_STEP") else None
# Test-only: the signal sent (once) at that step instead, e.g. SIGTERM.
_KILL_SIGNAL = signal.Signals[os.environ.get("TRAINCTL_TEST_KILL_SIGNAL", "SIGKILL")]


class Checkpointer:
    """Decides when to checkpoint, and writes checkpoints through the `CheckpointStore`.

    The state is captured on the training thread (it must be: the variables change with
    the next step); writing, fsyncing and pruning happen on one background thread while
    training goes on. A save waits for the previous write, and `flush` (at every exit
    from training) waits for the last, so no write is lost or reordered.

    With several processes, all of them save at the same steps: process 0 writes (every
    variable is whole in each process, see `distribution.check_model`) while the others
    wait at a barrier, so no process runs ahead of the last checkpoint.
    """

    def __init__(self, loaded, run_dir: RunDir, signals: _Signals, metrics_files, topology):
        from trainctl.checkpoint import CheckpointStore
        from trainctl.recipe import dump_recipe

        self.topology = topology.to_dict()
        self.spec = loaded.spec.checkpoint
        self.recipe_sha256 = loaded.sha256
        # The recipe itself too, so a resume can show how an edited RUN_DIR/recipe.yaml differs from it.
        self.recipe_text = dump_recipe(loaded.document.data)
        self.run_dir = run_dir
        self.signals = signals
        self.metrics_files = metrics_files
        self.store = CheckpointStore(run_dir.ckpt, keep=self.spec.keep)
        self.stateful: list = []  # callbacks whose state is saved (set by the runner)
        self.datasets: list = []  # PyDatasets whose get_state()/set_state() carry their own order
        self.last_saved_step: int | None = None
        self._writes = BackgroundWrites("checkpoint")
        self.test_signal_sent = False

    def save(self, loop) -> None:
        from trainctl.checkpoint import capture

        loop.sync()
        pos = loop.position
        if distribution.is_main_process():
            with distribution.outside_distribution():
                state = capture(loop.model, self.stateful, position=pos.to_dict(),
                                extra={"metrics_rows": list(self.metrics_files.rows) if self.metrics_files else [],
                                       "topology": self.topology,
                                       "datasets": [dataset_state(d) for d in self.datasets]})
            meta = {"epoch": pos.epoch, "step": pos.step, "global_step": pos.global_step,
                    "recipe_sha256": self.recipe_sha256, "recipe": self.recipe_text, "time": now(),
                    "topology": self.topology}
            self.flush()
            rows = self.metrics_files.pending if self.metrics_files else None
            self._writes.submit(self._save_after, rows, state, pos.global_step, meta)
            if self.signals.multi_process:
                self.flush()  # the others wait at the barrier until the checkpoint is on disk
        distribution.barrier(f"checkpoint at step {pos.global_step}")
        self.last_saved_step = pos.global_step

    def _save_after(self, rows, *args) -> None:
        # The metric rows up to this checkpoint are on disk before it is: a resume keeps
        # the per-batch rows the files hold up to its step and trusts them to be there.
        if rows is not None:
            rows.result()
        self.store.save(*args)

    def flush(self) -> None:
        """Wait for the checkpoint being written; a failed write raises here."""
        self._writes.flush()

    def close(self) -> None:
        self._writes.close()

    def stop_requested(self, loop) -> bool:
        """A signal asks to stop here (with several processes: at the step they all agreed on)."""
        if self.signals.multi_process:
            if not distribution.preempted_at(loop.position.global_step):
                return False
            self.signals.received = self.signals.received or signal.SIGTERM
        return self.signals.received is not None

    def on_step(self, loop) -> None:
        every = self.spec.every_steps
        pos = loop.position
        if _KILL_AT_STEP is not None and pos.global_step >= _KILL_AT_STEP and not self.test_signal_sent:
            # The checkpoints saved before this step are on disk whatever the timing (executions
            # of many steps leave the writer little time); a kill inside a write has its own hook.
            self.test_signal_sent = True
            self.flush()
            os.kill(os.getpid(), _KILL_SIGNAL)
        if self.spec.enabled and every and pos.global_step // every > (pos.global_step - loop.executed) // every:
            self.save(loop)
        if self.stop_requested(loop):
            self.interrupt(loop)

    def on_epoch_end(self, loop) -> None:
        pos = loop.position
        # Saved even when a step checkpoint has this global step: the epoch-end callbacks
        # have changed the state since (that checkpoint is replaced).
        if self.spec.enabled and (pos.epoch % self.spec.every_epochs == 0 or pos.stopped
                                  or pos.epoch == loop.spec.epochs):
            self.save(loop)
        if self.signals.received is not None and not self.signals.multi_process:
            self.interrupt(loop)

    def interrupt(self, loop) -> None:
        signum = self.signals.received
        name = "SIGTERM" if signum == signal.SIGTERM else "SIGINT"
        step = loop.position.global_step
        if self.spec.enabled:
            if self.last_saved_step != step:
                self.save(loop)
            self.flush()
            message = (f"{name} received: stopped after saving a checkpoint at step {step}. "
                       f"Continue with: trainctl resume {self.run_dir.path}")
        else:
            message = f"{name} received: stopped at step {step}; checkpoints are disabled, so it cannot resume"
        self.run_dir.add_event("interrupted", signal=name, global_step=step)
        raise Interrupted(message, EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT)


def dataset_state(dataset):
    """A PyDataset's own state (e.g. the epoch its shuffle order derives from), if it exposes one.

    Keras calls a PyDataset's `on_epoch_end` where it may reshuffle with its own RNG;
    trainctl cannot see that state. A dataset that defines `get_state()` (plain data) and
    `set_state(state)` resumes exactly; one that reshuffles without them gets a warning.
    """
    if hasattr(dataset, "get_state") and hasattr(dataset, "set_state"):
        return dataset.get_state()
    if type(dataset).on_epoch_end is not keras.utils.PyDataset.on_epoch_end:
        get_reporter().warn(f"{type(dataset).__name__} overrides on_epoch_end but has no get_state()/set_state(): "
                            "if it reshuffles there, a resumed run may see another order")
    return None


class NaNGuard(keras.callbacks.Callback):
    """Fail the run with exit code 1 when the loss stops being finite (Keras's TerminateOnNaN, as an error).

    Checked at most every `interval` seconds and at every epoch end, because reading
    the loss waits for the device and costs speed.
    """

    def __init__(self, interval: float = 0.5):
        super().__init__()
        self.interval = interval
        self.next_check = 0.0
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() >= self.next_check:
            self.next_check = time.monotonic() + self.interval
            self.check(logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        self.check(logs, None)

    def check(self, logs, batch) -> None:
        loss = (logs or {}).get("loss")
        if loss is None or math.isfinite(value := float(loss)):
            return
        where = f"epoch {self.epoch + 1}" + (f", batch {batch + 1}" if batch is not None else "")
        raise TrainingFailed(
            f"the loss became {value} at {where}. Lower the learning rate, check the data for NaN/inf, "
            "or resume from the last checkpoint with a changed recipe (--allow-drift)."
        )


def _logging_callbacks(loaded, run_dir: RunDir, position, state):
    from trainctl.logs.progress import ConsoleProgress
    from trainctl.logs.files import MetricsFiles
    from trainctl.compile.callbacks import tensorboard_args

    logs = loaded.spec.logs
    rows = state.extra.get("metrics_rows", []) if state is not None else []
    files = MetricsFiles(run_dir.path, per_batch=logs.per_batch, history_rows=rows,
                         global_step=position.global_step, start_step=position.step)
    monitor = logs.monitor or ("val_loss" if (loaded.spec.data.validation or loaded.spec.train.validation_split)
                               else "loss")
    console = ConsoleProgress(monitor=monitor, start_step=position.step, history_rows=rows)
    out = [files, console]
    tb = tensorboard_args(loaded, run_dir.path)
    if tb is not None:
        from trainctl.logs.tensorboard import TensorBoardWriter

        out.append(TensorBoardWriter(**tb, initial_epoch=position.epoch, initial_global_step=position.global_step,
                                     start_step=position.step))
    if logs.mlflow is not None:
        out.append(_mlflow_tracker(loaded, run_dir, position))
    return files, out


def _mlflow_tracker(loaded, run_dir: RunDir, position):
    import importlib.util

    if importlib.util.find_spec("mlflow") is None:
        raise TrainctlError("logs.mlflow needs MLflow: pip install 'trainctl[mlflow]'")
    from trainctl.logs.mlflow_tracking import MlflowTracker

    return MlflowTracker(loaded.spec.logs.mlflow, run_dir.path, loaded.document.data,
                         per_batch=loaded.spec.logs.per_batch, global_step=position.global_step,
                         start_step=position.step)


def _without_test_data(loaded):
    """`loaded` minus `data.test`, which training never reads: not loading it shortens the wait for the first step."""
    data = loaded.spec.data
    if data.test is None:
        return loaded
    return dataclasses.replace(loaded, spec=loaded.spec.model_copy(update={"data": data.model_copy(update={"test": None})}))


def train(loaded, run_dir: RunDir, state=None, checkpoint_path: Path | None = None,
          allow_topology_change: bool = False) -> RunResult:
    """Train `loaded` into `run_dir`, from the beginning or from a checkpoint `state`.

    A checkpoint resumes only on the topology that wrote it, unless `allow_topology_change`.
    Whatever ends the run (an error, a signal, success) is recorded in the manifest.
    """
    with _end_recorded(run_dir):
        return _train(loaded, run_dir, state, checkpoint_path, allow_topology_change)


def _stop_before_training(signum, frame):
    raise Interrupted("SIGTERM received before training started: stopped; nothing new was trained", EXIT_SIGTERM)


@contextlib.contextmanager
def _end_recorded(run_dir: RunDir):
    """Record in the manifest how the run ended, on every path out of it (exit 1, 2, 130, 143, a crash).

    Until the loop takes over signals, a SIGTERM raises here too, instead of killing the
    process before the manifest says so. (With several processes SIGTERM is JAX's.)
    """
    single = distribution.process_count() == 1 and threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGTERM, _stop_before_training) if single else None
    try:
        yield
    except BaseException as exc:
        run_dir.record_end(exc)
        raise
    finally:
        if old is not None:
            signal.signal(signal.SIGTERM, old)


def _train(loaded, run_dir: RunDir, state, checkpoint_path: Path | None, allow_topology_change: bool) -> RunResult:
    from trainctl.checkpoint import restore
    from trainctl.compile import build_compiled_model
    from trainctl.compile.callbacks import build_callbacks
    from trainctl.data import load_splits
    from trainctl.atomic import atomic_path
    from trainctl.runner.loop import Loop, Position

    from trainctl.runner.compile_cache import enable_compile_cache
    from trainctl.runner.execution import plan_execution
    from trainctl.runner.prechecks import check_monitors

    report = get_reporter()
    enable_compile_cache()  # before anything compiles, seeding included
    keras.utils.set_random_seed(loaded.spec.seed)
    topology = distribution.setup(loaded)  # before the model: variables take their layout when created
    if state is not None:
        saved = distribution.Topology.from_dict(state.extra.get("topology"))
        if distribution.check_resume(saved, topology, allow_topology_change):
            run_dir.add_event("topology_changed", old=saved.to_dict(), new=topology.to_dict())
    run_dir.update_manifest(topology=topology.to_dict())
    model, builder = build_compiled_model(loaded)
    distribution.check_model(loaded, model)
    splits = load_splits(_without_test_data(loaded), model, builder.user_object)
    if splits.streamed():
        run_dir.update_manifest(data=splits.streamed())
    distribution.check_batches(loaded, splits)
    user_callbacks = build_callbacks(loaded, builder, run_dir.path)
    history = keras.callbacks.History()
    position = Position.from_dict(state.position) if state is not None else Position(epoch=loaded.spec.train.initial_epoch)
    main = distribution.is_main_process()  # the only process that writes logs and the model
    files, log_callbacks = _logging_callbacks(loaded, run_dir, position, state) if main else (None, [])
    # `on_nonfinite: continue` asks for what `model.fit` does: train on, logging inf/NaN.
    guard = [NaNGuard()] if loaded.spec.train.on_nonfinite == "fail" else []
    ckpt = loaded.spec.checkpoint
    plan = plan_execution(loaded.spec.compile.steps_per_execution,
                          [*user_callbacks, history, *guard, *log_callbacks],
                          every_steps=ckpt.every_steps if ckpt.enabled else None, recipe_callbacks=user_callbacks,
                          processes=distribution.process_count())
    run_dir.update_manifest(steps_per_execution=plan.to_dict())

    # The MLflow run's status follows the outcome: FINISHED after the model is saved, else KILLED/FAILED.
    tracking = next((c for c in log_callbacks if isinstance(c, contextlib.AbstractContextManager)),
                    contextlib.nullcontext())
    with _Signals(multi_process=distribution.process_count() > 1) as signals, tracking:
        checkpointer = Checkpointer(loaded, run_dir, signals, files, topology)
        checkpointer.stateful = [*user_callbacks, history]
        checkpointer.datasets = [d for d in (splits.train.dataset,) if d is not None]

        def restore_state(loop):
            restore(state, loop.model, checkpointer.stateful)
            for dataset, saved in zip(checkpointer.datasets, state.extra.get("datasets", [])):
                if saved is not None:
                    dataset.set_state(saved)
            report.info(f"resumed from {checkpoint_path} (epoch {position.epoch + 1}, step {position.step})")

        loop = Loop(
            model, splits.train, splits.validation, loaded.spec.train,
            [*user_callbacks, history, *guard, *log_callbacks],
            position=position,
            on_step=checkpointer.on_step,
            on_epoch_end=checkpointer.on_epoch_end,
            restore=restore_state if state is not None else None,
            fresh_callbacks=(*guard, *log_callbacks),
            plan=plan,
            lazy_logs=(*guard, *log_callbacks),
            checks=lambda model, validating: check_monitors(loaded, model, validating),
        )
        # A checkpoint taken after the last epoch still runs through the loop: it trains
        # nothing, but ends training as the original run did (on_train_end, which may
        # restore the best weights) before the model is saved.
        try:
            loop.run()
        finally:
            checkpointer.close()
            for callback in log_callbacks:
                getattr(callback, "close", lambda: None)()
        # Still inside the signal guard: a SIGTERM now waits for the model to be saved.
        if main:
            with atomic_path(run_dir.model) as tmp, distribution.outside_distribution():
                model.save(tmp)
            if loaded.spec.logs.plot:
                _plot(run_dir)
        executions = {**plan.to_dict(), "fused": loop.fused.status if loop.fused
                      else "off: compile.steps_per_execution is a number"}
        if loop.validation is not None:
            executions["fused_validation"] = loop.fused_validation.status if loop.fused_validation else "off"
        if streamed := splits.streamed():
            run_dir.update_manifest(data=streamed)
            _report_streamed(streamed)
        run_dir.update_manifest(epochs_done=position.epoch, global_step=position.global_step,
                                steps_per_execution=executions)
        run_dir.record_end(None)
    if main:
        report.info(f"model saved to {run_dir.model}")
    return RunResult(run_dir.path, dict(history.history), "completed")


def _report_streamed(streamed: dict) -> None:
    report = get_reporter()
    for split, facts in streamed.items():
        if facts["skipped"]:
            report.warn(f"data.{split}: skipped {facts['skipped']} bad file(s), e.g. {facts['skipped_files'][0]}; "
                        "the list is in manifest.json")
    waits = streamed.get("train", {}).get("input_wait")
    if waits:
        last = list(waits)[-1]
        report.info(f"input wait: {waits[last]:.1%} of the last epoch's step time (per epoch in manifest.json)")


def _plot(run_dir: RunDir) -> None:
    from trainctl.logs.plot import plot_run

    try:
        plot_run(run_dir.path)
    except (OSError, ValueError) as exc:  # a plot is a convenience; the run succeeded
        get_reporter().warn(f"could not write plots: {exc}")


def _join(processes: distribution.ProcessOptions | None) -> None:
    distribution.initialize(processes)
    if not distribution.is_main_process():
        get_reporter().quiet = True  # process 0 reports for the run; the others print only errors


def start(loaded, out: str | Path | None, command: list[str], resume_existing: bool = False,
          processes: distribution.ProcessOptions | None = None) -> RunResult:
    """A new run of `loaded` in `out` (default `runs/<name>-<timestamp>`).

    `processes` joins this process to a multi-process run first; all of them share `out`.
    """
    _join(processes)
    if out is None and distribution.process_count() > 1:
        raise TrainctlError(
            "a run over several processes needs --out: every process must use the same run directory "
            "(on a filesystem all hosts share).")
    if out is None:
        run_dir = RunDir.create("runs", loaded.spec.name)
    else:
        run_dir = RunDir(Path(out))
        run_dir.path.mkdir(parents=True, exist_ok=True)
    if distribution.is_main_process():
        run_dir.lock()  # before anything is read or written: another process may be running here
    try:
        return _start_locked(loaded, run_dir, out, command, resume_existing, processes)
    finally:
        run_dir.unlock()


def _start_locked(loaded, run_dir: RunDir, out, command, resume_existing, processes) -> RunResult:
    from trainctl.recipe import dump_recipe
    from trainctl.atomic import write_text

    if out is not None and run_dir.has_checkpoints():
        if not resume_existing:
            raise TrainctlError(
                f"{out} already holds checkpoints of a run. Continue it with `trainctl resume {out}`, "
                f"or pass --resume to continue when the recipe is unchanged, or choose another -o."
            )
        return resume(out, overrides=[], allow_drift=False, new_text=dump_recipe(loaded.document.data),
                      processes=processes)
    if distribution.is_main_process():
        write_text(run_dir.recipe, dump_recipe(loaded.document.data))
        run_dir.new_manifest(loaded, command)
    get_reporter().info(f"run directory: {run_dir.path}")
    return train(loaded, run_dir)


_NO_CHECKPOINT_YET = -2  # the step process 0 broadcasts for a run that never saved one (-1: none is sound)


def _checkpoint_to_resume(store, ckpt_path: Path | None):
    """`(path, state)` of the checkpoint to resume from, or `(None, None)` for a run that never saved one.

    With several processes, process 0 picks the checkpoint and every process loads it.
    """
    if ckpt_path is not None:
        return ckpt_path, store.load(ckpt_path)
    report = get_reporter()
    found, step = None, -1
    if distribution.is_main_process():
        found = store.latest(on_problem=lambda p: report.warn(f"skipping damaged checkpoint: {p}"))
        step = int(found[0].name) if found else (-1 if store.list() else _NO_CHECKPOINT_YET)
    step = distribution.broadcast_from_main(step)
    if step == _NO_CHECKPOINT_YET:
        return None, None
    if step < 0:
        raise TrainctlError(f"{store.ckpt_dir.parent} has no readable checkpoint to resume from")
    if found:
        return found[0], found[1]()
    ckpt_path = {int(p.name): p for p in store.list()}.get(step)
    if ckpt_path is None:
        raise TrainctlError(
            f"process {distribution.process_index()} does not see checkpoint {step} that process 0 "
            f"chose in {store.ckpt_dir}: the run directory must be on a filesystem all processes share.")
    return ckpt_path, store.load(ckpt_path)


def resume(path: str | Path, overrides: list[str], allow_drift: bool, new_text: str | None = None,
           processes: distribution.ProcessOptions | None = None) -> RunResult:
    """Continue the run at `path` (RUN_DIR, RUN_DIR/ckpt or RUN_DIR/ckpt/<step>) from its checkpoint.

    A run that never saved a checkpoint starts again from step 0, as a fresh run would.
    With several `processes`, process 0 picks the checkpoint and every process loads it.
    """
    from trainctl.checkpoint import resolve_checkpoint

    _join(processes)
    try:
        run_path, ckpt_path = resolve_checkpoint(path)
    except (OSError, ValueError) as exc:
        raise TrainctlError(str(exc)) from None
    run_dir = RunDir.open(run_path)
    if distribution.is_main_process():
        run_dir.lock()
    try:
        return _resume_locked(run_dir, ckpt_path, overrides, allow_drift, new_text)
    finally:
        run_dir.unlock()


def _resume_locked(run_dir: RunDir, ckpt_path, overrides, allow_drift, new_text) -> RunResult:
    from trainctl.checkpoint import CheckpointStore
    from trainctl.runner.drift import check_drift

    store = CheckpointStore(run_dir.ckpt)
    ckpt_path, state = _checkpoint_to_resume(store, ckpt_path)
    loaded = check_drift(run_dir, overrides, allow_drift, new_text,
                         recorded=store.meta(ckpt_path) if ckpt_path is not None else None)
    if state is not None and _finished(run_dir, state.position, loaded.spec.train.epochs):
        epochs = loaded.spec.train.epochs
        get_reporter().info(
            f"{run_dir.path} is already complete ({state.position.get('epoch')} of {epochs} epochs"
            f"{', stopped early' if state.position.get('stopped') else ''}; model in {run_dir.model}): "
            f"nothing to train. To train longer, raise train.epochs: trainctl resume {run_dir.path} train.epochs=N")
        history = run_dir.path / "history.json"
        return RunResult(run_dir.path, json.loads(history.read_text()) if history.is_file() else {}, "completed")
    run_dir.update_manifest(status="running", ended=None, exit_code=None, error=None)
    if state is None:
        get_reporter().info(f"{run_dir.path} has no checkpoint yet: training from step 0")
        run_dir.add_event("resume", checkpoint=None, global_step=0)
        return train(loaded, run_dir)
    run_dir.add_event("resume", checkpoint=str(ckpt_path), global_step=state.position.get("global_step"))
    return train(loaded, run_dir, state=state, checkpoint_path=ckpt_path, allow_topology_change=allow_drift)


def _finished(run_dir: RunDir, position: dict, epochs: int) -> bool:
    """Whether the run ended normally at this checkpoint: its model is saved and no epoch is left.

    A run that crashed between its last checkpoint and saving the model is not finished:
    resuming it runs the end of training again and saves the model.
    """
    done = position.get("stopped") or (position.get("epoch", 0) >= epochs and not position.get("step"))
    return bool(done) and run_dir.model.is_file() and run_dir.read_manifest().get("status") == "completed"
