"""Hand-written Keras 3 (JAX) versions of every example of the five guides.

Each `build_<example>(seed=0, *, workdir=".", samples=None)` returns a `Reference`: the
guide's model, compiled, and the arguments of its `fit()` (and `evaluate()`/`predict()`
when the guide calls them). `REFERENCES` (in `registry`) maps each recipe name of
docs/catalogue.md to its builder.

Example:

    >>> from tests.reference.registry import REFERENCES
    >>> ref = REFERENCES["mnist_mlp"](seed=1, samples=512)
    >>> history = ref.run()
"""

import sys
from pathlib import Path

# The guides' custom code is the recipes' `components` package, beside the recipes.
_RECIPES = str(Path(__file__).resolve().parents[2] / "recipes")
if _RECIPES not in sys.path:
    sys.path.insert(0, _RECIPES)
