"""Checks beyond the schema's types: names, the layer graph, outputs, data files."""

from __future__ import annotations

from trainctl.errors import RecipeError
from trainctl.recipe.distribution_checks import distribution_errors


def semantic_errors(loaded) -> list[RecipeError]:
    """Every problem the schema cannot see, as positioned errors."""
    return [*distribution_errors(loaded)]
