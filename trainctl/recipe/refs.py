"""Check component references: the Keras objects a recipe names.

A reference has one of three shapes (the same everywhere: optimizer, losses, metrics,
callbacks, layers, learning rate schedules):

    rmsprop                                            # a string Keras accepts here
    {RMSprop: {learning_rate: 1.0e-3}}                 # a Keras class and its arguments (or null)
    {class: "components.losses:CustomMSE", args: {}}   # code from a module under `imports:`

Names are looked up in `keras_names.json` (see `trainctl.recipe.names`), so this runs
without Keras.
"""

from __future__ import annotations

from typing import Any

from trainctl.recipe.context import CheckContext, describe
from trainctl.recipe.loader import PathT
from trainctl.recipe.modules import check_import_path
from trainctl.recipe.names import AUTO, Category, keras_names
from trainctl.recipe.structure import closest, did_you_mean

WHAT = {
    "layers": "layer",
    "losses": "loss",
    "metrics": "metric",
    "optimizers": "optimizer",
    "callbacks": "callback",
    "schedules": "learning rate schedule",
    "activations": "activation",
}
KERAS_MODULE = {
    "layers": "keras.layers",
    "losses": "keras.losses",
    "metrics": "keras.metrics",
    "optimizers": "keras.optimizers",
    "callbacks": "keras.callbacks",
    "schedules": "keras.optimizers.schedules",
    "activations": "keras.activations",
}
CUSTOM_KEYS = ("class", "args")
_AUTO_EXAMPLE = {"losses": "{SparseCategoricalCrossentropy: {from_logits: true}}",
                 "metrics": "{SparseCategoricalAccuracy: {name: acc}}"}

# Arguments of Keras classes that are themselves references: {category: {argument: category}}.
NESTED = {
    "optimizers": {"learning_rate": "schedules"},
    "layers": {"activation": "activations", "recurrent_activation": "activations"},
}


def is_custom(value: Any) -> bool:
    """Whether `value` is the `{class: "module:Name", args: {...}}` form."""
    return isinstance(value, dict) and "class" in value


def check_ref(ctx: CheckContext, path: PathT, value: Any, category: str) -> None:
    """Check the reference at `path` as one of `category` ("layers", "losses", ... see `WHAT`).

    Example:

        >>> check_ref(ctx, ("compile", "optimizer"), {"Adam": {"learning_rate": 0.1}}, "optimizers")
        >>> ctx.errors
        []
    """
    what = WHAT[category]
    if isinstance(value, str):
        _check_string(ctx, path, value, category)
    elif is_custom(value):
        check_custom(ctx, path, value)
    elif isinstance(value, dict) and len(value) == 1:
        (name, args), = value.items()
        check_keyed(ctx, path, name, args, category)
    else:
        _wrong_shape(ctx, path, value, what)


def _wrong_shape(ctx: CheckContext, path: PathT, value: Any, what: str) -> None:
    example = "{Name: {argument: value}}"
    if isinstance(value, dict) and value:
        keys = ", ".join(repr(k) for k in value)
        ctx.error(path, f"{_a(what)} reference has one key, the Keras name; got {keys}",
                  f"put the arguments inside it: {example}")
    else:
        ctx.error(path, f"expected {_a(what)}: a Keras name, {example} or {{class: 'module:Name'}}; "
                        f"got {describe(value)}")


def check_custom(ctx: CheckContext, path: PathT, value: dict) -> None:
    """`{class: "module:Name", args: {...}}`: only those keys, a valid import path, mapping args."""
    for key in value:
        if key not in CUSTOM_KEYS:
            ctx.error(path + (key,), f"unknown key {key!r} in a custom class reference",
                      did_you_mean(str(key), CUSTOM_KEYS) or "expected 'class' and optionally 'args'", key=True)
    check_import_path(ctx, path + ("class",), value["class"])
    args = value.get("args")
    if args is not None and not isinstance(args, dict):
        ctx.error(path + ("args",), f"`args` must be a mapping of keyword arguments, got {describe(args)}")


