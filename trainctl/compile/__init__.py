"""Spec → Keras objects: the model, `model.compile(...)`, callbacks.

The first place keras is imported; only commands that train or evaluate import it.

Example:

    >>> from trainctl.compile import build_compiled_model
    >>> model = build_compiled_model(load_recipe("recipes/mnist_mlp.yaml"))
"""

from __future__ import annotations

from trainctl.compile.compile import compile_model
from trainctl.compile.imports import import_recipe_modules
from trainctl.compile.model import build_model
from trainctl.compile.objects import Builder

__all__ = ["Builder", "build_compiled_model", "build_model", "compile_model", "import_recipe_modules"]


def build_compiled_model(loaded, steps_per_execution: int | None = None):
    """Import the recipe's modules, build its model and compile it; returns `(model, builder)`."""
    import_recipe_modules(loaded.spec.imports, loaded.base_dir, loaded.document)
    builder = Builder(loaded)
    model = build_model(loaded, builder)
    compile_model(model, loaded, builder, steps_per_execution)
    return model, builder
