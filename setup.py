"""Build hook: the wheel ships the repository's `recipes/` folder as `trainctl/recipes`.

`recipes/` stays at the repository root, the one copy to edit; a build copies it (recipes
and their `components` package) into the package, where `trainctl recipes`, `init` and
`run NAME` find it (trainctl/recipe/catalog.py). An editable install copies nothing: the
catalog reads `recipes/` beside the package. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RECIPES = Path(__file__).resolve().parent / "recipes"


class BuildPyWithRecipes(build_py):
    def run(self):
        super().run()
        if not self.editable_mode:
            dest = Path(self.build_lib) / "trainctl" / "recipes"
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(RECIPES, dest, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))


setup(cmdclass={"build_py": BuildPyWithRecipes})