def check_keyed(ctx: CheckContext, path: PathT, name: Any, args: Any, category: str) -> None:
    """`{name: args}` where `name` is a Keras class (or a string alias that takes no arguments)."""
    cat = keras_names()[category]
    what = WHAT[category]
    key_path = path + (name,)
    if not isinstance(name, str):
        ctx.error(key_path, f"expected {_a(what)} name as the key, got {describe(name)}", key=True)
        return
    cls = cat.class_for(name)
    if cls is None:
        if name not in cat.strings:
            _unknown(ctx, key_path, name, category, key=True)
            return
        if args not in (None, {}) and cat.strings[name] == AUTO:
            ctx.error(key_path, f"{what} {name!r} is picked by compile from the output shapes and takes no "
                                "arguments", f"name the class to pass arguments, e.g. {_AUTO_EXAMPLE[category]}",
                      key=True)
        elif args not in (None, {}):
            ctx.error(key_path, f"{what} {name!r} is a function and takes no arguments",
                      _class_hint(name, cat) or f"write it as a string: {name}", key=True)
        return
    if args is not None and not isinstance(args, dict):
        ctx.error(key_path, f"the arguments of {name!r} must be a mapping (or null), got {describe(args)}",
                  f"e.g. {{{name}: {{{_first_arg(cat, cls)}: ...}}}}")
        return
    args = args or {}
    for arg in args:
        if not isinstance(arg, str):
            ctx.error(key_path + (arg,), f"argument names must be strings, got {describe(arg)}", key=True)
    accepted = cat.arguments.get(cls)
    misspelt = set()
    for arg in args if accepted is not None else ():
        if isinstance(arg, str) and arg not in accepted:
            hint = did_you_mean(arg, accepted)
            misspelt.add(hint and closest(arg, accepted))
            ctx.error(key_path + (arg,), f"{what} {name!r} takes no argument {arg!r}",
                      hint or f"it takes: {', '.join(sorted(accepted))}", key=True)
    # A required argument that is only misspelt is reported once, at the misspelling.
    missing = [a for a in cat.classes[cls] if a not in args and a not in misspelt]
    if missing:
        ctx.error(key_path, *_needs(what, name, missing, "e.g."), key=True)
    for arg, nested in NESTED.get(category, {}).items():
        if isinstance(args.get(arg), (str, dict)):
            check_ref(ctx, key_path + (arg,), args[arg], nested)


def _check_string(ctx: CheckContext, path: PathT, value: str, category: str) -> None:
    cat = keras_names()[category]
    what = WHAT[category]
    if ":" in value:
        ctx.error(path, f"a custom {what} is written as a mapping, not a string",
                  f"write {{class: {value!r}}}")
        return
    if value in cat.strings:
        target = cat.strings[value]
        required = cat.classes.get(target, ())
        if required:
            ctx.error(path, *_needs(what, value, required, "write"))
        return
    if value in cat.classes:
        ctx.error(path, f"Keras does not accept {value!r} as a string here", f"write {{{value}: {{}}}}")
        return
    _unknown(ctx, path, value, category)


def _unknown(ctx: CheckContext, path: PathT, name: str, category: str, key: bool = False) -> None:
    names = keras_names()
    elsewhere = [c for c in names if c != category and names[c].known(name)]
    hint = (f"{name!r} is a Keras {WHAT[elsewhere[0]]}, not {_a(WHAT[category])}" if elsewhere else
            did_you_mean(name, names[category].all_names()) or f"expected a name from {KERAS_MODULE[category]}")
    ctx.error(path, f"unknown {WHAT[category]} {name!r}", hint, key=key)


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _needs(what: str, name: str, missing, lead: str) -> tuple[str, str]:
    """Message and hint for required constructor arguments that are missing."""
    listed = ", ".join(repr(a) for a in missing)
    example = ", ".join(f"{a}: ..." for a in missing)
    return (f"{what} {name!r} needs the argument{'s' if len(missing) > 1 else ''} {listed}",
            f"{lead} {{{name}: {{{example}}}}}")


def _class_hint(name: str, cat: Category) -> str | None:
    """For a function alias given arguments, the class that takes them: mse -> MeanSquaredError."""
    squash = cat.strings[name].replace("_", "").lower()
    for cls in cat.classes:
        if cls.lower() == squash:
            return f"use the class to pass arguments: {{{cls}: {{...}}}}"
    return None


def _first_arg(cat: Category, cls: str) -> str:
    required = cat.classes[cls]
    return required[0] if required else "argument"
