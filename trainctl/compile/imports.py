"""User code, reached only through the modules a recipe lists under `imports:`.

A recipe can name Python objects (`class: components.losses:CustomMSE`), but only from
modules it declared; nothing else in a recipe can reach arbitrary code.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

from trainctl.errors import RecipeInvalid
from trainctl.recipe.modules import local_spec, shadow_message, shadowing


def allowed(module: str, imports: list[str]) -> bool:
    """True when `module` is one of `imports` or a submodule of one."""
    return any(module == m or module.startswith(m + ".") for m in imports)


def import_recipe_modules(imports: list[str], base_dir: Path, doc) -> None:
    """Import every `imports:` module: from its file in the recipe's directory, else as installed.

    The directory is not put on `sys.path`, so nothing else beside the recipe can be
    imported by accident; a listed package's submodules load through its `__path__`.
    Import failures are the user's code failing: reported at the `imports:` entry with
    the exception, not as a traceback.
    """
    errors = []
    for i, name in enumerate(imports):
        top = name.split(".")[0]
        if (found := shadowing(top, base_dir)) is not None:
            errors.append(doc.error(("imports", i), *shadow_message(top, found)))
            continue
        try:
            if top not in sys.modules and (spec := local_spec(top, base_dir)) is not None:
                _load(top, spec)
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported
            errors.append(doc.error(("imports", i), f"cannot import {name!r}: {type(exc).__name__}: {exc}"))
    if errors:
        raise RecipeInvalid(errors)


def _load(name: str, spec: ModuleSpec) -> None:
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it, as `import` does, so it can import its own submodules
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise


def resolve(target: str, imports: list[str], doc, path: tuple) -> Any:
    """The object named by `module:Name` (or `module:Outer.Inner`), from a declared module."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise RecipeInvalid([doc.error(path, f"expected 'module:Name', got {target!r}")])
    if not allowed(module, imports):
        raise RecipeInvalid([doc.error(path, f"module {module!r} is not listed under `imports:`",
                                       f"add `imports: [{module}]` to the recipe")])
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise RecipeInvalid([doc.error(path, f"cannot find {target!r}: {exc}")]) from None
    return obj

