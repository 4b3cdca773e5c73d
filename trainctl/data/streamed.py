"""Data read from disk batch by batch: a `keras.utils.PyDataset` whose order is a function of (seed, epoch).

A `ChunkReader` (image files, Parquet row groups) says how many rows each chunk holds and
reads any rows of one chunk. `StreamedDataset` turns it into batches:

- **Order.** Shuffled, an epoch visits the chunks in a permutation drawn from
  `(seed, epoch)` and the rows of each chunk in a permutation drawn from
  `(seed, epoch, chunk)`; unshuffled, in file order. Batch `i` of an epoch is computed from
  those alone, so a resume rebuilds any batch without replaying the ones before it, and the
  only state is the epoch (`get_state()`/`set_state()`, saved in every checkpoint). Rows of
  one chunk stay together, so a batch touches one or two chunks: reading stays sequential
  enough for Parquet, and one chunk of images is the whole set (a global shuffle).
- **Memory.** A few decoded chunks are cached (one per worker, plus one), never the table.
- **Parallelism.** `workers` threads (Pillow and pyarrow decode without the GIL) prepare
  the next `PREFETCH_BATCHES` batches (at least one per thread, plus one), by (epoch,
  index), while the device trains: a deeper queue than the threads rides out the steps
  during which XLA leaves them no core.
- **Processes.** With several processes each reads only its rows of every global batch
  (`local_rows`), the same rows `trainctl.distribution` would otherwise cut out of it.

Example:

    >>> ds = StreamedDataset(reader, batch_size=64, shuffle=True, seed=1, to_batch=lambda a: (a["x"], a["y"]))
    >>> x, y = ds[0]
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import threading
import time
import weakref
from typing import Callable

import numpy as np

from trainctl.backend import keras
from trainctl.errors import DataError


PREFETCH_BATCHES = 8  # batches prepared ahead of the one trained on (memory: that many decoded batches)


class BadFile(DataError):
    """A data file that cannot be read as the recipe says (exit 2, naming the file)."""


class ChunkReader:
    """Rows on disk, in chunks read whole or in part. Subclasses fill `chunk_rows` and `read`."""

    chunk_rows: list[int]  # rows of each chunk, in file order
    skipped: dict[str, str]  # bad files left out (`on_bad_file: skip`): file -> why
    cache_chunks: bool = True  # keep whole decoded chunks (Parquet row groups), or read rows one by one (images)

    def read(self, chunk: int, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The arrays of `rows` (indices inside `chunk`), in that order; rows that are bad files may be left out."""
        raise NotImplementedError

    def describe(self) -> dict:
        """Facts worth recording in the run (class names, files, rows)."""
        return {}


