"""Check callback arguments Keras would trip over only during training: file paths and monitors.

A callback writes into the run directory: its path arguments (`ModelCheckpoint.filepath`,
`CSVLogger.filename`, `TensorBoard.log_dir`, `BackupAndRestore.backup_dir`, and any
argument named like a path or directory, custom callbacks' included) are relative to it.
An absolute path, a `~` or a `..` would write elsewhere and is refused here, so
`validate` catches it; copy artifacts elsewhere after the run instead. A `monitor`
must be a metric name (a string); that it names a metric the model logs is checked once
the model is compiled (`trainctl.runner.prechecks`).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from trainctl.recipe.context import CheckContext, describe
from trainctl.recipe.loader import PathT

PATH_ARGS = {"ModelCheckpoint": "filepath", "CSVLogger": "filename", "TensorBoard": "log_dir",
             "BackupAndRestore": "backup_dir"}
_PATH_LIKE = re.compile(r"(^|_)(path|dir|directory|file|filename|filepath|folder|logdir)$")
MONITORING = ("EarlyStopping", "ReduceLROnPlateau", "ModelCheckpoint")


def callback_args(ref: Any, path: PathT) -> tuple[str | None, dict, PathT]:
    """(Keras name or None for `class:`, its arguments, their path) of one `callbacks:` entry."""
    if isinstance(ref, str):
        return ref, {}, path + (ref,)
    if isinstance(ref, dict) and "class" in ref:
        args = ref.get("args")
        return None, args if isinstance(args, dict) else {}, path + ("args",)
    if isinstance(ref, dict) and len(ref) == 1:
        (name, args), = ref.items()
        return str(name), args if isinstance(args, dict) else {}, path + (name,)
    return None, {}, path


def outside_run_dir(value: str) -> str | None:
    """Why `value` would leave the run directory (absolute, `~`, `..`), or None when it stays inside.

    Example:

        >>> outside_run_dir("../elsewhere/best.keras")
        "it climbs out with '..'"
    """
    if PurePosixPath(value).is_absolute() or PureWindowsPath(value).anchor:
        return "it is absolute"
    if value.startswith("~"):
        return "it starts at a home directory ('~')"
    if ".." in PurePosixPath(value.replace("\\", "/")).parts:
        return "it climbs out with '..'"
    return None


def check_callbacks(ctx: CheckContext) -> None:
    """Paths stay inside the run directory; `monitor` is a metric name."""
    for i, ref in enumerate(ctx.get(("callbacks",)) or []):
        name, args, at = callback_args(ref, ("callbacks", i))
        for key, value in args.items():
            if not isinstance(key, str):
                continue
            if key == PATH_ARGS.get(name) or _PATH_LIKE.search(key):
                if isinstance(value, str) and (why := outside_run_dir(value)):
                    ctx.error(at + (key,), f"{name or 'callback'}.{key} {value!r} would write outside the run "
                                           f"directory: {why}",
                              "paths are relative to the run directory (e.g. 'best.keras'); copy files "
                              "elsewhere after the run")
            if key == "monitor" and not isinstance(value, str):
                ctx.error(at + (key,), f"`monitor` is a metric name like 'val_loss', got {describe(value)}")
