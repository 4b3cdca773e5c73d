"""`trainctl sweep`: run a sweep's trials as ordinary runs, resumably, `jobs` at a time.

    DIR/
      sweep.yaml       the SWEEP.yaml this sweep runs (a changed one, or a changed recipe, is refused on --resume)
      sweep.json       state: plan, each trial's status and metric, Optuna storage and study, timing
      sweep.csv  sweep.png   the summary, current as trials finish
      trials/trial-000/  ...   ordinary run directories (`trainctl resume/eval/plot/predict` work on them)
      logs/trial-000.log       each trial's console output

Each trial is `trainctl run RECIPE OVERRIDES -o DIR/trials/NAME --resume` in a subprocess: a
trial killed at any moment resumes from its checkpoint, bit-identical. The controller keeps no
state but DIR/sweep.json (written atomically) and the trial directories, so after a SIGKILL of
everything, `--resume` finds completed trials by their manifests, resumes interrupted ones and
starts the rest: exactly the planned trials, none twice.

Grid and random sweeps are planned up front (random draws derive from the sweep seed and the
trial's index). A search asks Optuna as it goes, with a sampler seeded by (seed, trial number),
and prunes trials on their per-epoch metric (the controller reads their history.json and stops
a pruned trial with SIGTERM). Optuna's storage (default: DIR/optuna.db; `--storage URL` to share
one study between hosts) hands each trial number to one host only; a host resumes only the
trials it started itself (tagged with its sweep's id).

With `--jobs N` each trial process is pinned to its own share of the CPUs.

Example:

    >>> run_sweep(load_sweep("sweeps/lr.yaml"), Path("sweeps/lr-out"), jobs=2)
"""

from __future__ import annotations

import contextlib
import ctypes
import difflib
import fcntl
import hashlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from trainctl.atomic import write_text
from trainctl.errors import EXIT_SIGINT, EXIT_SIGTERM, Interrupted, TrainctlError
from trainctl.logs.console import get_reporter
from trainctl.sweep.spec import Sweep, Trial
from trainctl.sweep.summary import STATE, read_state, write_summary

_PR_SET_PDEATHSIG = 1
_POLL = 0.2


def _trial_preexec(cpus: set[int] | None):
    """Runs in each trial process before exec: its CPU share, and SIGTERM when the controller dies."""

    def setup() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)
        # A controller killed with SIGKILL leaves no one to stop its trials; the kernel then
        # sends them SIGTERM, and they stop after a checkpoint.
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)

    return setup


