"""The run directory: the unit of work, holding everything a run needs to resume or be evaluated.

    RUN_DIR/
      recipe.yaml      the resolved recipe (overrides applied); resume needs nothing else
      manifest.json    versions, seed, recipe sha256, git commit, times, status, interruptions
      model.keras      the final model (plain `keras.saving.load_model`)
      history.json  metrics.csv  metrics.jsonl  events/  plots/  ckpt/<step>/

Example:

    >>> rd = RunDir.create("runs", "mnist_mlp")
    >>> rd.path.name
    'mnist_mlp-20261125-154000'
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from trainctl import __version__
from trainctl.atomic import write_text
from trainctl.errors import TrainctlError


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def _git_commit(where: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


_HELD_LOCKS: dict[str, int] = {}  # run directory -> open lock file descriptor, for this process's life


@dataclasses.dataclass
class RunDir:
    """Paths inside a run directory, and its manifest."""

    path: Path

    recipe = property(lambda self: self.path / "recipe.yaml")
    manifest_path = property(lambda self: self.path / "manifest.json")
    model = property(lambda self: self.path / "model.keras")
    ckpt = property(lambda self: self.path / "ckpt")
    events = property(lambda self: self.path / "events")
    plots = property(lambda self: self.path / "plots")

    @classmethod
    def create(cls, root: str | Path, name: str) -> "RunDir":
        """A new, empty `root/<name>-<timestamp>` (suffixed `-2`, `-3`... if taken)."""
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{name}-{stamp}"
        path, n = base, 1
        while True:
            try:
                path.mkdir(parents=True)
                return cls(path)
            except FileExistsError:
                n += 1
                path = base.with_name(f"{base.name}-{n}")

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """An existing run directory; a clear error if it is not one."""
        path = Path(path)
        if not (path / "recipe.yaml").is_file():
            raise TrainctlError(f"{path} is not a run directory (no recipe.yaml in it)")
        return cls(path)

    def has_checkpoints(self) -> bool:
        return self.ckpt.is_dir() and any(p.name[:1].isdigit() for p in self.ckpt.iterdir())

    def read_manifest(self) -> dict:
        """The manifest as a dict; {} when there is none yet.

        One that cannot be read is renamed aside (`manifest.json.unreadable-<time>`) and
        reported, so the next write does not silently replace what it held.
        """
        try:
            text = self.manifest_path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            return self._set_aside(f"{type(exc).__name__}: {exc}")
        try:
            manifest = json.loads(text)
        except ValueError as exc:
            return self._set_aside(f"not JSON: {exc}")
        return manifest if isinstance(manifest, dict) else self._set_aside("not a JSON object")

    def _set_aside(self, why: str) -> dict:
        from trainctl.distribution.processes import is_main_process
        from trainctl.logs.console import get_reporter

        if not is_main_process():
            return {}
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        aside = self.manifest_path.with_name(f"{self.manifest_path.name}.unreadable-{stamp}")
        os.replace(self.manifest_path, aside)
        get_reporter().warn(f"{self.manifest_path} could not be read ({why}); kept it as {aside.name} "
                            "and started a new manifest")
        return {}

    def lock(self) -> None:
        """Hold `RUN_DIR/.lock` until `unlock`, so no second process writes the run directory.

        A lock is an `flock` on the file (which holds the holder's pid, for the message):
        the system releases it when its process dies, so a killed run never blocks a resume.
        Locking a directory this process already holds does nothing.

        Example:

            >>> RunDir(Path("runs/a")).lock()   # a second `trainctl run -o runs/a` now exits 2
        """
        import fcntl

        key = str(self.path.resolve())
        if key in _HELD_LOCKS:
            return
        lock_path = self.path / ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 64).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise TrainctlError(f"{self.path} is in use by another trainctl (process {holder}): wait for it to "
                                "end, or stop it, before running or resuming in this directory") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        _HELD_LOCKS[key] = fd  # kept open: closing the file would release the lock

    def unlock(self) -> None:
        """Release the lock `lock` took (a no-op if this process does not hold it)."""
        fd = _HELD_LOCKS.pop(str(self.path.resolve()), None)
        if fd is not None:
            os.close(fd)

    def write_manifest(self, manifest: dict) -> None:
        """Write the manifest (in a multi-process run, only process 0 writes; the others skip)."""
        from trainctl.distribution.processes import is_main_process

        if is_main_process():
            write_text(self.manifest_path, json.dumps(manifest, indent=2, sort_keys=False, default=str) + "\n")

    def update_manifest(self, **changes) -> dict:
        manifest = self.read_manifest()
        manifest.update(changes)
        self.write_manifest(manifest)
        return manifest

    def new_manifest(self, loaded, command: list[str]) -> dict:
        """The manifest of a run that is starting."""
        import jax
        import keras

        manifest = {
            "name": loaded.spec.name,
            "status": "running",
            "started": now(),
            "ended": None,
            "exit_code": None,
            "seed": loaded.spec.seed,
            "recipe_sha256": loaded.sha256,
            "recipe_source": str(loaded.document.file),
            "base_dir": str(loaded.base_dir),  # where `imports:` and relative data paths resolve
            "git_commit": _git_commit(loaded.base_dir),
            "command": command,
            "versions": {
                "trainctl": __version__,
                "keras": keras.__version__,
                "jax": jax.__version__,
                "python": platform.python_version(),
            },
            "host": platform.node(),
            "pid": os.getpid(),
            "argv": sys.argv,
            "events": [{"event": "start", "time": now()}],
        }
        self.write_manifest(manifest)
        return manifest

    def record_end(self, exc: BaseException | None) -> None:
        """Record how the run ended (status, exit code, end time, the error line), so the manifest never says running after its process is gone."""
        from trainctl.errors import EXIT_SIGINT, EXIT_TRAINING_FAILED

        if exc is None:
            code, error = 0, None
        elif isinstance(exc, TrainctlError):
            code, error = exc.exit_code, str(exc)
        elif isinstance(exc, KeyboardInterrupt):
            code, error = EXIT_SIGINT, "KeyboardInterrupt"
        elif isinstance(exc, SystemExit):
            code, error = exc.code if isinstance(exc.code, int) else EXIT_TRAINING_FAILED, f"exit {exc.code}"
        else:
            code, error = EXIT_TRAINING_FAILED, f"{type(exc).__name__}: {exc}"
        status = {0: "completed", 130: "interrupted", 143: "interrupted"}.get(code, "failed")
        self.update_manifest(status=status, ended=now(), exit_code=code, error=error and error[:2000])

    def add_event(self, event: str, **details) -> None:
        manifest = self.read_manifest()
        manifest.setdefault("events", []).append({"event": event, "time": now(), **details})
        self.write_manifest(manifest)
