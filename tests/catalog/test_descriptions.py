"""Every shipped recipe says in one line what it trains (`trainctl recipes` shows it)."""

from __future__ import annotations

from tests.conftest import RECIPES, run_cli


def test_every_shipped_recipe_has_a_one_line_description():
    from trainctl.recipe.catalog import shipped_recipes

    found = shipped_recipes(RECIPES)
    assert len(found) == len(list(RECIPES.glob("*.yaml")))
    missing = [r.name for r in found if not r.description or "\n" in r.description or len(r.description) > 110]
    assert not missing, f"recipes without a one-line description: {missing}"
    listed = run_cli("recipes", RECIPES, check=True)
    assert "Guide 003: ReduceLROnPlateau" in listed.stdout + listed.stderr