def cpu_shares(jobs: int) -> list[set[int] | None]:
    """The CPUs of each of `jobs` slots: this process's CPUs split evenly (None: no pinning)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if jobs <= 1 or len(cpus) < jobs:
        return [None] * jobs
    per = len(cpus) // jobs
    return [set(cpus[i * per:(i + 1) * per]) for i in range(jobs)]


def best_of(history: Any, metric: str, mode: str) -> tuple[float | None, int | None, int]:
    """(best value, its 1-based epoch, epochs done) of `metric` in a history.json dict."""
    values = history.get(metric) if isinstance(history, dict) else None
    epochs = max((len(v) for v in history.values() if isinstance(v, list)), default=0) if isinstance(history, dict) else 0
    finite = [(v, i) for i, v in enumerate(values or []) if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return None, None, epochs
    # The earliest epoch among equals, as `trainctl runs` reports it.
    value, epoch = min(finite, key=lambda p: (p[0], p[1])) if mode == "min" else max(finite, key=lambda p: (p[0], -p[1]))
    return float(value), epoch + 1, epochs


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class _Running:
    def __init__(self, trial: Trial, proc: subprocess.Popen, slot: int, optuna_trial=None):
        self.trial, self.proc, self.slot, self.optuna_trial = trial, proc, slot, optuna_trial
        self.started = time.monotonic()
        self.reported: set[int] = set(getattr(optuna_trial, "_reported", ()) or ())
        self.pruned = False


class SweepController:
    """Plans, starts, watches and records the trials of one sweep directory (see module doc)."""

    def __init__(self, sweep: Sweep, out: Path, jobs: int = 1, storage: str | None = None,
                 resume: bool = False, sweep_file: str = "SWEEP.yaml"):
        self.sweep, self.out, self.jobs = sweep, Path(out), max(1, jobs)
        self.report = get_reporter()
        self.spec = sweep.spec
        if storage is not None and self.spec.kind != "search":
            raise TrainctlError("--storage is for `search:` sweeps (Optuna); grid and random sweeps are planned "
                                "locally")
        self.state = self._open(resume, storage, sweep_file)
        self.stop_signal: int | None = None
        self.summary_stale = True
        self.running: dict[str, _Running] = {}
        self.study = None
        self.parent_client = None

    # ------------------------------------------------------------------ state

    def _open(self, resume: bool, storage: str | None, sweep_file: str) -> dict:
        state = read_state(self.out)
        if state is not None:
            if not resume:
                raise TrainctlError(f"{self.out} already holds a sweep: continue it with --resume, or choose "
                                    "another -o")
            recipe_text = self.sweep.recipe_path.read_text(encoding="utf-8")
            for what, old, new, name in (
                    ("sweep file", (self.out / "sweep.yaml").read_text(encoding="utf-8"), self.sweep.text, sweep_file),
                    ("recipe", state["recipe_text"], recipe_text, str(self.sweep.recipe_path))):
                if old != new:
                    diff = "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                                        f"{name} (when the sweep started)", name))
                    raise TrainctlError(f"the {what} changed since this sweep started; a resumed sweep must run "
                                        f"the same trials. Restore it, or start a new sweep with another -o:\n{diff}")
            if storage is not None and state.get("optuna", {}).get("storage") != storage:
                raise TrainctlError(f"this sweep uses the Optuna storage {state['optuna']['storage']!r}, not "
                                    f"{storage!r}")
            return state
        self.out.mkdir(parents=True, exist_ok=True)
        write_text(self.out / "sweep.yaml", self.sweep.text)
        state = {"id": uuid.uuid4().hex, "sweep_file": str(sweep_file), "sweep_sha256": self.sweep.sha256,
                 "recipe": str(self.sweep.recipe_path.resolve()),
                 "recipe_text": self.sweep.recipe_path.read_text(encoding="utf-8"), "kind": self.spec.kind,
                 "metric": self.spec.metric, "mode": self.spec.mode, "keys": list(self.spec.space),
                 "trials": {}, "timing": {"sessions": []}}
        if self.spec.kind == "search":
            state["optuna"] = {"storage": storage or f"sqlite:///{(self.out / 'optuna.db').resolve()}",
                               "study": self.spec.study or Path(sweep_file).stem}
        else:
            for trial in self.sweep.planned():
                state["trials"][trial.name] = {"index": trial.index, "params": trial.params, "status": "planned"}
        self._save(state)
        return state

    def _save(self, state: dict | None = None) -> None:
        write_text(self.out / STATE, json.dumps(state or self.state, indent=1) + "\n")

    def _record(self, trial: Trial, **changes: Any) -> None:
        entry = self.state["trials"].setdefault(trial.name, {"index": trial.index, "params": trial.params})
        entry.update(changes)
        self._save()
        self.summary_stale = True

    def trial_dir(self, trial: Trial) -> Path:
        return self.out / "trials" / trial.name

    def _completed(self, trial: Trial) -> bool:
        manifest = _read_json(self.trial_dir(trial) / "manifest.json") or {}
        return manifest.get("status") == "completed" and (self.trial_dir(trial) / "model.keras").is_file()

    # ------------------------------------------------------------------- run

    def run(self) -> dict:
        """Run every trial not yet done; the final state. Raises `Interrupted` after SIGINT/SIGTERM."""
        lock = open(self.out / ".lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise TrainctlError(f"another `trainctl sweep` is running in {self.out}") from None
        wall0, usage0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._start_parent_run()
            if self.spec.kind == "search":
                self._open_study()
            self._loop()
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
            usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            self.state["timing"]["sessions"].append({
                "wall_s": round(time.monotonic() - wall0, 3),
                "controller_cpu_s": round(usage.ru_utime + usage.ru_stime - usage0.ru_utime - usage0.ru_stime, 3),
                "trials_cpu_s": round(children.ru_utime + children.ru_stime - children0.ru_utime
                                      - children0.ru_stime, 3),
            })
            self._save()
            lock.close()
        if self.stop_signal is not None:
            self._end_parent_run("KILLED")
            name = "SIGTERM" if self.stop_signal == signal.SIGTERM else "SIGINT"
            raise Interrupted(f"{name} received: trials stopped after a checkpoint. Continue with: trainctl sweep "
                              f"{self.state['sweep_file']} -o {self.out} --resume",
                              EXIT_SIGTERM if self.stop_signal == signal.SIGTERM else EXIT_SIGINT)
        self._end_parent_run("FINISHED")
        return self.state

    def _on_signal(self, signum, frame) -> None:
        self.stop_signal = signum
        for running in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                running.proc.send_signal(signal.SIGTERM)

    def _loop(self) -> None:
        slots = cpu_shares(self.jobs)
        free = list(range(self.jobs))
        queue = self._grid_queue() if self.spec.kind != "search" else None
        while True:
            while self.stop_signal is None and free:
                nxt = (queue.pop(0) if queue else None) if queue is not None else self._next_search_trial()
                if nxt is None:
                    break
                trial, optuna_trial = nxt
                slot = free.pop(0)
                self.running[trial.name] = self._launch(trial, slots[slot], slot, optuna_trial)
            if self.summary_stale:  # after the launches: the next trials start while the plot is drawn
                write_summary(self.out)
                self.summary_stale = False
            if not self.running:
                return
            time.sleep(_POLL)
            for name, running in list(self.running.items()):
                if running.optuna_trial is not None and not running.pruned:
                    self._report_intermediate(running)
                if running.proc.poll() is not None:
                    del self.running[name]
                    free.append(running.slot)
                    self._finished(running)

    def _grid_queue(self) -> list[tuple[Trial, None]]:
        queue = []
        for name, entry in sorted(self.state["trials"].items()):
            trial = Trial(entry["index"], entry["params"])
            if entry["status"] == "failed":  # it would fail again; its log says why
                continue
            if self._completed(trial):
                if entry["status"] != "completed":  # finished while the controller was gone
                    self._record(trial, status="completed", exit_code=0, **self._result(trial))
                continue
            queue.append((trial, None))
        return queue

    def _launch(self, trial: Trial, cpus, slot: int, optuna_trial) -> _Running:
        trial_dir = self.trial_dir(trial)
        log = self.out / "logs" / f"{trial.name}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        resuming = (trial_dir / "ckpt").is_dir()
        cmd = [sys.executable, "-m", "trainctl", "run", str(self.sweep.recipe_path),
               *self.sweep.trial_args(trial.params), "-o", str(trial_dir), "--resume"]
        env = dict(os.environ)
        if self.state.get("mlflow_parent_run_id"):
            env["TRAINCTL_MLFLOW_PARENT_RUN_ID"] = self.state["mlflow_parent_run_id"]
        with open(log, "a", encoding="utf-8") as f:
            proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                    preexec_fn=_trial_preexec(cpus))
        self._record(trial, status="running")
        params = ", ".join(f"{k}={v!r}" for k, v in trial.params.items())
        self.report.info(f"{trial.name} {'resumed' if resuming else 'started'}: {params}")
        return _Running(trial, proc, slot, optuna_trial)

    def _result(self, trial: Trial) -> dict:
        value, epoch, epochs = best_of(_read_json(self.trial_dir(trial) / "history.json"), self.spec.metric,
                                       self.spec.mode)
        manifest = _read_json(self.trial_dir(trial) / "manifest.json") or {}
        return {"metric": value, "best_epoch": epoch, "epochs": epochs, "run_id": _mlflow_run_id(self.trial_dir(trial)),
                "started": manifest.get("started"), "ended": manifest.get("ended")}

    def _finished(self, running: _Running) -> None:
        trial, code = running.trial, running.proc.returncode
        seconds = self.state["trials"].get(trial.name, {}).get("seconds", 0.0) + time.monotonic() - running.started
        result = self._result(trial)
        if running.pruned and code != 0:  # a trial that ended before the SIGTERM reached it completed
            status = "pruned"
        elif code == 0:
            status = "completed"
        elif code in (EXIT_SIGINT, EXIT_SIGTERM, -signal.SIGTERM, -signal.SIGINT, -signal.SIGKILL) \
                or self.stop_signal is not None:
            status = "interrupted"
        else:
            status = "failed"
        self._record(trial, status=status, exit_code=code, seconds=seconds, **result)
        if running.optuna_trial is not None and status != "interrupted":
            self._tell(running.optuna_trial, status, result["metric"])
        value = "" if result["metric"] is None else f": {self.spec.metric}={result['metric']:.6g}"
        where = "" if status in ("completed", "pruned") else f" (exit {code}; see {self.out}/logs/{trial.name}.log)"
        (self.report.info if status != "failed" else self.report.warn)(
            f"{trial.name} {status}{value} in {seconds:.1f} s{where}")

    # ---------------------------------------------------------------- optuna

    def _open_study(self) -> None:
        try:
            import optuna
        except ImportError:
            raise TrainctlError("a `search:` sweep needs Optuna: pip install 'trainctl[optuna]'") from None

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        pruner = (optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1) if self.spec.pruning
                  else optuna.pruners.NopPruner())
        info = self.state["optuna"]
        self.study = optuna.create_study(storage=info["storage"], study_name=info["study"], load_if_exists=True,
                                         direction="minimize" if self.spec.mode == "min" else "maximize",
                                         pruner=pruner)
        self._mine = [t for t in self.study.get_trials(deepcopy=False,
                                                       states=(optuna.trial.TrialState.RUNNING,))
                      if t.user_attrs.get("sweep") == self.state["id"]]

    def _next_search_trial(self):
        import optuna

        while self._mine:  # started by this sweep before it was killed: resume, never ask again
            frozen = self._mine.pop(0)
            trial = optuna.trial.Trial(self.study, frozen._trial_id)
            trial._reported = set(frozen.intermediate_values)
            planned = Trial(frozen.number, dict(frozen.params))
            if not self._completed(planned):
                return planned, trial
            # It finished while the controller was gone: record it without running it again.
            result = self._result(planned)
            self._record(planned, status="completed", exit_code=0, **result)
            self._tell(trial, "completed", result["metric"])
        if len(self.study.get_trials(deepcopy=False)) >= self.spec.trials:
            return None
        trial = self.study.ask()
        if trial.number >= self.spec.trials:  # another host took the last one meanwhile
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return None
        trial.set_user_attr("sweep", self.state["id"])
        # Seeded by the trial's number: a resumed sweep suggests what an uninterrupted one would.
        key = hashlib.sha256(f"{self.spec.seed}:{trial.number}".encode()).digest()
        self.study.sampler = optuna.samplers.TPESampler(seed=int.from_bytes(key[:4], "little"))
        params = {key: _suggest(trial, key, dist) for key, dist in self.spec.search.items()}
        return Trial(trial.number, params), trial

    def _report_intermediate(self, running: _Running) -> None:
        history = _read_json(self.trial_dir(running.trial) / "history.json") or {}
        values = history.get(self.spec.metric) or []
        for epoch, value in enumerate(values):
            if epoch in running.reported or not isinstance(value, (int, float)) or not math.isfinite(value):
                continue
            running.reported.add(epoch)
            running.optuna_trial.report(float(value), epoch)
            if running.optuna_trial.should_prune():
                running.pruned = True
                with contextlib.suppress(ProcessLookupError):
                    running.proc.send_signal(signal.SIGTERM)
                return

    def _tell(self, optuna_trial, status: str, value: float | None) -> None:
        import optuna

        states = optuna.trial.TrialState
        if status == "completed" and value is not None:
            self.study.tell(optuna_trial, value)
        else:
            self.study.tell(optuna_trial, state=states.PRUNED if status == "pruned" else states.FAIL)

    # ---------------------------------------------------------------- mlflow

    def _start_parent_run(self) -> None:
        """One MLflow run for the sweep, the parent of every trial's run (when the recipe logs to MLflow)."""
        from trainctl.recipe import load_recipe

        spec = load_recipe(self.sweep.recipe_path, self.sweep.trial_args({})).spec
        if spec.logs.mlflow is None:
            return
        from trainctl.logs.mlflow_client import experiment_id, mlflow_client

        try:
            client = mlflow_client(spec.logs.mlflow.tracking_uri)
            if self.state.get("mlflow_parent_run_id"):
                client.update_run(self.state["mlflow_parent_run_id"], status="RUNNING")
            else:
                experiment = experiment_id(client, spec.logs.mlflow.experiment or spec.name)
                run = client.create_run(experiment, run_name=Path(self.state["sweep_file"]).stem,
                                        tags={**spec.logs.mlflow.tags, "trainctl.sweep": str(self.out.resolve())})
                self.state["mlflow_parent_run_id"] = run.info.run_id
                self._save()
            self.parent_client = client
        except Exception as exc:  # noqa: BLE001 - tracking never stops a sweep
            self.report.warn(f"MLflow: cannot create the sweep's parent run ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0][:200]}); trials log unnested")

    def _end_parent_run(self, status: str) -> None:
        if self.parent_client is None:
            return
        run_id = self.state["mlflow_parent_run_id"]
        try:
            for name in ("sweep.csv", "sweep.png", "sweep.yaml"):
                if (self.out / name).is_file():
                    self.parent_client.log_artifact(run_id, str(self.out / name))
            self.parent_client.set_terminated(run_id, status)
        except Exception as exc:  # noqa: BLE001
            self.report.warn(f"MLflow: could not close the sweep's parent run: {type(exc).__name__}")


def _suggest(trial, key: str, dist) -> Any:
    if dist.kind == "choice":
        return trial.suggest_categorical(key, dist.choice)
    if dist.kind == "int":
        return trial.suggest_int(key, *dist.int)
    return trial.suggest_float(key, *dist.args, log=dist.kind == "loguniform")


def _mlflow_run_id(trial_dir: Path) -> str | None:
    record = _read_json(trial_dir / "mlflow.json")
    return record.get("run_id") if isinstance(record, dict) else None


def run_sweep(sweep: Sweep, out: Path, jobs: int = 1, storage: str | None = None, resume: bool = False,
              sweep_file: str = "SWEEP.yaml") -> dict:
    """Run (or with `resume`, continue) `sweep` in `out`; the final state (DIR/sweep.json)."""
    return SweepController(sweep, out, jobs, storage, resume, sweep_file).run()
