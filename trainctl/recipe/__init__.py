"""Recipes: load YAML with positions, apply overrides, validate into a `Recipe` spec.

Nothing in this package imports keras or jax, so `trainctl validate` stays fast.

Example:

    >>> from trainctl.recipe import load_recipe
    >>> loaded = load_recipe("recipes/mnist_mlp.yaml", ["train.epochs=1"])
    >>> loaded.spec.train.epochs
    1
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import yaml

from trainctl.errors import RecipeInvalid
from trainctl.recipe.catalog import locate
from trainctl.recipe.loader import Document, apply_overrides, load_document, parse_document
from trainctl.recipe.schema import Recipe
from trainctl.recipe.structure import validate_document

__all__ = ["LoadedRecipe", "Recipe", "load_recipe", "load_recipe_text", "dump_recipe"]


@dataclasses.dataclass(frozen=True)
class LoadedRecipe:
    """A validated recipe with what is needed to report on it and to resolve its relative paths."""

    spec: Recipe
    document: Document
    base_dir: Path  # relative data paths and `imports:` resolve against it

    @property
    def sha256(self) -> str:
        """Hash of the resolved recipe, as written to the run directory."""
        return hashlib.sha256(dump_recipe(self.document.data).encode()).hexdigest()


def dump_recipe(data: dict) -> str:
    """The resolved recipe as YAML, in the key order the user wrote."""
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None, width=100)


def _validate(doc: Document, base_dir: Path) -> LoadedRecipe:
    from trainctl.recipe.validate import semantic_errors

    spec = validate_document(doc, Recipe, "a recipe must be a mapping of sections (name, data, model, ...)")
    loaded = LoadedRecipe(spec=spec, document=doc, base_dir=base_dir)
    errors = semantic_errors(loaded)
    if errors:
        raise RecipeInvalid(errors)
    return loaded


def load_recipe(path: str | Path, overrides: list[str] | None = None, imports: list[str] | None = None) -> LoadedRecipe:
    """Load, override and validate a recipe file; raises `RecipeInvalid` with every problem found.

    A `path` that does not exist may name a shipped recipe (`mnist_mlp`, see `trainctl recipes`).

    `imports` (the CLI's `--import`) adds modules to the recipe's `imports:` list.
    """
    path = locate(path)
    doc = load_document(path)
    if overrides:
        apply_overrides(doc, overrides)
    if imports and isinstance(doc.data, dict):
        listed = doc.data.get("imports")
        doc.data["imports"] = (listed if isinstance(listed, list) else []) + [m for m in imports
                                                                             if m not in (listed or [])]
    return _validate(doc, Path(path).resolve().parent)


def load_recipe_text(text: str, file: str, base_dir: str | Path, overrides: list[str] | None = None) -> LoadedRecipe:
    """Like `load_recipe`, for recipe text kept elsewhere (a run directory's resolved recipe)."""
    doc = parse_document(text, file)
    if overrides:
        apply_overrides(doc, overrides)
    return _validate(doc, Path(base_dir))
