"""Atomic writes: write aside, fsync, rename.

Every file trainctl puts into a run directory goes through here, so a crash at any
moment leaves either the previous complete file or the new complete file, never a
torn one.

Example:

    >>> from trainctl.atomic import write_text
    >>> write_text(run_dir / "history.json", json.dumps(history))
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import errno
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from trainctl.errors import WriteFailed

# Errors that mean "this place cannot take the file", not a bug: reported with the path
# and exit code 74, the previous version of the file left in place.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO})


# mkstemp creates files readable by the owner only; run-directory files should get the
# permissions any other file would (0666 less the umask). Read once: os.umask can only
# be read by setting it.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def write_failed(exc: OSError, dest: str | os.PathLike, what: str) -> WriteFailed:
    """A `WriteFailed` naming `dest`, what was being written and the system's reason."""
    reason = exc.strerror or str(exc)
    code = f" [{errno.errorcode[exc.errno]}]" if exc.errno in errno.errorcode else ""
    return WriteFailed(f"cannot write {what} {dest}: {reason}{code}; nothing already there was replaced or removed")


@contextlib.contextmanager
def _reported(dest: Path, what: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise write_failed(exc, dest, what) from exc


def fsync_dir(path: str | os.PathLike) -> None:
    """Flush a directory entry so a rename inside it survives a power loss."""
    fd = os.open(os.fspath(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success fsync it and rename it over `dest`.

    Use it for writers that want a filename rather than a file object (h5py,
    `keras.Model.save`). The temporary file keeps `dest`'s suffix because some writers
    dispatch on it.

    Example:

        >>> with atomic_path(run_dir / "model.keras") as tmp:
        ...     model.save(tmp)
    """
    dest = Path(dest)
    with _reported(dest, "the file"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Keras dispatches on the whole ending (`x.weights.h5` vs `x.h5`), so keep it.
        suffix = ".weights.h5" if dest.name.endswith(".weights.h5") else dest.suffix
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.tmp-", suffix=suffix, dir=dest.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        try:
            yield tmp_path
            os.chmod(tmp_path, _FILE_MODE)
            with open(tmp_path, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(tmp_path, dest)
            fsync_dir(dest.parent)
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


def write_bytes(dest: str | os.PathLike, data: bytes) -> None:
    """Atomically replace `dest` with `data`."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: str | os.PathLike, text: str) -> None:
    """Atomically replace `dest` with `text` (UTF-8)."""
    write_bytes(dest, text.encode("utf-8"))


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside `dest`; on success fsync its files and rename it to `dest`.

    `dest` must not exist yet. A crash before the rename leaves only a hidden
    `.name.tmp-*` directory that readers ignore.
    """
    dest = Path(dest)
    with _reported(dest, "the directory"):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
        try:
            yield tmp
            for root, _dirs, files in os.walk(tmp):
                for name in files:
                    with open(os.path.join(root, name), "rb+") as f:
                        os.fsync(f.fileno())
                fsync_dir(root)
            os.rename(tmp, dest)
            fsync_dir(dest.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks so large weights files do not fill memory."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class BackgroundWrites:
    """Writes that run one after another on one background thread while the caller goes on.

    `submit` first raises the error of an earlier write that failed, `flush` waits for the
    last write and raises its error, `close` flushes and ends the thread. Checkpoints and
    the metric files are written this way, each write still atomic.

    Example:

        >>> writes = BackgroundWrites("metrics-files")
        >>> writes.submit(write_text, run_dir / "history.json", text)
        >>> writes.flush()
    """

    def __init__(self, name: str):
        self.name = name
        self.pending: concurrent.futures.Future | None = None  # the last write submitted, until flushed
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None

    def submit(self, write, *args) -> concurrent.futures.Future:
        """Run `write(*args)` after the writes submitted before it."""
        if self.pending is not None and self.pending.done():
            self.flush()
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self.pending = self._executor.submit(write, *args)
        return self.pending

    def flush(self) -> None:
        """Wait for the last write; a failed write raises here."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            pending.result()

    def close(self) -> None:
        self.flush()
        if self._executor is not None:
            self._executor.shutdown()
            self._executor = None
