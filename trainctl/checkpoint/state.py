"""Everything a run needs to go on exactly where it stopped, as one snapshot.

`capture` copies the model's weights and seed states, the optimizer's and metrics'
variables, the random generators (numpy, Python, Keras's global `SeedGenerator`)
and the data attributes of every callback into a `TrainingState`; `restore` puts
them back into a model built and compiled from the same recipe, so that continuing
gives bit-for-bit the same numbers as never having stopped (on CPU).

A `TrainingState` is written as three files, none of them pickled:

- `model.weights.h5`: the model's weights and the optimizer's variables, in Keras's
  own format, so `model.load_weights` reads a checkpoint as it is;
- `state.npz`: every other array (seed states, metrics, random generator states,
  arrays inside callback attributes or `position`), read with `allow_pickle=False`;
- `state.json`: everything else, pointing into `state.npz` (see `codec`).

Example:

    >>> model.jax_state_sync()  # inside a JAX fit loop, variables lag behind
    >>> state = capture(model, callbacks, position={"epoch": 3, "step_in_epoch": 17})
    >>> ...
    >>> restore(state, fresh_model, fresh_callbacks)  # after callbacks.on_train_begin()
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from trainctl.checkpoint import codec

# Keras is imported inside the functions that touch a model: listing and verifying
# checkpoints (the store, the CLI) must not pay seconds for it.

WEIGHTS_FILE = "model.weights.h5"
STATE_JSON = "state.json"
STATE_ARRAYS = "state.npz"
STATE_FILES = (WEIGHTS_FILE, STATE_ARRAYS, STATE_JSON)
FORMAT_VERSION = 1

# Variable groups, in restore order. Those in `_IN_WEIGHTS_FILE` are stored by
# `model.save_weights` (which saves the optimizer too); the others carry values.
GROUPS = ("weights", "optimizer", "seeds", "metrics")
_IN_WEIGHTS_FILE = ("weights", "optimizer")

# Callback attributes that the training loop sets, not the callback's progress.
_NOT_CALLBACK_STATE = frozenset({"model", "_model", "params"})


# Variables that Keras creates lazily, so a fresh model may lack them.
_BUILD_HINTS = {
    "optimizer": " Build the optimizer (model.optimizer.build(model.trainable_variables)) before restoring.",
    "metrics": " Build the compiled metrics (an evaluate, or fit's _symbolic_build) before restoring.",
}


class BadContent(ValueError):
    """A checkpoint file that does not hold what a training state needs (its sums may well match).

    Example:

        >>> str(BadContent("state.json", "JSON", "JSONDecodeError: Expecting value"))
        'state.json: expected JSON, found JSONDecodeError: Expecting value'
    """

    def __init__(self, file: str, expected: Any, found: Any):
        super().__init__(f"{file}: expected {expected}, found {found}")
        self.file, self.expected, self.found = file, expected, found


def _weights_file_shapes(data: bytes) -> list[tuple]:
    """The shape of every array in a Keras `.weights.h5` file, read with h5py (no Keras)."""
    import io

    import h5py

    shapes: list[tuple] = []
    try:
        with h5py.File(io.BytesIO(data), "r") as f:
            f.visititems(lambda name, obj: shapes.append(tuple(obj.shape)) if isinstance(obj, h5py.Dataset) else None)
    except (OSError, ValueError) as e:
        raise BadContent(WEIGHTS_FILE, "a Keras .weights.h5 file", f"{type(e).__name__}: {e}") from None
    return shapes


def _multiset_missing(wanted: list[tuple], have: list[tuple]) -> list[tuple]:
    """Items of `wanted` that `have` lacks, counting repeats."""
    import collections

    return list((collections.Counter(wanted) - collections.Counter(have)).elements())


class CheckpointMismatch(ValueError):
    """The checkpoint was written for a model, optimizer or callbacks of another shape."""


@dataclasses.dataclass
class TrainingState:
    """A snapshot of a training run; see the module docstring.

    Attributes:
        weights_h5: bytes of a Keras `.weights.h5` file (model weights and optimizer), or
            a `WeightsSnapshot` that makes them when the state is written.
        variables: group name (`GROUPS`) -> one record per variable, in the model's
            order: `{"path", "shape", "dtype"}`, plus `"value"` (a numpy array) for
            the groups not in the weights file.
        rng: `{"numpy": np.random.get_state(), "python": random.getstate(),
            "keras": state array of Keras's global SeedGenerator or None}`.
        callbacks: one `{"class", "attrs", "unsaved"}` record per callback.
        position: the training loop's own data, stored verbatim.
        extra: anything else the caller wants back, stored verbatim.
    """

    weights_h5: "bytes | WeightsSnapshot"
    variables: dict[str, list[dict]]
    rng: dict
    callbacks: list[dict]
    position: dict
    extra: dict

    def write(self, directory: str | Path) -> None:
        """Write `STATE_FILES` into `directory`.

        The writes are plain: `directory` must be a fresh directory that the caller
        renames into place once complete (`CheckpointStore.save` does).
        """
        directory = Path(directory)
        (directory / WEIGHTS_FILE).write_bytes(bytes(self.weights_h5))
        doc, arrays = codec.encode(
            {
                "format_version": FORMAT_VERSION,
                "variables": self.variables,
                "rng": self.rng,
                "callbacks": self.callbacks,
                "position": self.position,
                "extra": self.extra,
            }
        )
        with open(directory / STATE_ARRAYS, "wb") as f:
            np.savez(f, **arrays)
        (directory / STATE_JSON).write_text(json.dumps(doc), encoding="utf-8")

    @classmethod
    def read(cls, directory: str | Path) -> TrainingState:
        """Read a state written by `write`, without unpickling anything.

        Raises:
            BadContent: naming the file that does not hold what a state needs (not JSON,
                a missing key, an array whose shape is not the one recorded for it...).
        """
        directory = Path(directory)
        try:
            with np.load(directory / STATE_ARRAYS, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise BadContent(STATE_ARRAYS, "a numpy .npz archive", f"{type(e).__name__}: {e}") from None
        try:
            doc = json.loads((directory / STATE_JSON).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BadContent(STATE_JSON, "JSON", f"{type(e).__name__}: {e}") from None
        try:
            data = codec.decode(doc, arrays)
            if not isinstance(data, dict):
                raise TypeError(f"a {type(data).__name__}, not an object")
            if data.get("format_version") != FORMAT_VERSION:
                raise BadContent(STATE_JSON, f"format_version {FORMAT_VERSION} (resume it with the trainctl that "
                                 "wrote it)", data.get("format_version"))
            state = cls(
                weights_h5=(directory / WEIGHTS_FILE).read_bytes(),
                variables=data["variables"],
                rng=data["rng"],
                callbacks=data["callbacks"],
                position=data["position"],
                extra=data["extra"],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise BadContent(STATE_JSON, "a trainctl training state", f"{type(e).__name__}: {e}") from None
        state._check_content()
        return state

    def _check_content(self) -> None:
        """Every stored array has the shape recorded for it, and the weights file holds the recorded shapes."""
        try:
            for group, records in self.variables.items():
                for record in records:
                    if "value" in record and list(np.shape(record["value"])) != list(record["shape"]):
                        raise BadContent(STATE_ARRAYS, f"{group} variable {record['path']!r} of shape "
                                         f"{tuple(record['shape'])}", f"shape {np.shape(record['value'])}")
            numpy_rng = self.rng["numpy"]
            if np.shape(numpy_rng[1]) != np.shape(np.random.get_state()[1]):
                raise BadContent(STATE_ARRAYS, f"a numpy random state of shape {np.shape(np.random.get_state()[1])}",
                                 f"shape {np.shape(numpy_rng[1])}")
            recorded = sorted(tuple(r["shape"]) for g in _IN_WEIGHTS_FILE for r in self.variables.get(g, []))
        except (KeyError, TypeError, IndexError) as e:
            raise BadContent(STATE_JSON, "a trainctl training state", f"{type(e).__name__}: {e}") from None
        if not recorded:
            return  # nothing recorded to hold the weights file to
        stored = _weights_file_shapes(bytes(self.weights_h5))
        missing = _multiset_missing(recorded, stored)
        if missing:
            raise BadContent(WEIGHTS_FILE, f"arrays of the recorded shapes {missing[:3]}",
                             f"shapes {sorted(set(stored))[:6]}")


def capture(model, callbacks: Iterable = (), *, position: dict, extra: dict | None = None) -> TrainingState:
    """Copy the whole training state of `model` and `callbacks` into a `TrainingState`.

    In a JAX fit loop, call `model.jax_state_sync()` first: between syncs the
    variables hold stale values.

    Args:
        model: a built Keras model (compiled, for the optimizer and metrics).
        callbacks: the callbacks of the run, in the order `restore` will get them;
            leave out display-only ones whose presence may change on resume
            (ProgbarLogger comes and goes with `verbose`). Their data attributes (numbers, strings inside containers, numpy
            arrays, lists/tuples/dicts of these) are kept; functions, objects and
            top-level strings (configuration: monitor names, file paths) are not.
        position: the loop's position (epoch, step, data order...), stored verbatim;
            plain data only (see `codec`).
        extra: more plain data to store verbatim.

    Example:

        >>> state = capture(model, [early_stopping], position={"epoch": 2, "global_step": 64})
    """
    try:
        position, extra = codec.copy_plain(position), codec.copy_plain(extra or {})
    except codec.Unsupported as e:
        raise codec.Unsupported(f"capture(position=..., extra=...) takes plain data only: {e}") from None
    variables = {}
    for group, group_vars in _variables_of(model).items():
        records = [_spec(v) for v in group_vars]
        if group not in _IN_WEIGHTS_FILE:
            for record, v in zip(records, group_vars):
                record["value"] = np.array(v.numpy())
        variables[group] = records
    return TrainingState(
        weights_h5=WeightsSnapshot.of(model),
        variables=variables,
        rng=_capture_rng(),
        callbacks=[_capture_callback(cb) for cb in callbacks],
        position=position,
        extra=extra,
    )


def restore(state: TrainingState, model, callbacks: Iterable | None = None) -> None:
    """Put `state` back into `model`, the random generators and `callbacks`.

    `model` must be built and compiled from the same recipe, with its optimizer
    and metrics built (a JAX fit loop has done so after `_symbolic_build`). Keras
    callbacks reset their progress in `on_train_begin`, so pass `callbacks` only
    after it; with `callbacks=None` they are left alone, for a later
    `restore_callbacks`.

    Raises:
        CheckpointMismatch: naming the first variable or callback that differs.

    Example:

        >>> restore(CheckpointStore(run_dir / "ckpt").load(path), model, callbacks)
    """
    current = _variables_of(model)
    for group in GROUPS:
        _check_group(group, state.variables.get(group, []), current[group])
    if callbacks is not None:
        callbacks = list(callbacks)
        _check_callbacks(state.callbacks, callbacks)

    with tempfile.TemporaryDirectory(prefix="trainctl-restore-") as tmp:
        path = Path(tmp) / WEIGHTS_FILE
        path.write_bytes(bytes(state.weights_h5))
        model.load_weights(path)
    for group in GROUPS:
        if group not in _IN_WEIGHTS_FILE:
            for v, record in zip(current[group], state.variables[group]):
                v.assign(record["value"])
    _restore_rng(state.rng)
    if callbacks is not None:
        restore_callbacks(state, callbacks)


def restore_callbacks(state: TrainingState, callbacks: Iterable) -> None:
    """Put the callbacks' attributes from `state` back (part of `restore`).

    For a loop that restores the model before `callbacks.on_train_begin()`, which
    would wipe the callbacks' progress: call this after it.

    Example:

        >>> callbacks.on_train_begin()
        >>> restore_callbacks(state, callbacks.callbacks)
    """
    callbacks = list(callbacks)
    _check_callbacks(state.callbacks, callbacks)
    for record, cb in zip(state.callbacks, callbacks):
        lazy_op_was_set = "monitor_op" in record["unsaved"] and getattr(cb, "monitor_op", None) is None
        if lazy_op_was_set and hasattr(cb, "_set_monitor_op"):
            # Keras's MonitorCallback picks its comparison lazily and flips the
            # sign of `min_delta` when it does; the saved `min_delta` is already
            # flipped, so pick now, before it is assigned, or it flips twice.
            cb._set_monitor_op()
        for name, value in record["attrs"].items():
            setattr(cb, name, codec.copy_plain(value))


def _variables_of(model) -> dict[str, list]:
    weights = list(model.weights)
    weight_ids = {id(v) for v in weights}
    optimizer = getattr(model, "optimizer", None)
    return {
        "weights": weights,
        "optimizer": list(optimizer.variables) if optimizer is not None else [],
        # `model.variables` adds SeedGenerator states (Dropout...) to the weights.
        "seeds": [v for v in model.variables if id(v) not in weight_ids],
        "metrics": list(model.metrics_variables),
    }


def _spec(v) -> dict:
    return {"path": v.path, "shape": [int(d) for d in v.shape], "dtype": str(v.dtype)}


class WeightsSnapshot:
    """The values of `model.save_weights(...)` now, made into the file's bytes later (`bytes(snapshot)`).

    `save_weights` walks the whole model in Python (tens of milliseconds for a small
    one) before writing a few arrays; a checkpoint captured every epoch would stop
    training that long. The walk is recorded once per model (which store entries get
    which variables) and each snapshot copies only the values, so the file can be
    written on the checkpoint thread while training goes on. The file is Keras's own
    `H5IOStore` fed the entries in the walk's order; a model whose layers store anything
    other than their variables gets its file made at once, as `save_weights` makes it.

    Example:

        >>> snapshot = WeightsSnapshot.of(model)  # on the training thread
        >>> data = bytes(snapshot)  # anywhere, any time after
    """

    def __init__(self, entries: list | None = None, data: bytes | None = None):
        self.entries = entries  # [(path, metadata, [(key, numpy value)])]
        self.data = data

    @classmethod
    def of(cls, model) -> "WeightsSnapshot":
        """A snapshot of `model`'s weights file (synced: in a JAX fit loop, after `jax_state_sync()`)."""
        walk = cls._walk(model)
        if walk is None:
            return cls(data=_weights_file_bytes(model))
        return cls(entries=[(path, metadata, [(key, np.array(v.numpy())) for key, v in items])
                            for path, metadata, items in walk])

    @classmethod
    def _walk(cls, model) -> list | None:
        from trainctl.keras_internals import H5IOStore, keras, save_state

        optimizer = getattr(model, "optimizer", None)
        ids = tuple(id(v) for v in [*model.variables, *(optimizer.variables if optimizer is not None else [])])
        cached = getattr(model, "_trainctl_weights_walk", None)  # (variable ids, entries), kept on the model
        if cached is not None and cached[0] == ids:
            return cached[1]

        class Recorder(H5IOStore):
            def __init__(self):  # no file: only what would go into one
                self.entries = []

            def __bool__(self):
                return True

            def make(self, path, metadata=None):
                self.entries.append((path, metadata, []))
                return self

            def __setitem__(self, key, value):
                self.entries[-1][2].append((key, value))

        recorder = Recorder()
        save_state(model, weights_store=recorder, assets_store=None, inner_path="", visited_saveables=set())
        optimizer_variables = list(optimizer.variables) if optimizer is not None else []

        def variables(items):
            if all(isinstance(v, keras.Variable) for _, v in items):
                return items
            # Keras's optimizers store `variable.numpy()` of each of their variables, in order.
            if len(items) == len(optimizer_variables) and all(
                    isinstance(v, np.ndarray) and v.dtype == o.numpy().dtype
                    and np.array_equal(v, o.numpy(), equal_nan=True)
                    for (_, v), o in zip(items, optimizer_variables)):
                return [(key, o) for (key, _), o in zip(items, optimizer_variables)]
            return None

        entries = [(path, metadata, variables(items)) for path, metadata, items in recorder.entries
                   if items or metadata]
        plain = all(items is not None for _, _, items in entries)
        walk = entries if plain else None
        object.__setattr__(model, "_trainctl_weights_walk", (ids, walk))  # not a tracked attribute
        return walk

    def __bytes__(self) -> bytes:
        if self.data is None:
            from trainctl.keras_internals import H5IOStore

            with tempfile.TemporaryDirectory(prefix="trainctl-capture-") as tmp:
                path = Path(tmp) / WEIGHTS_FILE
                store = H5IOStore(path, mode="w")
                for entry_path, metadata, items in self.entries:
                    store.make(entry_path, metadata=metadata)
                    for key, value in items:
                        store[key] = value
                store.close()
                self.data, self.entries = path.read_bytes(), None
        return self.data


