"""The recipe's `distribution:` section as Keras's global distribution.

`setup` must run before the model is built: Keras gives each variable its layout
when the variable is created. With `model_parallel`, the layout map is Keras's own
`LayoutMap` semantics (a regex fully matching the variable path), but every problem
a layout would cause (a dimension it cannot split, a path two regexes claim, a regex
that claims nothing) is collected and reported against the recipe by `check_model`,
instead of failing deep inside JAX.

Example:

    >>> topology = setup(loaded)       # before build_compiled_model(loaded)
    >>> model, builder = build_compiled_model(loaded)
    >>> check_model(loaded, model)
"""

from __future__ import annotations

import contextlib
import math
import re

import jax
import numpy as np

from trainctl.backend import keras
from trainctl.distribution.processes import process_count
from trainctl.distribution.topology import Topology
from trainctl.errors import RecipeInvalid, TrainctlError

_MP = ("distribution", "model_parallel")
_CPU_HINT = " (on CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N simulates N devices)"


def setup(loaded) -> Topology:
    """Set (or clear) Keras's global distribution for `loaded`; returns the topology it trains on."""
    spec = loaded.spec.distribution
    platform = jax.default_backend()
    if spec is None:
        if process_count() > 1:
            raise TrainctlError(
                f"this run has {process_count()} processes but the recipe has no `distribution:` section, so "
                "each process would train a model of its own. Add `distribution: {data_parallel: {}}` to the "
                "recipe, or pass the override distribution.data_parallel.devices=auto.")
        keras.distribution.set_distribution(None)
        return Topology(processes=1, devices=1, platform=platform)
    devices = keras.distribution.list_devices()
    if spec.data_parallel is not None:
        distribution = _data_parallel(loaded, spec.data_parallel.devices, devices)
    else:
        distribution = _model_parallel(loaded, spec.model_parallel, devices)
    keras.distribution.set_distribution(distribution)
    mesh = distribution.device_mesh
    return Topology(processes=process_count(), devices=int(mesh.devices.size), mesh_shape=tuple(mesh.shape),
                    axis_names=tuple(mesh.axis_names), platform=platform)


@contextlib.contextmanager
def outside_distribution():
    """Run Keras code that only this process runs (process 0 saving) without the distribution.

    Keras creates throwaway variables while saving; under a multi-process distribution,
    creating a variable is a collective step that would wait for the other processes
    forever. The model's own variables are whole in every process, so they read as is.

    Example:

        >>> with outside_distribution():
        ...     model.save(path)
    """
    current = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(current)


def _data_parallel(loaded, wanted, devices: list[str]):
    if wanted != "auto":
        if wanted > len(devices) or (process_count() > 1 and wanted != len(devices)):
            need = "all of them (devices: auto)" if process_count() > 1 else f"at most {len(devices)}"
            raise RecipeInvalid([loaded.document.error(
                ("distribution", "data_parallel", "devices"),
                f"data_parallel.devices is {wanted} but the run has {_visible(devices)}",
                f"use {need}{_CPU_HINT}")])
        devices = devices[:wanted]
    # Not auto-sharded: Keras shards only tf.data datasets; `process_local_batches` shards arrays.
    return keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)


def _model_parallel(loaded, spec, devices: list[str]):
    size = math.prod(spec.mesh.shape)
    if size > len(devices) or (process_count() > 1 and size != len(devices)):
        raise RecipeInvalid([loaded.document.error(
            _MP + ("mesh", "shape"),
            f"the mesh {spec.mesh.shape} needs {size} devices but the run has {_visible(devices)}",
            f"make the product of the mesh shape {'equal' if process_count() > 1 else 'at most'} "
            f"{len(devices)}{_CPU_HINT}")])
    mesh = keras.distribution.DeviceMesh(tuple(spec.mesh.shape), list(spec.mesh.axis_names), devices[:size])
    layout_map = keras.distribution.LayoutMap(mesh)
    for pattern, axes in spec.layout.items():
        layout_map[pattern] = tuple(axes)
    return RecipeModelParallel(layout_map=layout_map, batch_dim_name=spec.batch_dim)


def _visible(devices: list[str]) -> str:
    names = ", ".join(devices) if len(devices) <= 4 else f"{devices[0]} ... {devices[-1]}"
    n, p = len(devices), process_count()
    return f"{n} device{'s' if n != 1 else ''} ({names}) in {p} process{'es' if p != 1 else ''}"


