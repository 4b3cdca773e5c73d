"""A run's checkpoint directory: atomic saves, verified loads, pruning.

Layout, one directory per checkpoint, named by the global step:

    RUN_DIR/ckpt/000000100/
        model.weights.h5   state.npz   state.json   (see `state`)
        checkpoint.json    # {"format", "format_version", "step", "saved_at", "meta",
                           #  "files": {name: {"sha256", "size"}}}

A checkpoint is written into a hidden `.000000100.tmp-*` directory and renamed into
place only when complete and fsynced, so a crash leaves the previous checkpoints as
they were plus a leftover that readers ignore and the next save removes.
`checkpoint.json` lists every file's sha256 and size; `latest` returns the newest
checkpoint whose files all match, reporting each one it had to pass over.

Example:

    >>> store = CheckpointStore(run_dir / "ckpt", keep=3)
    >>> store.save(capture(model, callbacks, position=pos), step=100, meta={"epoch": 1})
    >>> found = store.latest()
    >>> if found:
    ...     path, load = found
    ...     restore(load(), model, callbacks)
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from trainctl.atomic import atomic_dir, sha256_file
from trainctl.checkpoint.state import STATE_FILES, BadContent, TrainingState

CKPT_DIR = "ckpt"
MANIFEST = "checkpoint.json"
FORMAT = "trainctl-checkpoint"
FORMAT_VERSION = 1

PAUSE_ENV = "TRAINCTL_TEST_PAUSE_IN_CHECKPOINT_WRITE"
"""Test-only: when set to a path, `save` creates that file once the checkpoint's files
are written but before the directory is renamed into place, then sleeps while the
file exists (at most 60 s), so a test can SIGKILL the writer inside that window."""

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class CheckpointProblem:
    """Why one checkpoint failed verification: one record per bad file.

    `problem` is one of "missing", "size", "sha256", "unlisted", "unreadable", "content"
    (the sums match but the file does not hold what a checkpoint needs);
    `expected`/`actual` are sizes in bytes or sha256 hex digests (or an error text).
    """

    checkpoint: Path
    file: str
    problem: str
    expected: Any = None
    actual: Any = None

    def __str__(self) -> str:
        text = f"checkpoint {self.checkpoint}: {self.file}: {self.problem}"
        if self.expected is not None or self.actual is not None:
            text += f" (expected {self.expected}, found {self.actual})"
        return text


class CheckpointError(Exception):
    """A checkpoint cannot be read; `problems` lists what verification found."""

    def __init__(self, message: str, problems: list[CheckpointProblem] = ()):
        super().__init__(message)
        self.problems = list(problems)


def resolve_checkpoint(path: str | os.PathLike) -> tuple[Path, Path | None]:
    """Split what a user gave the CLI into `(run_dir, checkpoint_dir or None)`.

    Accepts RUN_DIR, RUN_DIR/ckpt (both: None, meaning "the latest good one") and
    RUN_DIR/ckpt/<step>.

    Example:

        >>> resolve_checkpoint("runs/mnist/ckpt/000000300")
        (PosixPath('/.../runs/mnist'), PosixPath('/.../runs/mnist/ckpt/000000300'))
    """
    given = path
    path = Path(path).resolve()
    if not path.is_dir():
        raise FileNotFoundError(
            f"{given} is not a directory; expected a run directory, its {CKPT_DIR}/ "
            f"directory, or one checkpoint {CKPT_DIR}/<step>/ in it."
        )
    if path.parent.name == CKPT_DIR:
        if not path.name.isdigit():
            raise ValueError(
                f"{given} is not a checkpoint: checkpoint directories are named by their step "
                f"(e.g. {CKPT_DIR}/000000100); hidden *.tmp-* ones are unfinished writes."
            )
        return path.parent.parent, path
    if path.name == CKPT_DIR:
        return path.parent, None
    return path, None


class CheckpointStore:
    """The checkpoints under one `ckpt_dir`; see the module docstring.

    Args:
        ckpt_dir: usually RUN_DIR/ckpt; created on the first save.
        keep: how many checkpoints `save` leaves (at least 1).
    """

    def __init__(self, ckpt_dir: str | os.PathLike, keep: int = 3):
        if type(keep) is not int or keep < 1:
            raise ValueError(f"keep must be an integer >= 1, got {keep!r}")
        self.ckpt_dir = Path(ckpt_dir)
        self.keep = keep

    def save(self, state: TrainingState, step: int, meta: dict) -> Path:
        """Write `state` as checkpoint `step` atomically, then prune; returns its path.

        `meta` (JSON data: epoch, recipe sha256...) goes into `checkpoint.json`.
        A checkpoint already at `step` is replaced. Pruning keeps this checkpoint
        and the `keep - 1` newest older ones; checkpoints with a higher step go too,
        since they belong to a run that was resumed from an earlier point.
        """
        if type(step) is not int or step < 0:
            raise ValueError(f"step must be an integer >= 0, got {step!r}")
        try:
            meta_text = json.dumps(meta)
        except TypeError as e:
            raise TypeError(f"checkpoint meta must be JSON data (str, numbers, lists, dicts): {e}") from None
        self._remove_leftovers()
        dest = self.ckpt_dir / f"{step:09d}"
        replaced = None
        with atomic_dir(dest) as tmp:
            state.write(tmp)
            files = {
                name: {"sha256": sha256_file(tmp / name), "size": (tmp / name).stat().st_size}
                for name in STATE_FILES
            }
            manifest = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "step": step,
                "saved_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "meta": json.loads(meta_text),
                "files": files,
            }
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            if os.environ.get(PAUSE_ENV):
                _pause_for_test(Path(os.environ[PAUSE_ENV]))
            if dest.exists():
                # The rename below cannot replace a directory; move the old one to a
                # leftover name, which readers ignore if we crash before the rename.
                replaced = self._leftover_name(dest, "replaced")
                os.rename(dest, replaced)
        if replaced is not None:
            shutil.rmtree(replaced)
        self._prune(step)
        return dest

    def list(self) -> list[Path]:
        """Checkpoint directories, oldest step first, verified or not."""
        if not self.ckpt_dir.is_dir():
            return []
        found = [p for p in self.ckpt_dir.iterdir() if p.name.isdigit() and p.is_dir()]
        return sorted(found, key=lambda p: int(p.name))

    def verify(self, path: str | os.PathLike) -> list[CheckpointProblem]:
        """Check every file of one checkpoint against `checkpoint.json`; [] when sound."""
        path = Path(path)
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
            files = manifest["files"]
            if manifest.get("format") != FORMAT or not isinstance(files, dict):
                raise ValueError(f"not a {FORMAT} manifest")
        except FileNotFoundError:
            return [CheckpointProblem(path, MANIFEST, "missing")]
        except (OSError, ValueError, KeyError, TypeError) as e:
            error = f"{type(e).__name__}: {e}"
            return [CheckpointProblem(path, MANIFEST, "unreadable", "a trainctl checkpoint manifest", error)]
        problems = []
        for name in STATE_FILES:
            entry, file = files.get(name), path / name
            if not isinstance(entry, dict):
                problems.append(CheckpointProblem(path, name, "unlisted", f"an entry in {MANIFEST}", entry))
            elif not file.is_file():
                problems.append(CheckpointProblem(path, name, "missing", entry.get("size"), None))
            elif file.stat().st_size != entry.get("size"):
                problems.append(CheckpointProblem(path, name, "size", entry.get("size"), file.stat().st_size))
            elif (digest := sha256_file(file)) != entry.get("sha256"):
                problems.append(CheckpointProblem(path, name, "sha256", entry.get("sha256"), digest))
        return problems

    def latest(
        self, verify: bool = True, on_problem: Callable[[CheckpointProblem], None] | None = None
    ) -> tuple[Path, Callable[[], TrainingState]] | None:
        """The newest sound checkpoint as `(path, load)`, or None if there is none.

        Sound: its files match their sums and hold a readable state (read here, so
        `load` only hands it over). Each checkpoint passed over is reported
        through `on_problem` (default: a logging warning), one call per bad file.

        Example:

            >>> path, load = store.latest(on_problem=console.warning)
            >>> state = load()
        """
        report = on_problem or (lambda problem: _log.warning("%s", problem))
        for path in reversed(self.list()):
            problems = self.verify(path) if verify else []
            for problem in problems:
                report(problem)
            if problems:
                continue
            # Sums prove a file is what was written, not that it is sound: read it now, so a
            # checkpoint with bad content is passed over like a damaged one.
            try:
                state = self.load(path, verify=False)
            except CheckpointError as exc:
                for problem in exc.problems:
                    report(problem)
                continue
            return path, functools.partial(lambda s: s, state)
        return None

    def meta(self, path: str | os.PathLike) -> dict:
        """The `meta` a checkpoint was saved with (epoch, recipe sha256, recipe...); {} if unreadable."""
        try:
            meta = json.loads((Path(path) / MANIFEST).read_text(encoding="utf-8")).get("meta")
        except (OSError, ValueError, AttributeError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def load(self, path: str | os.PathLike, verify: bool = True) -> TrainingState:
        """Read one checkpoint; with `verify`, raise `CheckpointError` if a file does not match its sum."""
        path = Path(path)
        if verify and (problems := self.verify(path)):
            raise CheckpointError(
                f"checkpoint {path} is damaged: " + "; ".join(str(p) for p in problems)
                + ". Resume from the run directory to fall back to the newest sound checkpoint.",
                problems,
            )
        try:
            return TrainingState.read(path)
        except BadContent as exc:
            problem = CheckpointProblem(path, exc.file, "content", exc.expected, exc.found)
            raise CheckpointError(
                f"checkpoint {path} is damaged: {problem}. "
                "Resume from the run directory to fall back to the newest sound checkpoint.",
                [problem],
            ) from None

    def _prune(self, step: int) -> None:
        older = [p for p in reversed(self.list()) if int(p.name) < step]
        keep = {step} | {int(p.name) for p in older[: self.keep - 1]}
        for path in self.list():
            if int(path.name) not in keep:
                # Renamed first so a crash mid-delete leaves an ignored leftover,
                # not a half-deleted checkpoint that reads as damaged.
                aside = self._leftover_name(path, "pruned")
                os.rename(path, aside)
                shutil.rmtree(aside)

    def _leftover_name(self, path: Path, why: str) -> Path:
        return path.with_name(f".{path.name}.tmp-{why}-{os.getpid()}")

    def _remove_leftovers(self) -> None:
        if not self.ckpt_dir.is_dir():
            return
        for leftover in self.ckpt_dir.glob(".*.tmp-*"):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def _pause_for_test(flag: Path) -> None:
    flag.touch()
    deadline = time.monotonic() + 60
    while flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