def _weights_file_bytes(model) -> bytes:
    # The state must be a snapshot: the model trains on after `capture`, so its
    # weights file is made now, not when the state is written.
    with tempfile.TemporaryDirectory(prefix="trainctl-capture-") as tmp:
        path = Path(tmp) / WEIGHTS_FILE
        model.save_weights(path)
        return path.read_bytes()


def _auto_name_free(path: str) -> str:
    # Keras numbers auto-named objects per process (dense, dense_1, adam_2...), so
    # the same recipe gives other paths in a process that built a model before.
    return re.sub(r"_\d+(?=[/_]|$)", "", path)


def _describe(record: dict) -> str:
    return f"{record['path']!r} {tuple(record['shape'])} {record['dtype']}"


def _check_group(group: str, saved: list[dict], variables: list) -> None:
    current = [_spec(v) for v in variables]
    for i in range(max(len(saved), len(current))):
        have = saved[i] if i < len(saved) else None
        want = current[i] if i < len(current) else None
        if (
            have is not None
            and want is not None
            and _auto_name_free(have["path"]) == _auto_name_free(want["path"])
            and tuple(have["shape"]) == tuple(want["shape"])
            and have["dtype"] == want["dtype"]
        ):
            continue
        raise CheckpointMismatch(
            f"the checkpoint does not fit this model: {group} variable #{i} is "
            f"{_describe(have) if have else 'absent'} in the checkpoint but "
            f"{_describe(want) if want else 'absent'} in the model (checkpoint: {len(saved)} "
            f"{group} variables, model: {len(current)}). Restore into a model built and "
            f"compiled from the recipe that wrote the checkpoint.{_BUILD_HINTS.get(group, '')}"
        )


