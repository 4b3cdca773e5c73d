"""The shipped recipes: where they are and what each one is for (no Keras import).

Example:

    >>> [r.name for r in shipped_recipes()][:2]
    ['mnist_mlp', 'multi_io']
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml


@dataclasses.dataclass(frozen=True)
class RecipeInfo:
    name: str
    path: Path
    description: str


def recipes_dir() -> Path:
    """`recipes/` of this checkout (beside the package), else of the current directory."""
    beside = Path(__file__).resolve().parents[2] / "recipes"
    return beside if beside.is_dir() else Path("recipes")


def shipped_recipes(directory: Path | None = None) -> list[RecipeInfo]:
    """Every `*.yaml` recipe in `directory` (default `recipes_dir()`), with its `description`."""
    out = []
    for path in sorted((directory or recipes_dir()).glob("*.yaml")):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError):
            data = {}
        if isinstance(data, dict):
            out.append(RecipeInfo(str(data.get("name") or path.stem), path, str(data.get("description") or "")))
    return out
