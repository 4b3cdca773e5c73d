"""The Keras names a recipe may use, per position, without importing Keras.

`keras_names.json` is generated from the installed Keras by asking Keras itself which
strings it accepts where (`keras.optimizers.get`, compile's loss and metric lookup,
`keras.activations.get`) and which classes each namespace exports. Validation reads
the JSON, so `trainctl validate` never pays for importing Keras or JAX.

Regenerate after a Keras upgrade (a test fails until you do):

    python -m trainctl.recipe.names --write

Example:

    >>> losses = keras_names()["losses"]
    >>> losses.strings["mse"]
    'mean_squared_error'
    >>> losses.class_for("SparseCategoricalCrossentropy")
    'SparseCategoricalCrossentropy'
    >>> keras_names()["layers"].classes["Dense"]
    ('units',)
    >>> "activation" in keras_names()["layers"].arguments["Dense"]
    True
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

CATEGORIES = ("layers", "losses", "metrics", "optimizers", "callbacks", "schedules", "activations")

# compile() picks binary, categorical or sparse categorical from the target and
# prediction shapes for these strings: the string names no single object.
AUTO = "auto"

_JSON = "keras_names.json"


@dataclasses.dataclass(frozen=True)
class Category:
    """The names Keras accepts in one position of a recipe.

    Attributes:
        name: the category, e.g. `"losses"`.
        classes: class name -> its required constructor arguments. These can be written
            `{ClassName: {arguments}}`.
        strings: every bare string accepted here -> the class or function it resolves to
            (`"mse" -> "mean_squared_error"`), or `"auto"` for compile's shape-dependent
            `"accuracy"`/`"acc"` and `"crossentropy"`/`"ce"`.
        arguments: class name -> every keyword argument its constructor accepts, for the
            classes whose arguments are known (see `_accepted_args`); a class missing here
            takes arguments that cannot be listed, and they are not checked.
    """

    name: str
    classes: Mapping[str, tuple[str, ...]]
    strings: Mapping[str, str]
    arguments: Mapping[str, frozenset[str]] = dataclasses.field(default_factory=dict)

    def class_for(self, name: str) -> str | None:
        """The class that `{name: {arguments}}` builds, or None when `name` names no class.

        Example:

            >>> keras_names()["optimizers"].class_for("adam")
            'Adam'
        """
        if name in self.classes:
            return name
        target = self.strings.get(name)
        return target if target in self.classes else None

    def known(self, name: str) -> bool:
        """Whether `name` is a class or an accepted string of this category."""
        return name in self.classes or name in self.strings

    def all_names(self) -> list[str]:
        """Every class and string, for "did you mean"."""
        return sorted(set(self.classes) | set(self.strings))


@functools.lru_cache(maxsize=None)
def keras_names() -> Mapping[str, Category]:
    """The shipped name list, by category (read once)."""
    data = _shipped()
    return MappingProxyType({name: _category(name, data["categories"][name]) for name in CATEGORIES})


def version_mismatch() -> str | None:
    """Why the shipped name list may not fit the installed Keras, or None when it was made from it.

    Reads the installed version from the package metadata: Keras is not imported.

    Example:

        >>> version_mismatch()  # keras_names.json was generated from this Keras
    """
    from importlib.metadata import PackageNotFoundError, version

    shipped = _shipped()["keras_version"]
    try:
        installed = version("keras")
    except PackageNotFoundError:
        return f"Keras is not installed; the Keras names were checked against Keras {shipped}"
    if installed == shipped:
        return None
    return (f"the Keras names and arguments were checked against Keras {shipped}, but Keras {installed} is "
            f"installed: a name or argument may be reported wrongly (regenerate the list with "
            f"`python -m trainctl.recipe.names --write`)")


@functools.lru_cache(maxsize=None)
def keras_dtypes() -> frozenset[str]:
    """The dtype names Keras accepts for `keras.Input(dtype=...)`.

    Example:

        >>> "bfloat16" in keras_dtypes(), "f4" in keras_dtypes()
        (True, False)
    """
    return frozenset(_shipped()["dtypes"])


@functools.lru_cache(maxsize=None)
def _shipped() -> dict[str, Any]:
    return json.loads(resources.files("trainctl.recipe").joinpath(_JSON).read_text(encoding="utf-8"))


def _category(name: str, raw: dict[str, Any]) -> Category:
    classes = {cls: tuple(required) for cls, required in raw["classes"].items()}
    arguments = {cls: frozenset(args) for cls, args in raw.get("arguments", {}).items()}
    return Category(name, MappingProxyType(classes), MappingProxyType(dict(raw["strings"])),
                    MappingProxyType(arguments))


# ------------------------------------------------------------------ generator
# Everything below runs only from `main()` (and the test that checks the JSON is current).

# Keras resolves these, but they are abstract bases or wrap a Python callable that a
# YAML recipe cannot provide; accepting them would only move the error to build time.
_EXCLUDED = {
    "layers": {"Layer"},
    "losses": {"Loss", "LossFunctionWrapper"},
    "metrics": {"Metric", "MeanMetricWrapper"},
    "optimizers": {"Optimizer"},
    "callbacks": {"Callback", "CallbackList"},
    "schedules": {"LearningRateSchedule"},
    "activations": set(),
}

# The strings compile() itself special-cases (keras/src/trainers/compile_utils.py,
# get_loss and get_metric); they are not in any Keras lookup table.
_COMPILE_SPECIAL = {"losses": ("crossentropy", "ce"), "metrics": ("accuracy", "acc")}


def _required_args(cls: type) -> list[str]:
    import inspect

    params = inspect.signature(cls.__init__).parameters.values()
    return list(
        p.name
        for p in list(params)[1:]
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    )


def _accepted_args(cls: type) -> list[str] | None:
    """Every keyword argument `cls(...)` accepts, or None when that cannot be known.

    A constructor with `**kwargs` passes them up to its base class (`super().__init__(**kwargs)`),
    so the names accepted are collected along the MRO until a constructor without `**kwargs`
    closes the list. Names a constructor takes out of `**kwargs` itself (`Layer`'s
    `kwargs.pop("input_shape")`) are read from its source. A chain that stays open to
    `object` (a constructor that hands `**kwargs` to something else) gives None.
    """
    import inspect
    import re

    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        params = list(inspect.signature(init).parameters.values())[1:]
        names.update(p.name for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))
        var_kw = next((p.name for p in params if p.kind is p.VAR_KEYWORD), None)
        if var_kw is None:
            return sorted(names)
        try:
            source = inspect.getsource(init)
        except (OSError, TypeError):
            return None
        names.update(re.findall(rf"\b{var_kw}\.(?:pop|get)\(\s*[\"'](\w+)[\"']", source))
        names.update(re.findall(rf"[\"'](\w+)[\"']\s+in\s+{var_kw}\b", source))
        if re.search(rf"\bif\s+{var_kw}\s*:\s*\n\s*raise\b", source):
            return sorted(names)  # the constructor refuses whatever is left (Layer, Optimizer)
    return None


def _public_classes(module: Any, base: type, excluded: set[str]) -> dict[str, list[str]]:
    import inspect

    out = {}
    for attr in dir(module):
        obj = getattr(module, attr)
        if attr.startswith("_") or attr in excluded or not inspect.isclass(obj) or not issubclass(obj, base):
            continue
        out[attr] = _required_args(obj)
    return out


def _arguments(classes: dict[str, list[str]], module: Any) -> dict[str, list[str]]:
    """`_accepted_args` of every class whose arguments can be known."""
    out = {}
    for name in classes:
        accepted = _accepted_args(getattr(module, name))
        if accepted is not None:
            out[name] = accepted
    return out


def _verified_strings(candidates, resolve, table, classes, excluded) -> dict[str, str]:
    """Keep the candidates Keras accepts, mapped to what they resolve to.

    `resolve(name)` asks Keras (returns the target name, or raises). A name Keras knows
    but cannot build without arguments (`"IoU"`) still counts: a recipe gives the
    arguments with `{IoU: {...}}`, and a bare string is reported as missing them.
    """
    import inspect

    out = {}
    for name in sorted(candidates):
        try:
            target = resolve(name)
        except Exception:  # noqa: BLE001 - any refusal by Keras means "not accepted as is"
            obj = table.get(name)
            if not (inspect.isclass(obj) and obj.__name__ in classes and classes[obj.__name__]):
                continue
            target = obj.__name__
        if target not in excluded:
            out[name] = target
    return out


def generate() -> dict[str, Any]:
    """Ask the installed Keras for every category's names; imports Keras (seconds)."""
    import numpy as np

    from trainctl.backend import keras
    from trainctl.keras_internals import activations_src, compile_utils, losses_src, metrics_src, optimizers_src

    # Two (y_true, y_pred) pairs on which compile's "auto" strings pick different objects.
    sparse = (np.zeros((2, 1), "float32"), np.zeros((2, 3), "float32"))
    dense = (np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32"))

    def target_of(obj: Any) -> str:
        # compile wraps a loss/metric *function* in a wrapper object; name the function.
        if type(obj) is losses_src.LossFunctionWrapper:
            return obj.fn.__name__
        if type(obj) is metrics_src.MeanMetricWrapper:
            return obj._fn.__name__
        return type(obj).__name__

    def compiled(getter):
        def resolve(name: str) -> str:
            a, b = target_of(getter(name, *sparse)), target_of(getter(name, *dense))
            return a if a == b else AUTO

        return resolve

    def public(module: Any) -> set[str]:
        return {a for a in dir(module) if not a.startswith("_") and a not in ("get", "serialize", "deserialize")}

    out: dict[str, Any] = {}
    layers = _public_classes(keras.layers, keras.layers.Layer, _EXCLUDED["layers"])
    out["layers"] = {"classes": layers, "strings": {}, "arguments": _arguments(layers, keras.layers)}

    for name, module, table, base, resolve in (
        ("losses", keras.losses, losses_src.ALL_OBJECTS_DICT, keras.losses.Loss, compiled(compile_utils.get_loss)),
        ("metrics", keras.metrics, metrics_src.ALL_OBJECTS_DICT, keras.metrics.Metric,
         compiled(compile_utils.get_metric)),
        ("optimizers", keras.optimizers, optimizers_src.ALL_OBJECTS_DICT, keras.optimizers.Optimizer,
         lambda n: type(keras.optimizers.get(n)).__name__),
    ):
        classes = _public_classes(module, base, _EXCLUDED[name])
        candidates = set(table) | public(module) | set(_COMPILE_SPECIAL.get(name, ()))
        table = {**{a: getattr(module, a) for a in public(module)}, **table}
        out[name] = {"classes": classes, "arguments": _arguments(classes, module),
                     "strings": _verified_strings(candidates, resolve, table, classes, _EXCLUDED[name])}

    # No Keras getter takes a string for these; trainctl builds `Name` as `Name()`.
    for name, module, base in (
        ("callbacks", keras.callbacks, keras.callbacks.Callback),
        ("schedules", keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule),
    ):
        classes = _public_classes(module, base, _EXCLUDED[name])
        out[name] = {"classes": classes, "strings": {c: c for c in classes}, "arguments": _arguments(classes, module)}

    candidates = set(activations_src.ALL_OBJECTS_DICT) | public(keras.activations)
    out["activations"] = {
        "classes": {},
        "arguments": {},
        "strings": _verified_strings(candidates, lambda n: keras.activations.get(n).__name__, {}, {}, set()),
    }
    from trainctl.keras_internals import dtypes_src

    # The dtype strings `keras.Input(dtype=...)` accepts (it refuses numpy spellings like "f4").
    dtypes = sorted(d for d in dtypes_src.ALLOWED_DTYPES if keras.backend.standardize_dtype(d) == d)
    return {"keras_version": keras.__version__, "categories": {c: out[c] for c in CATEGORIES}, "dtypes": dtypes}


def dumps(data: dict[str, Any]) -> str:
    """The JSON text as shipped (sorted, one name per line, so diffs are readable)."""
    return json.dumps(data, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m trainctl.recipe.names [--write]`: print or rewrite `keras_names.json`."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trainctl.recipe.names", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite trainctl/recipe/{_JSON}")
    args = parser.parse_args(argv)
    text = dumps(generate())
    if args.write:
        Path(__file__).with_name(_JSON).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
