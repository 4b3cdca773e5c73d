"""Checks beyond the schema's types: names, the layer graph, outputs, data files.

The schema (`schema.py`) has already accepted the recipe's shape; these checks look at
what the values mean and report every problem at once, each at its `file:line:col`.
None of them imports Keras, JAX or user code.
"""

from __future__ import annotations

from trainctl.errors import RecipeError
from trainctl.recipe.callback_checks import check_callbacks
from trainctl.recipe.compiling import check_compile
from trainctl.recipe.context import CheckContext
from trainctl.recipe.datacheck import check_data
from trainctl.recipe.distribution_checks import distribution_errors
from trainctl.recipe.graph import ModelInfo, check_model
from trainctl.recipe.modules import check_imports
from trainctl.recipe.refs import check_ref


def semantic_errors(loaded) -> list[RecipeError]:
    """Every problem the schema cannot see, as positioned errors (empty when the recipe is good).

    Example:

        >>> semantic_errors(load_recipe("recipes/mnist_mlp.yaml"))
        []
    """
    ctx = CheckContext(loaded.document, loaded.base_dir)
    check_imports(ctx)
    model = check_model(ctx)
    check_compile(ctx, model)
    check_data(ctx, model, needs_targets=ctx.get(("compile", "loss")) is not None)
    _check_train(ctx, model)
    for i, callback in enumerate(ctx.get(("callbacks",)) or []):
        check_ref(ctx, ("callbacks", i), callback, "callbacks")
    check_callbacks(ctx)
    return list(dict.fromkeys([*ctx.errors, *distribution_errors(loaded)]))


def _check_train(ctx: CheckContext, model: ModelInfo) -> None:
    """`fit()` arguments that Keras would refuse only once training starts."""
    train = ctx.get(("train",)) or {}
    split = train.get("validation_split")
    if isinstance(split, (int, float)) and split > 0 and ctx.get(("data", "validation")) is not None:
        ctx.error(("train", "validation_split"), "validation_split and data.validation both define validation data",
                  "keep one: data.validation, or train.validation_split")
    if train.get("class_weight") and model.n_outputs and model.n_outputs > 1:
        ctx.error(("train", "class_weight"),
                  f"class_weight works only for single-output models; this one has {model.n_outputs} outputs "
                  "(Keras refuses it)", "weight samples with data.sample_weight instead", key=True)
