"""Recipe `callbacks:` → Keras callbacks, with their files kept inside the run directory.

Keras names and arguments pass through, with three adjustments a run directory needs:
paths (`ModelCheckpoint.filepath`, `CSVLogger.filename`, `BackupAndRestore.backup_dir`) are
relative to the run directory, which they cannot leave; `TensorBoard` is served by trainctl's writer,
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
    # `validate` refused paths that leave the run directory (`trainctl.recipe.callback_checks`).
    return str(run_dir / value)


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
            if name == "ModelCheckpoint":
                from trainctl.checkpoint.model_checkpoint import AtomicModelCheckpoint

                if "filepath" in kwargs:
                    Path(kwargs["filepath"]).parent.mkdir(parents=True, exist_ok=True)
                out.append(builder.call(AtomicModelCheckpoint, kwargs, path + (name,), name))
                continue
            if name == "TensorBoard":
                continue  # a log writer, built with the run's position by `tensorboard_args`
            if name == "LearningRateScheduler" and "schedule" in kwargs:
                kwargs["schedule"] = _schedule(builder, kwargs["schedule"], path + (name, "schedule"))
            ref = {name: kwargs}
        elif isinstance(ref, dict) and "class" in ref:
            cls = builder.user_object(ref["class"], path + ("class",))
            if inspect.isclass(cls) and "run_dir" in inspect.signature(cls).parameters:
                ref = {**ref, "args": {"run_dir": str(run_dir), **(ref.get("args") or {})}}
        out.append(builder.build(ref, "callback", path))
    return out


# Keras TensorBoard arguments that need TensorFlow (graphs, images, profiling, embeddings):
# accepted so a Keras recipe validates, and ignored with a note.
_TB_IGNORED = ("write_graph", "write_images", "write_steps_per_second", "profile_batch",
               "embeddings_freq", "embeddings_metadata")


def tensorboard_args(loaded, run_dir: Path) -> dict | None:
    """Arguments of the run's TensorBoard writer: from a `TensorBoard` callback, else `logs.tensorboard`.

    The writer is a log writer, not training state: it is built anew with the run's
    position on every start or resume, so its purge point is the resume point.
    """
    from trainctl.logs.console import get_reporter

    for ref in loaded.spec.callbacks:
        if ref == "TensorBoard" or (isinstance(ref, dict) and "TensorBoard" in ref):
            kwargs = dict((ref.get("TensorBoard") if isinstance(ref, dict) else None) or {})
            ignored = [k for k in kwargs if k in _TB_IGNORED]
            if ignored:
                get_reporter().warn(f"TensorBoard: {', '.join(ignored)} need TensorFlow; trainctl writes scalars, "
                                    "histograms and the model summary without it and ignores these")
            kwargs = {k: v for k, v in kwargs.items() if k in ("log_dir", "update_freq", "histogram_freq")}
            kwargs["log_dir"] = _inside(run_dir, str(kwargs.get("log_dir", "events")))
            return kwargs
    tb = loaded.spec.logs.tensorboard
    if not tb:
        return None
    if tb is True:
        return {"log_dir": str(run_dir / "events")}
    return {"log_dir": str(run_dir / "events"), "update_freq": tb.update_freq, "histogram_freq": tb.histogram_freq}


def _schedule(builder: Builder, spec, path: tuple):
    if isinstance(spec, dict) and "class" in spec:
        return builder.build(spec, None, path)
    if isinstance(spec, dict) and len(spec) == 1:
        (name, kwargs), = spec.items()
        if name in LR_SCHEDULES:
            return builder.call(LR_SCHEDULES[name], dict(kwargs or {}), path + (name,), name)
    raise builder.fail(path, "unknown learning-rate schedule",
                       f"expected one of: {', '.join(LR_SCHEDULES)}, or {{class: 'module:function'}}")
