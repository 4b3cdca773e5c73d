"""User code, reached only through the modules a recipe lists under `imports:`.

A recipe can name Python objects (`class: components.losses:CustomMSE`), but only from
modules it declared; nothing else in a recipe can reach arbitrary code.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from trainctl.errors import RecipeInvalid


def allowed(module: str, imports: list[str]) -> bool:
    """True when `module` is one of `imports` or a submodule of one."""
    return any(module == m or module.startswith(m + ".") for m in imports)


def import_recipe_modules(imports: list[str], base_dir: Path, doc) -> None:
    """Import every `imports:` module, with the recipe's directory importable.

    Import failures are the user's code failing: reported at the `imports:` entry with
    the exception, not as a traceback.
    """
    if str(base_dir) not in sys.path:
        sys.path.insert(0, str(base_dir))
    errors = []
    for i, name in enumerate(imports):
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - any failure of user code is reported
            errors.append(doc.error(("imports", i), f"cannot import {name!r}: {type(exc).__name__}: {exc}"))
    if errors:
        raise RecipeInvalid(errors)


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

