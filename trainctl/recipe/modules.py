"""Check `imports:` and `module:Name` paths without running any user code.

A recipe reaches Python only through modules it lists under `imports:`, looked up in the
recipe's directory first. The directory is never put on `sys.path` (a planted
`tensorboardX.py` beside a recipe must not run when a library imports that name): each
listed module is loaded from its file, and one whose top-level name is also an installed
package is refused unless `TRAINCTL_SHADOW` names it. Validation finds those modules on disk
(`importlib.machinery.PathFinder`, which reads directories and executes nothing, not
even a package's `__init__.py`) but never imports them: a typo is caught before a
training run, and `trainctl validate` stays free of side effects.
"""

from __future__ import annotations

import importlib.util
import os
import pkgutil
import re
import sys
from importlib.machinery import ModuleSpec, PathFinder
from pathlib import Path

from trainctl.recipe.context import CheckContext, describe
from trainctl.recipe.loader import PathT
from trainctl.recipe.structure import did_you_mean

_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_QUALNAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
SHADOW_ENV = "TRAINCTL_SHADOW"  # comma-separated top-level names a recipe's module may shadow


def local_spec(top: str, base_dir: Path) -> ModuleSpec | None:
    """The spec of the top-level module or package `top` in `base_dir` alone, or None."""
    return PathFinder.find_spec(top, [str(base_dir)])


def installed_spec(top: str, base_dir: Path) -> ModuleSpec | None:
    """The spec `import top` finds outside `base_dir` (site-packages, stdlib, builtins), or None.

    Example:

        >>> installed_spec("json", Path("recipes")).origin
        '.../lib/python3.12/json/__init__.py'
    """
    base = os.path.realpath(base_dir)
    elsewhere = [p for p in sys.path if os.path.realpath(p or ".") != base]
    spec = PathFinder.find_spec(top, elsewhere)
    if spec is None:
        try:  # builtins and packages installed behind a meta path finder (editable installs)
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            return None
        if spec is not None and spec.origin and os.path.realpath(spec.origin).startswith(base + os.sep):
            return None
    return spec


def shadowing(top: str, base_dir: Path) -> tuple[ModuleSpec, ModuleSpec] | None:
    """(the recipe's, the installed) specs when a module beside the recipe would shadow an installed one."""
    local = local_spec(top, base_dir)
    if local is None or top in os.environ.get(SHADOW_ENV, "").replace(" ", "").split(","):
        return None
    installed = installed_spec(top, base_dir)
    return (local, installed) if installed is not None else None


def shadow_message(top: str, found: tuple[ModuleSpec, ModuleSpec]) -> tuple[str, str]:
    """The error and hint for a recipe module named like an installed package."""
    local, installed = found
    where = local.origin or next(iter(local.submodule_search_locations or []), "?")
    return (f"module {top!r} beside the recipe ({where}) has the name of an installed module "
            f"({installed.origin or top}) and would replace it",
            f"rename it, or set {SHADOW_ENV}={top} to load the recipe's copy anyway")


def find_module(name: str, base_dir: Path) -> ModuleSpec | None:
    """Where `name` would be imported from with `base_dir` first on `sys.path`, or None.

    Example:

        >>> find_module("components.layers", Path("recipes")).origin
        '.../recipes/components/layers.py'
    """
    top, *rest = name.split(".")
    spec = PathFinder.find_spec(top, [str(base_dir), *sys.path])
    if spec is None:
        try:  # builtins and packages installed behind a meta path finder (editable installs)
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
    for depth in range(1, len(rest) + 1):
        if spec is None or not spec.submodule_search_locations:
            return None
        spec = PathFinder.find_spec(".".join([top, *rest[:depth]]), list(spec.submodule_search_locations))
    return spec


