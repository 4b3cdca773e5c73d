"""`trainctl summary`: the recipe's model as Keras describes it, without training."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from trainctl.errors import TrainctlError

PLOT_EXTRA = "pip install 'trainctl[plot]'"


def describe_model(loaded, plot_to: Path | None = None) -> str:
    """`model.summary()` text of the recipe's model; with `plot_to`, also `keras.utils.plot_model`.

    Example:

        >>> print(describe_model(load_recipe("recipes/mnist_mlp.yaml")))
        Model: "functional"
        ...
    """
    if plot_to is not None:
        missing = plot_requirements_missing()
        if missing:
            raise TrainctlError(f"--plot needs {' and '.join(missing)}; or leave out --plot")
    from trainctl.backend import keras
    from trainctl.compile import build_compiled_model

    keras.utils.set_random_seed(loaded.spec.seed)
    model, _ = build_compiled_model(loaded)
    if not model.built:
        raise TrainctlError("the model is not built before its first call (a subclassed model): "
                            "add `model.input_shape` to the recipe to summarize it")
    lines: list[str] = []
    model.summary(print_fn=lambda text, **_: lines.append(text))
    if plot_to is not None:
        try:
            keras.utils.plot_model(model, to_file=str(plot_to), show_shapes=True, show_layer_names=True)
        except (ImportError, OSError) as exc:
            raise TrainctlError(f"cannot draw the model: {exc} Drawing needs pydot ({PLOT_EXTRA}) and "
                                "Graphviz (e.g. `apt-get install graphviz`); or leave out --plot") from None
    return "\n".join(lines)


def plot_requirements_missing() -> list[str]:
    """What `summary --plot` lacks, checked before Keras is imported: pydot, and Graphviz's `dot` program.

    Example:

        >>> plot_requirements_missing()  # without pydot and Graphviz
        ["pydot (pip install 'trainctl[plot]')", "Graphviz's `dot` program (e.g. apt-get install graphviz)"]
    """
    missing = []
    if importlib.util.find_spec("pydot") is None:
        missing.append(f"pydot ({PLOT_EXTRA})")
    if shutil.which("dot") is None:
        missing.append("Graphviz's `dot` program (e.g. apt-get install graphviz)")
    return missing
