"""SWEEP.yaml: which recipe, which fixed overrides, which space, which metric; validated with positions.

    recipe: mnist_mlp                  # a path (relative to this file) or a shipped recipe's name
    overrides: {train.epochs: 2}       # applied to every trial
    grid:                              # every combination, in this order
      compile.optimizer.RMSprop.learning_rate: [1.0e-3, 3.0e-3]
      train.batch_size: [32, 64]
    # or  random: {key.path: distribution}  or  search: {key.path: distribution}  (Optuna TPE), with
    # trials: N; a distribution is {uniform: [lo, hi]}, {loguniform: [lo, hi]}, {int: [lo, hi]} or {choice: [...]}
    metric: val_loss
    mode: min

Every key path is checked against the recipe before anything trains, by loading the recipe
with the trial's overrides as `trainctl run` would; a problem is reported at the line of the
key in SWEEP.yaml. No Keras here.

Example:

    >>> sweep = load_sweep("sweeps/lr.yaml")
    >>> sweep.spec.kind, [t.params for t in sweep.grid_trials()][:1]
    ('grid', [{'compile.optimizer.RMSprop.learning_rate': 0.001}])
"""

from __future__ import annotations

import builtins
import dataclasses
import hashlib
import itertools
import math
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from trainctl.errors import RecipeError, RecipeInvalid
from trainctl.recipe.loader import Document, Pos, load_document
from trainctl.recipe.structure import did_you_mean, validate_document


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_Positive = Annotated[float, Field(gt=0)]


class Distribution(_Strict):
    """Where a random or search sweep draws a value from: exactly one of these keys."""

    uniform: Annotated[tuple[float, float] | None, Field(description="Floats uniform in [lo, hi].")] = None
    loguniform: Annotated[tuple[_Positive, _Positive] | None,
                          Field(description="Floats uniform in log scale in [lo, hi].")] = None
    # `builtins.int`: inside this class `int` names the field.
    int: Annotated[tuple[builtins.int, builtins.int] | None, Field(description="Integers in [lo, hi], both included.")] = None
    choice: Annotated[list[Any] | None, Field(min_length=1, description="One of these values.")] = None

    @model_validator(mode="after")
    def _one(self):
        if len(self.model_fields_set) != 1:
            raise ValueError("a distribution is one of {uniform: [lo, hi]}, {loguniform: [lo, hi]}, "
                             "{int: [lo, hi]}, {choice: [values]}")
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.model_fields_set))

    @property
    def args(self) -> Any:
        return getattr(self, self.kind)


class SweepSpec(_Strict):
    """A sweep over recipe overrides."""

    recipe: Annotated[str, Field(description="Recipe path (relative to SWEEP.yaml) or a shipped recipe's name.")]
    overrides: Annotated[dict[str, Any], Field(description="key.path: value applied to every trial.")] = \
        Field(default_factory=dict)
    grid: Annotated[dict[str, Annotated[list[Any], Field(min_length=1)]] | None,
                    Field(description="key.path: [values]; every combination is a trial.")] = None
    random: Annotated[dict[str, Distribution] | None,
                      Field(description="key.path: distribution; `trials` draws from the sweep seed.")] = None
    search: Annotated[dict[str, Distribution] | None,
                      Field(description="key.path: distribution; Optuna's TPE chooses `trials` points.")] = None
    trials: Annotated[int | None, Field(ge=1, description="How many trials (random and search).")] = None
    metric: Annotated[str, Field(description="The per-epoch metric trials are ranked by.")] = "val_loss"
    mode: Annotated[Literal["min", "max"], Field(description="Whether lower or higher is better.")] = "min"
    seed: Annotated[int, Field(ge=0, description="Seeds the random draws and Optuna's sampler.")] = 0
    pruning: Annotated[bool, Field(description="search: stop unpromising trials early (Optuna's "
                                               "MedianPruner on the per-epoch metric).")] = True
    study: Annotated[str | None, Field(description="search: the Optuna study name. Default: the sweep "
                                                   "file's name.")] = None

    @model_validator(mode="after")
    def _one_space(self):
        spaces = [k for k in ("grid", "random", "search") if getattr(self, k) is not None]
        if len(spaces) != 1:
            raise ValueError("a sweep needs exactly one of grid, random or search"
                             + (f" (found {', '.join(spaces)})" if spaces else ""))
        if spaces[0] == "grid" and self.trials is not None:
            raise ValueError("trials is for random and search; a grid runs every combination")
        if spaces[0] != "grid" and self.trials is None:
            raise ValueError(f"{spaces[0]} needs trials: N")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in ("grid", "random", "search") if getattr(self, k) is not None)

    @property
    def space(self) -> dict[str, Any]:
        return getattr(self, self.kind)


@dataclasses.dataclass(frozen=True)
class Trial:
    """One point of the sweep: its deterministic name and the overrides it sets."""

    index: int
    params: dict[str, Any]

    @property
    def name(self) -> str:
        return f"trial-{self.index:03d}"


