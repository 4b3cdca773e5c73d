"""Checks of the `distribution:` section that need no devices (and import no jax).

What depends on the machine (device counts, the mesh against them, layout regexes
against the model's variable paths) is checked when the run starts, by
`trainctl.distribution`.

Example:

    >>> distribution_errors(load_recipe("recipes/mnist_mlp_data_parallel.yaml"))
    []
"""

from __future__ import annotations

import re

from trainctl.errors import RecipeError
from trainctl.recipe.structure import did_you_mean


def distribution_errors(loaded) -> list[RecipeError]:
    """Every static problem of the recipe's `distribution:` section, as positioned errors."""
    spec = loaded.spec.distribution
    if spec is None:
        return []
    doc = loaded.document
    chosen = [name for name in ("data_parallel", "model_parallel") if getattr(spec, name) is not None]
    if len(chosen) != 1:
        received = " and ".join(chosen) if chosen else "neither"
        return [doc.error(("distribution",), f"distribution: needs exactly one strategy, got {received}",
                          "write `data_parallel: {}` or `model_parallel: {mesh: ..., layout: ...}`")]
    if spec.model_parallel is None:
        return []
    return _model_parallel_errors(spec.model_parallel, doc, ("distribution", "model_parallel"))


def _model_parallel_errors(spec, doc, path: tuple) -> list[RecipeError]:
    errors = []
    shape, names = spec.mesh.shape, spec.mesh.axis_names
    if len(shape) != len(names):
        errors.append(doc.error(path + ("mesh", "axis_names"),
                                f"the mesh has {len(shape)} axes (shape {shape}) but {len(names)} axis names {names}",
                                "give one name per axis, e.g. shape: [2, 2] with axis_names: [batch, model]"))
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        errors.append(doc.error(path + ("mesh", "axis_names"), f"mesh axis names repeat: {repeated}",
                                "each axis needs its own name"))
    if spec.batch_dim is not None and spec.batch_dim not in names:
        errors.append(doc.error(path + ("batch_dim",), f"batch_dim {spec.batch_dim!r} is not a mesh axis {names}",
                                did_you_mean(spec.batch_dim, names) or f"use one of {names}"))
    for pattern, axes in spec.layout.items():
        where = path + ("layout", pattern)
        try:
            re.compile(pattern)
        except re.error as exc:
            errors.append(doc.error(where, f"layout key {pattern!r} is not a regular expression: {exc}",
                                    "keys are Python regexes that fully match variable paths, e.g. '.*dense.*kernel'",
                                    key=True))
        for i, axis in enumerate(axes):
            if axis is not None and axis not in names:
                errors.append(doc.error(where + (i,), f"layout {pattern!r} names axis {axis!r}, which is not a "
                                                      f"mesh axis {names}",
                                        did_you_mean(axis, names) or "use a mesh axis name, or null to not shard"))
        used = [a for a in axes if a is not None]
        if len(used) != len(set(used)):
            errors.append(doc.error(where, f"layout {pattern!r} shards two dimensions over the same axis: {axes}",
                                    "a mesh axis can split only one dimension of a variable"))
    return errors
