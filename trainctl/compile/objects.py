"""Component references → Keras objects, by a table of Keras namespaces.

This is the only place that knows how a recipe's `Name`, `{Name: {args}}` or
`{class: "module:Name", args: {...}}` becomes a Keras object. A failure inside Keras
(an unknown keyword, a bad value) is reported at the recipe line that declared it.

Example:

    >>> builder = Builder(loaded)
    >>> builder.build({"RMSprop": {"learning_rate": 1e-3}}, "optimizer", ("compile", "optimizer"))
    <keras.src.optimizers.rmsprop.RMSprop object at ...>
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from trainctl.backend import keras
from trainctl.compile.imports import resolve
from trainctl.errors import RecipeInvalid
from trainctl.recipe.names import keras_names

# Where a Keras name of each kind lives. Strings that are not class names (`mse`,
# `accuracy`, `rmsprop`) pass through to Keras, which resolves its own aliases.
# The name-list category (trainctl/recipe/keras_names.json) of each kind.
CATEGORY = {"layer": "layers", "loss": "losses", "metric": "metrics", "optimizer": "optimizers",
            "callback": "callbacks", "schedule": "schedules"}

NAMESPACES = {
    "layer": keras.layers,
    "loss": keras.losses,
    "metric": keras.metrics,
    "optimizer": keras.optimizers,
    "callback": keras.callbacks,
    "schedule": keras.optimizers.schedules,
}


class Builder:
    """Builds the Keras objects a recipe names, reporting failures at recipe positions."""

    def __init__(self, loaded):
        self.loaded = loaded
        self.doc = loaded.document
        self.imports = list(loaded.spec.imports)

    def fail(self, path: tuple, message: str, hint: str | None = None) -> RecipeInvalid:
        return RecipeInvalid([self.doc.error(path, message, hint)])

    def keras_class(self, kind: str, name: str, path: tuple) -> Any:
        # `{adam: {...}}` builds Adam: the shipped name list maps aliases to classes.
        obj = getattr(NAMESPACES[kind], keras_names()[CATEGORY[kind]].class_for(name) or name, None)
        if not inspect.isclass(obj):
            raise self.fail(path, f"unknown {kind} {name!r}", "run `trainctl validate` for suggestions")
        return obj

    def user_object(self, target: str, path: tuple) -> Any:
        return resolve(target, self.imports, self.doc, path)

    def call(self, fn: Any, kwargs: dict, path: tuple, what: str, args: tuple = ()) -> Any:
        """`fn(*args, **kwargs)`, with Keras's complaint placed at the recipe."""
        try:
            return fn(*args, **kwargs)
        except RecipeInvalid:
            raise
        except RecursionError:  # Keras walks a layer chain recursively: thousands of layers exhaust the stack
            raise self.fail(path, f"{what}: the model is too deep for Keras to build (Python's recursion limit "
                                  f"stopped it)", "use fewer layers in one chain, or nest them in sub-models") from None
        except Exception as exc:  # noqa: BLE001 - any constructor failure is the recipe's
            raise self.fail(path, f"{what}: {type(exc).__name__}: {exc}") from None

    def args(self, kwargs: dict | None, path: tuple) -> dict:
        """Arguments with nested references built: schedules and `{class: ...}` objects."""
        out = {}
        for key, value in (kwargs or {}).items():
            out[key] = self.nested(value, path + (key,))
        return out

    def nested(self, value: Any, path: tuple) -> Any:
        if isinstance(value, dict) and "class" in value and set(value) <= {"class", "args"}:
            return self.build(value, None, path)
        if isinstance(value, dict) and len(value) == 1:
            (name, inner), = value.items()
            if isinstance(name, str) and inspect.isclass(getattr(keras.optimizers.schedules, name, None)):
                return self.build(value, "schedule", path)
        return value

    def build(self, ref: Any, kind: str | None, path: tuple) -> Any:
        """A Keras object (or a name Keras resolves itself) from a component reference."""
        if isinstance(ref, str):
            if kind == "optimizer":
                return self.call(keras.optimizers.get, {"identifier": ref}, path, f"optimizer {ref!r}")
            cls = getattr(NAMESPACES[kind], ref, None)
            if inspect.isclass(cls):
                return self.call(cls, {}, path, ref)
            return ref
        if isinstance(ref, dict) and "class" in ref:
            obj = self.user_object(ref["class"], path + ("class",))
            kwargs = self.args(ref.get("args"), path + ("args",))
            if inspect.isclass(obj):
                return self.call(obj, kwargs, path, ref["class"])
            return functools.partial(obj, **kwargs) if kwargs else obj
        if isinstance(ref, dict) and len(ref) == 1:
            (name, kwargs), = ref.items()
            cls = self.keras_class(kind, name, path + (name,))
            return self.call(cls, self.args(kwargs, path + (name,)), path + (name,), name)
        raise self.fail(path, f"expected a {kind} name, {{Name: {{arguments}}}} or {{class: 'module:Name'}}")

    def build_layer(self, spec, path: tuple, name: str | None = None) -> Any:
        """A layer from a `LayerSpec`: the one Keras-name key, or `class:` + `args`."""
        extra = dict(spec.model_extra or {})
        name = name or spec.name
        if spec.class_:
            kwargs = self.args(spec.args, path + ("args",))
            if name:
                kwargs.setdefault("name", name)
            cls = self.user_object(spec.class_, path + ("class",))
            return self.call(cls, kwargs, path, spec.class_)
        if len(extra) != 1:
            raise self.fail(path, "a layer needs exactly one Keras layer name, e.g. {Dense: {units: 64}}")
        (layer, kwargs), = extra.items()
        cls = self.keras_class("layer", layer, path + (layer,))
        kwargs = self.args(kwargs, path + (layer,))
        if name:
            kwargs.setdefault("name", name)
        return self.call(cls, kwargs, path + (layer,), layer)
