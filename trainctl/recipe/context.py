"""What every semantic check needs: the document, where the recipe lives, and the error list."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from trainctl.errors import RecipeError
from trainctl.recipe.loader import Document, PathT


@dataclasses.dataclass
class CheckContext:
    """Shared state of one validation pass; checks append to `errors` and never raise.

    Example:

        >>> ctx = CheckContext(doc, base_dir=Path("recipes"))
        >>> ctx.error(("train", "epochs"), "too many epochs")
        >>> ctx.errors[0].line
        31
    """

    doc: Document
    base_dir: Path
    errors: list[RecipeError] = dataclasses.field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.doc.data

    @property
    def imports(self) -> list[str]:
        value = self.doc.data.get("imports")
        return [m for m in value if isinstance(m, str)] if isinstance(value, list) else []

    def get(self, path: PathT, default: Any = None) -> Any:
        """The raw value at `path`, or `default` where the path does not exist."""
        node: Any = self.doc.data
        for el in path:
            if isinstance(node, dict) and el in node:
                node = node[el]
            elif isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node):
                node = node[el]
            else:
                return default
        return node

    def error(self, path: PathT, message: str, hint: str | None = None, key: bool = False) -> None:
        """Record a problem at `path` (at its key with `key=True`)."""
        self.errors.append(self.doc.error(path, message, hint, key=key))

    def line_of(self, path: PathT) -> int:
        return self.doc.position(path).line


def describe(value: Any) -> str:
    """A value as an error message shows it: `'Desne'`, `64 (int)`, `a list`, `null`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return f"{value!r} ({type(value).__name__})"
