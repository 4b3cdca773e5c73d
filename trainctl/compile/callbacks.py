"""Recipe `callbacks:` → Keras callbacks, with their files kept inside the run directory.

Keras names and arguments pass through, with three adjustments a run directory needs:
relative paths (`ModelCheckpoint.filepath`, `CSVLogger.filename`, `BackupAndRestore.backup_dir`)
are taken relative to the run directory; `TensorBoard` is served by trainctl's writer,
which needs no TensorFlow; `LearningRateScheduler.schedule` may be a declarative
schedule (see `trainctl.compile.schedules`). A custom callback whose constructor takes
`run_dir` receives the run directory.
"""

from __future__ import annotations

import inspect
from pathlib import Path

from trainctl.compile.objects import Builder
from trainctl.compile.schedules import LR_SCHEDULES

PATH_ARGS = {"ModelCheckpoint": "filepath", "CSVLogger": "filename", "BackupAndRestore": "backup_dir"}


def _inside(run_dir: Path, value: str) -> str:
    path = Path(value)
    return str(path if path.is_absolute() else run_dir / path)


def build_callbacks(loaded, builder: Builder, run_dir: Path) -> list:
    """The recipe's callbacks, in recipe order."""
    out = []
    for i, ref in enumerate(loaded.spec.callbacks):
        path = ("callbacks", i)
        if isinstance(ref, str):
            ref = {ref: {}}
        if isinstance(ref, dict) and len(ref) == 1 and "class" not in ref:
            (name, kwargs), = ref.items()
            kwargs = dict(kwargs or {})
            if name in PATH_ARGS and PATH_ARGS[name] in kwargs:
                kwargs[PATH_ARGS[name]] = _inside(run_dir, str(kwargs[PATH_ARGS[name]]))
            if name == "ModelCheckpoint" and "filepath" in kwargs:
                Path(kwargs["filepath"]).parent.mkdir(parents=True, exist_ok=True)
            if name == "TensorBoard":
                from trainctl.logs.tensorboard import TensorBoardWriter

                kwargs["log_dir"] = _inside(run_dir, str(kwargs.get("log_dir", "events")))
                out.append(builder.call(TensorBoardWriter, kwargs, path + (name,), "TensorBoard"))
                continue
            if name == "LearningRateScheduler" and isinstance(kwargs.get("schedule"), dict):
                kwargs["schedule"] = _schedule(builder, kwargs["schedule"], path + (name, "schedule"))
            ref = {name: kwargs}
        elif isinstance(ref, dict) and "class" in ref:
            cls = builder.user_object(ref["class"], path + ("class",))
            if inspect.isclass(cls) and "run_dir" in inspect.signature(cls).parameters:
                ref = {**ref, "args": {"run_dir": str(run_dir), **(ref.get("args") or {})}}
        out.append(builder.build(ref, "callback", path))
    return out


def _schedule(builder: Builder, spec: dict, path: tuple):
    if "class" in spec:
        return builder.build(spec, None, path)
    if len(spec) == 1:
        (name, kwargs), = spec.items()
        if name in LR_SCHEDULES:
            return builder.call(LR_SCHEDULES[name], dict(kwargs or {}), path + (name,), name)
    raise builder.fail(path, "unknown learning-rate schedule",
                       f"expected one of: {', '.join(LR_SCHEDULES)}, or {{class: 'module:function'}}")


def has_callback(loaded, name: str) -> bool:
    """True when the recipe lists the Keras callback `name`."""
    return any(isinstance(r, dict) and name in r or r == name for r in loaded.spec.callbacks)