class StreamedDataset(keras.utils.PyDataset):
    """Batches of a `ChunkReader`, in an order that depends only on (seed, epoch). See the module docstring.

    `rows` limits the rows to `[start, stop)` of the whole (a recipe's `slice`/`limit`);
    `to_batch` turns a dict of arrays into what `fit` takes (transforms, x/y selection).
    It shuffles itself (`shuffles_itself`): `fit` must not also shuffle its batch order.
    """

    shuffles_itself = True

    def __init__(self, reader: ChunkReader, batch_size: int, shuffle: bool, seed: int,
                 to_batch: Callable[[dict], tuple], rows: tuple[int, int] | None = None, workers: int = 1,
                 epoch: int = 0):
        # One worker as far as Keras knows: its enqueuer keeps batches prefetched before a
        # stop and serves them in the next epoch, which breaks an order defined by index.
        # The threads here prefetch by (epoch, index) instead, so a stale batch is never used.
        super().__init__(workers=1, use_multiprocessing=False)
        self.reader = reader
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.to_batch = to_batch
        # Keras's symbolic build opens and closes one epoch (`on_epoch_end`) before training:
        # start one below, so the first trained epoch is `epoch`.
        self.epoch = epoch - 1
        self.threads = workers
        self.local_rows: Callable[[int], slice] | None = None  # set for multi-process runs
        start, stop = rows if rows is not None else (0, sum(reader.chunk_rows))
        # (chunk, first row, end row) of each chunk's part inside [start, stop)
        self.spans, offset = [], 0
        for chunk, n in enumerate(reader.chunk_rows):
            lo, hi = max(start - offset, 0), min(stop - offset, n)
            if lo < hi:
                self.spans.append((chunk, lo, hi))
            offset += n
        self.num_samples = sum(hi - lo for _, lo, hi in self.spans)
        self._waits: dict[int, list[float]] = {}  # epoch -> [seconds waited for batches, first request, last]
        self._order_cache: tuple | None = None
        self._chunks: collections.OrderedDict = collections.OrderedDict()
        self._perms: collections.OrderedDict = collections.OrderedDict()
        self._loading: dict[int, threading.Lock] = {}
        self._lock = threading.Lock()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._skipping = False
        self._stand_in = None
        self._ahead: dict[tuple[int, int], concurrent.futures.Future] = {}

    # -------------------------------------------------------------- PyDataset

    @property
    def num_batches(self) -> int:
        return -(-self.num_samples // self.batch_size)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, index: int):
        if self._skipping:
            if self._stand_in is None:
                self._stand_in = self.batch(self.epoch, 0)
            return self._stand_in
        began = time.perf_counter()
        key = (self.epoch, index)
        future = self._ahead.pop(key, None)
        self._prefetch(index + 1)
        batch = self.batch(*key) if future is None else future.result()
        ended = time.perf_counter()
        wait = self._waits.setdefault(self.epoch, [0.0, began, ended])
        wait[0] += ended - began
        wait[2] = ended
        return batch

    @contextlib.contextmanager
    def skipping(self):
        """Batches drawn inside are not read (one stand-in batch instead): a resume passing the ones trained on.

        Batch `i` does not depend on the batches before it, so they need not be decoded again.
        """
        self._skipping = True
        try:
            yield
        finally:
            self._skipping = False

    def input_wait(self) -> dict[int, float]:
        """Per epoch, the fraction of the time from its first batch to its last that `fit` waited for batches."""
        return {epoch: wait / (last - first) for epoch, (wait, first, last) in sorted(self._waits.items())
                if epoch >= 0 and last > first}

    def batch(self, epoch: int, index: int):
        """Batch `index` of `epoch`, as `fit` takes it (this process's rows of it)."""
        epoch = max(epoch, 0)  # -1: the symbolic build's batch, before the first epoch
        begin = index * self.batch_size
        end = min(begin + self.batch_size, self.num_samples)
        if self.local_rows is not None:
            part = self.local_rows(end - begin)
            begin, end = begin + part.start, begin + part.stop
        return self.to_batch(self.rows(begin, end, epoch))

    def _prefetch(self, first: int) -> None:
        """Have the threads prepare `PREFETCH_BATCHES` batches from `first` on (one per thread, plus one, at least)."""
        if self.threads < 2:
            return
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self.threads, thread_name_prefix="trainctl-data")
            weakref.finalize(self, self._pool.shutdown, wait=False, cancel_futures=True)
        ahead = max(self.threads + 1, PREFETCH_BATCHES)
        wanted = {(self.epoch, i) for i in range(first, min(first + ahead, self.num_batches))}
        for key in list(self._ahead):
            if key not in wanted:  # another epoch, or skipped: not needed any more
                self._ahead.pop(key).cancel()
        for key in sorted(wanted - set(self._ahead)):
            self._ahead[key] = self._pool.submit(self.batch, *key)

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self._prefetch(0)

    def get_state(self) -> dict:
        return {"epoch": self.epoch, "skipped": dict(self.reader.skipped)}

    def set_state(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self._prefetch(0)
        self.reader.skipped.update(state.get("skipped", {}))

    # ------------------------------------------------------------------ order

    def _order(self, epoch: int) -> tuple[list[tuple[int, int, int]], np.ndarray]:
        """The spans of `epoch` in visiting order, and where each begins in the epoch."""
        with self._lock:
            if self._order_cache is None or self._order_cache[0] != epoch:
                spans = self.spans
                if self.shuffle:
                    rng = np.random.default_rng([self.seed, epoch])
                    spans = [spans[i] for i in rng.permutation(len(spans))]
                starts = np.cumsum([0] + [hi - lo for _, lo, hi in spans])
                self._order_cache = (epoch, spans, starts)
            return self._order_cache[1], self._order_cache[2]

    def row_ids(self, begin: int, end: int, epoch: int | None = None) -> list[tuple[int, np.ndarray]]:
        """`(chunk, rows inside it)` of positions `[begin, end)` of an epoch's order (default: the current one)."""
        epoch = self.epoch if epoch is None else epoch
        spans, starts = self._order(epoch)
        out = []
        k = int(np.searchsorted(starts, begin, side="right")) - 1
        while begin < end:
            chunk, lo, hi = spans[k]
            rows = self._rows_of(epoch, chunk, lo, hi)
            take = rows[begin - starts[k]: min(end, starts[k + 1]) - starts[k]]
            out.append((chunk, take))
            begin += len(take)
            k += 1
        return out

    def _rows_of(self, epoch: int, chunk: int, lo: int, hi: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(lo, hi)
        key = (epoch, chunk)
        with self._lock:
            rows = self._perms.get(key)
        if rows is None:  # drawn once per chunk and epoch: with one chunk of images it is the whole set
            rows = np.random.default_rng([self.seed, epoch, chunk]).permutation(np.arange(lo, hi))
            with self._lock:
                self._perms[key] = rows
                while len(self._perms) > 4:
                    self._perms.popitem(last=False)
        return rows

    def rows(self, begin: int, end: int, epoch: int | None = None) -> dict[str, np.ndarray]:
        """The arrays at positions `[begin, end)` of an epoch's order (default: the current one)."""
        parts = [self._read(chunk, rows) for chunk, rows in self.row_ids(begin, end, epoch)]
        parts = [p for p in parts if p]
        if not parts:
            raise DataError(f"every file of batch rows {begin}..{end} was skipped as bad; nothing left to train on")
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def _read(self, chunk: int, rows: np.ndarray) -> dict[str, np.ndarray]:
        if not self.reader.cache_chunks:
            return self.reader.read(chunk, rows)
        with self._lock:
            loading = self._loading.setdefault(chunk, threading.Lock())
        with loading:  # one thread reads a chunk; the others wanting it wait for the cached copy
            with self._lock:
                arrays = self._chunks.get(chunk)
                if arrays is not None:
                    self._chunks.move_to_end(chunk)
            if arrays is None:
                arrays = self.reader.read(chunk, np.arange(self.reader.chunk_rows[chunk]))
                with self._lock:
                    self._chunks[chunk] = arrays
                    while len(self._chunks) > self.threads + 1:
                        self._chunks.popitem(last=False)
        return {k: v[rows] for k, v in arrays.items()}
