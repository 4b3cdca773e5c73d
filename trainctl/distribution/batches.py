"""Batches under a distribution: sizes every replica can share, and each process's rows.

`train.batch_size` is the global batch: one step consumes that many samples in total,
split evenly over the mesh's batch axis, whatever the number of devices and processes.
Keras's JAX trainer assembles each global batch from the processes' parts
(`jax.make_array_from_process_local_data`), so in a multi-process run every process
draws the same global batch (same seed, same shuffle) and feeds only the rows its own
devices hold. The global batch, and so the step, is that of a single-device run.

Example:

    >>> check_batches(loaded, splits)                  # before training starts
    >>> it = process_local_batches(JAXEpochIterator(...))
"""

from __future__ import annotations

import math

from trainctl.backend import keras
from trainctl.distribution.processes import process_count
from trainctl.distribution.strategy import batch_shards
from trainctl.errors import RecipeInvalid


def check_batches(loaded, splits) -> None:
    """Refuse batches that do not split evenly over the replicas, naming the numbers to change."""
    distribution = keras.distribution.distribution()
    if distribution is None:
        return
    shards, spec, doc = batch_shards(distribution), loaded.spec.train, loaded.document
    train_n, val_n = splits.train.num_samples, None
    if splits.validation is not None:
        val_n = splits.validation.num_samples
    elif spec.validation_split and train_n is not None:
        kept = int(math.floor(train_n * (1.0 - spec.validation_split)))  # as Keras splits
        train_n, val_n = kept, train_n - kept
    batch = spec.batch_size or 32
    errors = []
    for what, n, size, where in (("training", train_n, batch, ("data", "train")),
                                 ("validation", val_n, spec.validation_batch_size or batch, ("data", "validation"))):
        if n is None:
            continue
        sizes = {min(size, n)} | ({n % size} if n % size else set())
        uneven = sorted(s for s in sizes if s % shards)
        if not uneven:
            continue
        if size % shards:
            errors.append(doc.error(("train", "batch_size" if what == "training" else "validation_batch_size"),
                                    f"{what} batches of {size} do not split evenly over the {shards} replicas of "
                                    f"the distribution", f"use a multiple of {shards}"))
        else:
            errors.append(doc.error(where, f"the {n} {what} samples end in a last batch of {n % size}, which "
                                           f"does not split evenly over the {shards} replicas",
                                    f"use a number of samples whose remainder by {size} is a multiple of "
                                    f"{shards}, e.g. slice the data to {n - n % size} samples"))
    if errors:
        raise RecipeInvalid(errors)


def process_local_batches(iterator):
    """Make a Keras epoch iterator yield only this process's rows of each global batch.

    Does nothing in a single-process run or without a distribution. Returns `iterator`.
    """
    distribution = keras.distribution.distribution()
    if distribution is not None and process_count() > 1:
        rows = _ProcessRows(iterator.data_adapter, distribution)
        dataset = getattr(iterator.data_adapter, "py_dataset", None)
        if hasattr(dataset, "local_rows"):  # a StreamedDataset: it reads (decodes) only this process's rows
            dataset.local_rows = lambda n: rows._local_rows((n,))
        else:
            iterator.data_adapter = rows
    return iterator


class _ProcessRows:
    """A data adapter whose batches are this process's rows of the wrapped adapter's batches."""

    def __init__(self, adapter, distribution):
        self._adapter = adapter
        self._distribution = distribution
        self._rows: dict[tuple, slice] = {}

    def __getattr__(self, name):
        return getattr(self._adapter, name)

    def get_jax_iterator(self):
        for batch in self._adapter.get_jax_iterator():
            first = next(x for x in keras.tree.flatten(batch) if x is not None)
            rows = self._local_rows(tuple(first.shape))
            yield keras.tree.map_structure(lambda x: x if x is None else x[rows], batch)

    def _local_rows(self, shape: tuple) -> slice:
        key = (shape[0], len(shape))
        if key not in self._rows:
            sharding = self._distribution.get_data_layout(shape).backend_layout
            spans = {(index[0].start or 0, shape[0] if index[0].stop is None else index[0].stop)
                     for index in sharding.addressable_devices_indices_map(shape).values()}
            start, stop = min(s for s, _ in spans), max(e for _, e in spans)
            if sum(e - s for s, e in spans) != stop - start:
                raise RuntimeError(f"this process's devices hold rows {sorted(spans)} of a batch of {shape[0]}, "
                                   "not one contiguous block; order the mesh devices by process")
            self._rows[key] = slice(start, stop)
        return self._rows[key]