class RecipeModelParallel(keras.distribution.ModelParallel):
    """`ModelParallel` that records, instead of raising, what is wrong with a layout.

    A variable whose layout cannot apply is replicated and its problem kept in
    `problems`; `matched` maps each pattern to the variable paths it laid out.
    """

    def __init__(self, *, layout_map, batch_dim_name=None):
        super().__init__(layout_map=layout_map, batch_dim_name=batch_dim_name, auto_shard_dataset=False)
        self.matched: dict[str, list[str]] = {pattern: [] for pattern in layout_map}
        self.problems: list[tuple[str, str]] = []  # (pattern, message)

    def get_variable_layout(self, variable):
        if getattr(variable, "_layout", None) is not None:  # set explicitly, or an optimizer slot's
            return variable._layout
        path, shape = variable.path, tuple(variable.shape)
        hits = [p for p in self._layout_map if p == path or re.fullmatch(p, path)]
        replicated = keras.distribution.TensorLayout([None] * len(shape), self.device_mesh)
        if not hits:
            return replicated
        for pattern in hits:
            self.matched[pattern].append(path)
        if len(hits) > 1:
            self.problems.append((hits[0], f"variable {path!r} is matched by several layout keys {hits}; "
                                           "make the regexes exclusive"))
            return replicated
        layout = self._layout_map[hits[0]]
        problem = _layout_problem(layout.axes, shape, self.device_mesh)
        if problem:
            axes = "[" + ", ".join("null" if a is None else a for a in layout.axes) + "]"
            self.problems.append((hits[0], f"layout {hits[0]!r} {axes} cannot apply to variable {path!r} of "
                                           f"shape {list(shape)}: {problem}"))
            return replicated
        return layout


def _layout_problem(axes, shape, mesh) -> str | None:
    if len(axes) != len(shape):
        return f"it names {len(axes)} dimensions, the variable has {len(shape)}"
    sizes = dict(zip(mesh.axis_names, mesh.shape))
    for dim, (axis, n) in enumerate(zip(axes, shape)):
        if axis is not None and n % sizes[axis]:
            return f"dimension {dim} ({n}) does not split evenly over mesh axis {axis!r} ({sizes[axis]} devices)"
    return None


def check_model(loaded, model) -> None:
    """Report layout problems and unused layout regexes of a built model, and layouts checkpoints cannot save."""
    distribution = keras.distribution.distribution()
    if isinstance(distribution, RecipeModelParallel):
        doc = loaded.document
        errors = []
        for pattern in dict.fromkeys(p for p, _ in distribution.problems):  # the first problem of each pattern
            messages = [m for p, m in distribution.problems if p == pattern]
            more = f" (and {len(messages) - 1} more variable(s) it matches)" if len(messages) > 1 else ""
            errors.append(doc.error(_MP + ("layout", pattern), messages[0] + more))
        paths = [v.path for v in model.variables]
        for pattern, hits in distribution.matched.items():
            if not hits:
                errors.append(doc.error(
                    _MP + ("layout", pattern), f"layout key {pattern!r} matches no variable of the model",
                    f"keys fully match variable paths such as {paths[:4]}", key=True))
        if errors:
            raise RecipeInvalid(errors)
    if process_count() > 1:
        for v in model.variables:
            if not _whole_in_this_process(v.value):
                raise TrainctlError(
                    f"variable {v.path!r} is split across processes by the layout ({v.value.sharding}); "
                    "trainctl's checkpoints need every variable whole within each process. Keep the sharded "
                    "mesh axes within one host (e.g. mesh shape [processes, devices_per_host]), or see "
                    "docs/distributed.md for what model parallelism across hosts would need.")


def _whole_in_this_process(array) -> bool:
    if array.is_fully_addressable or array.is_fully_replicated:
        return True
    blocks = {tuple((s.start, s.stop) for s in index)
              for index in array.sharding.addressable_devices_indices_map(array.shape).values()}
    covered = sum(math.prod(((stop if stop is not None else n) - (start or 0)) for (start, stop), n
                            in zip(block, array.shape)) for block in blocks)
    return covered == math.prod(array.shape)


def batch_shards(distribution) -> int:
    """Into how many parts each batch is split (the size of the mesh's batch axis)."""
    mesh = distribution.device_mesh
    return int(np.array(mesh.shape)[list(mesh.axis_names).index(distribution.batch_dim_name)])