def override_args(values: dict[str, Any]) -> list[str]:
    """`{key: value}` as `key=value` arguments of `trainctl run` (values as one-line YAML).

    Example:

        >>> override_args({"train.epochs": 2, "compile.optimizer.Adam.learning_rate": 1e-3})
        ['train.epochs=2', 'compile.optimizer.Adam.learning_rate=0.001']
    """
    return [f"{key}={yaml.safe_dump(value, default_flow_style=True, width=10**9).strip().removesuffix('...').strip()}"
            for key, value in values.items()]


@dataclasses.dataclass
class Sweep:
    """A validated SWEEP.yaml: the spec, where each key is, the recipe file, and the text (for --resume)."""

    spec: SweepSpec
    document: Document
    recipe_path: Path
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def trial_args(self, params: dict[str, Any]) -> list[str]:
        """The `trainctl run` overrides of a trial: the fixed ones, then the swept ones."""
        return override_args({**self.spec.overrides, **params})

    def grid_trials(self) -> list[Trial]:
        keys = list(self.spec.grid)
        return [Trial(i, dict(zip(keys, values)))
                for i, values in enumerate(itertools.product(*(self.spec.grid[k] for k in keys)))]

    def random_trials(self) -> list[Trial]:
        """`trials` draws, each from its own generator seeded by (seed, index): a resumed sweep plans the same."""
        import numpy as np

        out = []
        for i in range(self.spec.trials):
            rng = np.random.default_rng([self.spec.seed, i])
            out.append(Trial(i, {key: sample(dist, rng) for key, dist in self.spec.random.items()}))
        return out

    def planned(self) -> list[Trial]:
        """Every trial of a grid or random sweep (a search plans as it goes)."""
        return self.grid_trials() if self.spec.kind == "grid" else self.random_trials()


def sample(dist: Distribution, rng) -> Any:
    """One draw of `dist` from a NumPy generator, as a plain Python value."""
    if dist.kind == "uniform":
        return float(rng.uniform(*dist.uniform))
    if dist.kind == "loguniform":
        lo, hi = dist.loguniform
        return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if dist.kind == "int":
        return int(rng.integers(dist.int[0], dist.int[1] + 1))
    return dist.choice[int(rng.integers(len(dist.choice)))]


def locate_recipe(name: str, sweep_file: Path, doc: Document) -> Path:
    """A recipe named in a sweep: a path relative to the sweep file (or absolute), else a shipped name."""
    path = Path(name)
    for candidate in (path if path.is_absolute() else sweep_file.parent / path, path):
        if candidate.is_file():
            return candidate
    from trainctl.recipe.catalog import shipped_recipes

    shipped = {r.name: r.path for r in shipped_recipes()}
    if name in shipped:
        return shipped[name]
    hint = did_you_mean(name, shipped) or "a path relative to the sweep file, or see `trainctl recipes`"
    raise RecipeInvalid([doc.error(("recipe",), f"no recipe file or shipped recipe named {name!r}", hint)])


def load_sweep(path: str | Path) -> Sweep:
    """Load and validate SWEEP.yaml, and every trial's overrides against its recipe (see module doc)."""
    path = Path(path)
    doc = load_document(path)
    spec = validate_document(doc, SweepSpec, "a sweep must be a mapping (recipe, grid/random/search, metric, ...)")
    sweep = Sweep(spec, doc, locate_recipe(spec.recipe, path, doc), path.read_text(encoding="utf-8"))
    _check_against_recipe(sweep)
    return sweep


def _check_against_recipe(sweep: Sweep) -> None:
    from trainctl.recipe import load_recipe

    spec = sweep.spec
    if spec.kind == "grid":
        candidates = [t.params for t in sweep.grid_trials()]
    elif spec.kind == "random":
        candidates = [t.params for t in sweep.random_trials()]
    else:  # every edge of every distribution, the other keys at their first edge
        edges = {key: list(dist.args) for key, dist in spec.search.items()}
        first = {key: values[0] for key, values in edges.items()}
        candidates = [{**first, key: v} for key, values in edges.items() for v in values]
    errors: dict[tuple, RecipeError] = {}
    for params in candidates:
        keys = [(spec.kind if k in params else "overrides", k) for k in {**spec.overrides, **params}]
        try:
            load_recipe(sweep.recipe_path, sweep.trial_args(params))
        except RecipeInvalid as exc:
            for error in exc.errors:
                error = _at_sweep_key(error, sweep.document, keys, params)
                errors.setdefault((error.file, error.line, error.col, error.message), error)
    if errors:
        raise RecipeInvalid(list(errors.values()))


def _at_sweep_key(error: RecipeError, doc: Document, keys: list[tuple], params: dict) -> RecipeError:
    """An error at `<override N: ...>` moved to the line of the N-th key in SWEEP.yaml."""
    if not error.file.startswith("<override "):
        return error
    n = int(error.file.split()[1].rstrip(":"))
    section, key = keys[n - 1]
    pos: Pos = doc.position((section, key), key=True)
    value = params.get(key, doc.data.get("overrides", {}).get(key))
    return RecipeError(pos.file, pos.line, pos.col, f"{key}={value!r}: {error.message}", error.hint)
