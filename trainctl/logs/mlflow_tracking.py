"""`MlflowTracker`: the run's params, metrics and artifacts in MLflow, exactly once across kills.

What it logs (recipe `logs.mlflow`):

- params: the resolved recipe flattened to dotted keys (`compile.optimizer.Adam.learning_rate`);
- every epoch's logs and `lr` with `step` = the epoch (0-based, as in metrics.jsonl), and with
  `logs.per_batch` every step's logs as `batch_<name>` with `step` = the global step;
- at the end of a completed run: model.keras, recipe.yaml, manifest.json and plots/curves.png.

The MLflow run id is kept in `RUN_DIR/mlflow.json`. A resumed run continues that MLflow run:
before logging a key it reads which steps the server already has and sends only the others,
so the steps a killed run logged past its last checkpoint (the resumed run recomputes them
bit-identically) are neither repeated nor lost. The run ends FINISHED, FAILED (the run
failed) or KILLED (interrupted; RUNNING again once resumed).

Everything goes through one background thread with a buffer: a tracking server that is down
or slow never stops or slows training. It warns once, retries with a growing pause, and at
the end of the run waits at most `TRAINCTL_MLFLOW_FLUSH_TIMEOUT` seconds (default 30), then
reports what could not be logged (also in `mlflow.json` under `unlogged`).

A sweep's controller sets `TRAINCTL_MLFLOW_PARENT_RUN_ID` so that each trial's run is nested
under the sweep's run.

Example:

    >>> tracker = MlflowTracker(loaded.spec.logs.mlflow, run_dir, loaded.document.data)
    >>> with tracker:
    ...     model.fit(x, y, epochs=3, callbacks=[tracker])
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from trainctl.atomic import write_text
from trainctl.backend import keras
from trainctl.errors import Interrupted
from trainctl.logs.console import get_reporter
from trainctl.logs.mlflow_client import experiment_id, mlflow_client
from trainctl.logs.values import learning_rate, to_python

PARENT_ENV = "TRAINCTL_MLFLOW_PARENT_RUN_ID"
FLUSH_TIMEOUT_ENV = "TRAINCTL_MLFLOW_FLUSH_TIMEOUT"
ARTIFACTS = ("model.keras", "recipe.yaml", "manifest.json", "plots/curves.png")
_MAX_PAUSE = 30.0
_BATCH = 1000  # MLflow's limit of metrics in one log_batch
_PARAMS_BATCH = 100


def flatten(data: Any, prefix: str = "") -> dict[str, str]:
    """A nested recipe as `{dotted.key: str(value)}`, list items by index.

    Example:

        >>> flatten({"train": {"epochs": 2}, "model": {"layers": [{"Dense": {"units": 8}}]}})
        {'train.epochs': '2', 'model.layers.0.Dense.units': '8'}
    """
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else None
    if items is None or not data:
        return {prefix: "" if data is None else str(data)} if prefix else {}
    out: dict[str, str] = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


class _Sender:
    """The background thread that owns the MLflow client and the buffer of what is still to send."""

    def __init__(self, spec, run_dir: Path, params: dict[str, str], name: str):
        self.spec = spec
        self.run_dir = run_dir
        self.params = params
        self.name = name
        self.lock = threading.Condition()
        self.metrics: list[tuple[str, float, int, int]] = []  # key, value, timestamp ms, step
        self.status: str | None = None
        self.artifacts: list[Path] = []
        self.params_done = False
        self.client = None
        self.run_id: str | None = None
        self.continued = False
        self.known: dict[str, set[int]] = {}  # steps the server already has, per key (continued runs)
        self.failures = 0
        self.closing = False
        self.thread = threading.Thread(target=self._loop, name="mlflow", daemon=True)

    @property
    def record_path(self) -> Path:
        return self.run_dir / "mlflow.json"

    def start(self) -> None:
        self.thread.start()

    def add_metrics(self, points: list[tuple[str, float, int, int]]) -> None:
        with self.lock:
            self.metrics.extend(points)
            self.lock.notify()

    def finish(self, status: str, artifacts: list[Path], timeout: float) -> dict[str, Any]:
        """Queue the final status (and artifacts), wait up to `timeout` s; what is left unsent."""
        with self.lock:
            self.status, self.artifacts, self.closing = status, artifacts, True
            self.lock.notify()
        self.thread.join(timeout)
        with self.lock:
            left = {"metric_points": len(self.metrics), "params": 0 if self.params_done else len(self.params),
                    "artifacts": [p.name for p in self.artifacts], "status": self.status}
        return {k: v for k, v in left.items() if v}

    def _loop(self) -> None:
        pause = 1.0
        while True:
            with self.lock:
                if not self._pending() and not self.closing:
                    self.lock.wait(5.0)
                if not self._pending():
                    if self.closing:
                        return
                    continue
            try:
                self._send()
            except Exception as exc:  # noqa: BLE001 - any client error: keep training, retry later
                self.failures += 1
                if self.failures == 1:
                    get_reporter().warn(f"MLflow: cannot log to {self.spec.tracking_uri or 'the tracking store'} "
                                        f"({type(exc).__name__}: {str(exc).splitlines()[0][:200]}); training goes "
                                        "on, buffering and retrying")
                with self.lock:
                    self.lock.wait(pause)
                pause = min(pause * 2, _MAX_PAUSE)
                continue
            if self.failures:
                get_reporter().info("MLflow: reconnected; buffered values sent")
                self.failures = 0
            pause = 1.0

    def _pending(self) -> bool:
        return bool(self.metrics or self.status or self.artifacts or not self.params_done or self.run_id is None)

    def _send(self) -> None:
        self._ensure_run()
        if not self.params_done:
            self._send_params()
        with self.lock:
            batch = list(self.metrics[:_BATCH])
        if batch:
            self._send_metrics(batch)
            with self.lock:
                del self.metrics[:len(batch)]
        with self.lock:
            more, artifacts, status = bool(self.metrics), list(self.artifacts), self.status
        if more:
            return
        for path in artifacts:
            if path.is_file():
                folder = str(path.parent.relative_to(self.run_dir)) if path.parent != self.run_dir else None
                self.client.log_artifact(self.run_id, str(path), folder)
            with self.lock:
                self.artifacts.remove(path)
        if status:
            self.client.set_terminated(self.run_id, status)
            with self.lock:
                self.status = None
            self._record(status=status)

    def _ensure_run(self) -> None:
        if self.client is None:
            self.client = mlflow_client(self.spec.tracking_uri)
        if self.run_id is not None:
            return
        record = self._read_record()
        if record.get("run_id"):
            self.client.update_run(record["run_id"], status="RUNNING")
            self.run_id, self.continued = record["run_id"], True
            return
        experiment = experiment_id(self.client, self.spec.experiment or self.name)
        tags = {**self.spec.tags, "trainctl.run_dir": str(self.run_dir.resolve())}
        if os.environ.get(PARENT_ENV):
            tags["mlflow.parentRunId"] = os.environ[PARENT_ENV]
        run = self.client.create_run(experiment, run_name=self.spec.run_name or self.run_dir.name, tags=tags)
        self.run_id = run.info.run_id
        self._record(run_id=self.run_id, experiment_id=experiment,
                     tracking_uri=self.client.tracking_uri, status="RUNNING")

    def _send_params(self) -> None:
        from mlflow.entities import Param

        params = dict(self.params)
        if self.continued:
            # A resume may change what is safe to change (train.epochs); MLflow refuses to
            # change a param, so those keep their first value.
            params = {k: v for k, v in params.items() if k not in self.client.get_run(self.run_id).data.params}
        items = [Param(k[:250], v[:6000]) for k, v in params.items()]
        for i in range(0, len(items), _PARAMS_BATCH):
            self.client.log_batch(self.run_id, params=items[i:i + _PARAMS_BATCH])
        self.params_done = True

    def _send_metrics(self, batch: list[tuple[str, float, int, int]]) -> None:
        from mlflow.entities import Metric

        if self.continued:
            for key in {p[0] for p in batch} - set(self.known):
                self.known[key] = {m.step for m in self.client.get_metric_history(self.run_id, key)}
        fresh = [p for p in batch if p[3] not in self.known.get(p[0], ())]
        if fresh:
            self.client.log_batch(self.run_id, metrics=[Metric(k, v, t, s) for k, v, t, s in fresh])
        for key, _, _, step in fresh:
            self.known.setdefault(key, set()).add(step)

    def _read_record(self) -> dict[str, Any]:
        try:
            return json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def _record(self, **changes: Any) -> None:
        write_text(self.record_path, json.dumps({**self._read_record(), **changes}, indent=1) + "\n")


class MlflowTracker(keras.callbacks.Callback):
    """Logs a run to MLflow from a background thread (see module doc); a context manager around training.

    Leaving the `with` block normally logs the artifacts and marks the run FINISHED; an
    `Interrupted` marks it KILLED, any other exception FAILED.

    Example:

        >>> with MlflowTracker(spec, run_dir, recipe_data, global_step=1200) as tracker:
        ...     model.fit(x, y, epochs=10, initial_epoch=3, callbacks=[tracker])
    """

    def __init__(self, spec, run_dir: str | os.PathLike, recipe_data: dict, *, per_batch: bool = False,
                 global_step: int = 0, start_step: int = 0) -> None:
        super().__init__()
        self.run_dir = Path(run_dir)
        self.per_batch = per_batch
        self.global_step = global_step
        self._start_step = start_step
        self.sender = _Sender(spec, self.run_dir, flatten(recipe_data), str(recipe_data.get("name", "trainctl")))

    def __enter__(self) -> "MlflowTracker":
        self.sender.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            status, artifacts = "FINISHED", [self.run_dir / name for name in ARTIFACTS]
        else:
            status = "KILLED" if issubclass(exc_type, (Interrupted, KeyboardInterrupt)) else "FAILED"
            artifacts = []
        left = self.sender.finish(status, artifacts, float(os.environ.get(FLUSH_TIMEOUT_ENV, "30")))
        if left:
            self.sender._record(unlogged=left)
            get_reporter().warn(f"MLflow: could not log {json.dumps(left)} (the tracking server did not "
                                "answer); the run directory has everything")

    def on_epoch_begin(self, epoch, logs=None):
        # A run resumed mid-epoch starts its first epoch at `start_step`, not 0.
        self._epoch_base_step = self.global_step - self._start_step
        self._start_step = 0

    def on_train_batch_end(self, batch, logs=None):
        self.global_step = self._epoch_base_step + batch + 1
        if self.per_batch:
            now = int(time.time() * 1000)
            self.sender.add_metrics([(f"batch_{k}", v, now, self.global_step) for k, v in _scalars(logs).items()])

    def on_epoch_end(self, epoch, logs=None):
        values = _scalars(logs)
        lr = learning_rate(self.model)
        if lr is not None:
            values["lr"] = lr
        now = int(time.time() * 1000)
        self.sender.add_metrics([(k, v, now, epoch) for k, v in values.items()])


def _scalars(logs: Any) -> dict[str, float]:
    return {k: v for k, v in to_python(logs).items() if isinstance(v, float)}