def check_imports(ctx: CheckContext) -> None:
    """Every `imports:` entry is a dotted module name that can be found."""
    seen: dict[str, int] = {}
    for i, name in enumerate(ctx.get(("imports",), []) or []):
        path = ("imports", i)
        if not isinstance(name, str) or not _MODULE.match(name):
            ctx.error(path, f"expected a dotted module name like 'components.layers', got {describe(name)}",
                      "list modules, not files: no '.py', '/' or ':'")
            continue
        if name in seen:
            ctx.error(path, f"module {name!r} is listed twice", f"first at line {seen[name]}")
            continue
        seen[name] = ctx.line_of(path)
        top = name.split(".")[0]
        if (found := shadowing(top, ctx.base_dir)) is not None:
            ctx.error(path, *shadow_message(top, found))
        elif find_module(name, ctx.base_dir) is None:
            ctx.error(path, f"module {name!r} not found in {ctx.base_dir} or on sys.path",
                      did_you_mean(name, _siblings(name, ctx.base_dir))
                      or f"expected a file {name.replace('.', '/')}.py or a package directory next to the recipe")


def check_import_path(ctx: CheckContext, path: PathT, value: object, what: str = "class") -> None:
    """`value` (at `path`) is `module:Name` with the module listed under `imports:` and present."""
    example = "components.layers:MyLayer" if what == "class" else "components.data:load"
    if not isinstance(value, str) or value.count(":") != 1:
        ctx.error(path, f"expected '{what}: module:Name', got {describe(value)}", f"e.g. {example!r}")
        return
    module, _, attr = value.partition(":")
    if not _MODULE.match(module) or not _QUALNAME.match(attr):
        ctx.error(path, f"{value!r} is not a valid 'module:Name' path", f"e.g. {example!r}")
        return
    imports = ctx.imports
    if not any(module == m or module.startswith(m + ".") for m in imports):
        listed = ", ".join(imports) if imports else "nothing"
        ctx.error(path, f"module {module!r} is not listed under `imports:` (which lists {listed})",
                  f"add it: imports: [{', '.join([*imports, module])}]")
        return
    spec = find_module(module, ctx.base_dir)
    if spec is None:
        hint = did_you_mean(module, [*imports, *_siblings(module, ctx.base_dir)])
        ctx.error(path, f"module {module!r} not found in {ctx.base_dir} or on sys.path", hint)
        return
    defined = defined_names(spec)
    top = attr.split(".")[0]
    if defined is not None and top not in defined:
        ctx.error(path, f"module {module!r} defines no {top!r}",
                  did_you_mean(top, defined) or f"it defines: {', '.join(sorted(defined)) or 'nothing'}")


def defined_names(spec: ModuleSpec) -> set[str] | None:
    """The names a module's source binds at top level, read with `ast` (nothing runs), or None
    when they cannot be known: no Python source, `from x import *`, or a module `__getattr__`.

    Example:

        >>> sorted(defined_names(find_module("components.losses", Path("recipes"))))
        ['CustomMSE', 'annotations', 'custom_mean_squared_error', 'keras', 'ops']
    """
    import ast

    origin = spec.origin
    if not origin or not origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    names: set[str] = set()
    # Compound statements (`if`, `try`, ...) bind what any of their branches binds.
    stack = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(alias.name == "*" for alias in node.names):
                return None
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.With)):
            targets = (node.targets if isinstance(node, ast.Assign) else
                       [i.optional_vars for i in node.items if i.optional_vars] if isinstance(node, ast.With) else
                       [node.target])
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        for field in ("body", "orelse", "finalbody", "handlers"):
            if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                stack += [n for n in getattr(node, field, []) if isinstance(n, ast.stmt)]
        stack += [n for h in getattr(node, "handlers", []) for n in h.body]
    if "__getattr__" in names:
        return None
    if spec.submodule_search_locations:  # a package: its submodules are attributes too
        names.update(info.name for info in pkgutil.iter_modules(list(spec.submodule_search_locations)))
    return names


def _siblings(module: str, base_dir: Path) -> list[str]:
    """The modules beside `module` in its package (listed from the directory, not imported)."""
    parent, _, _ = module.rpartition(".")
    spec = find_module(parent, base_dir) if parent else None
    if spec is None or not spec.submodule_search_locations:
        return []
    return [f"{parent}.{info.name}" for info in pkgutil.iter_modules(list(spec.submodule_search_locations))]