def _capture_rng() -> dict:
    from trainctl.keras_internals import GLOBAL_SEED_GENERATOR, global_state

    # Keras keeps the generator behind `keras.random.*(seed=None)` and default
    # initializers in private global state; there is no public accessor.
    generator = global_state.get_global_attribute(GLOBAL_SEED_GENERATOR)
    return {
        "numpy": np.random.get_state(),
        "python": random.getstate(),
        "keras": None if generator is None else np.array(generator.state.numpy()),
    }


def _restore_rng(rng: dict) -> None:
    from trainctl.keras_internals import GLOBAL_SEED_GENERATOR, global_seed_generator, global_state

    if rng["keras"] is None:
        # It did not exist yet; drop ours so it is created at the same point again.
        global_state.set_global_attribute(GLOBAL_SEED_GENERATOR, None)
    else:
        # Creating it draws from Python's `random`, which is restored after.
        global_seed_generator().state.assign(rng["keras"])
    random.setstate(rng["python"])
    np.random.set_state(rng["numpy"])


def _class_name(obj: Any) -> str:
    # Without the module: a user class may be imported as `__main__` in one
    # process and by its module name in another, and Keras moves its internals.
    return type(obj).__qualname__


def _capture_callback(cb) -> dict:
    attrs, unsaved = {}, []
    for name, value in vars(cb).items():
        # Top-level strings are configuration (monitor, mode, file paths): restoring
        # them would send a moved run directory's output back to the old place.
        if name in _NOT_CALLBACK_STATE or type(value) is str:
            continue
        value = codec.copy_plain(value, strict=False)
        if value is codec.SKIP:
            unsaved.append(name)
        else:
            attrs[name] = value
    return {"class": _class_name(cb), "attrs": attrs, "unsaved": unsaved}


def _check_callbacks(saved: list[dict], callbacks: list) -> None:
    names = [_class_name(cb) for cb in callbacks]
    saved_names = [record["class"] for record in saved]
    if names != saved_names:
        raise CheckpointMismatch(
            f"the checkpoint holds the state of callbacks {saved_names} but restore got {names}. "
            f"Pass the run's callbacks in the same order as when the checkpoint was captured."
        )
