"""Helpers for recipe tests: write a recipe, collect its problems as `line:col: message (hint)`."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainctl.errors import RecipeInvalid
from trainctl.recipe import load_recipe

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _recipes_components_not_importable(monkeypatch):
    """tests/reference puts recipes/ on sys.path and imports its `components` (the builders use it);
    a recipe check would then see a `components` beside a test recipe as shadowing an installed one."""
    import sys

    recipes = str(REPO / "recipes")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != recipes])
    for name in [m for m in sys.modules if m == "components" or m.startswith("components.")]:
        monkeypatch.delitem(sys.modules, name)


# A small valid functional recipe; tests replace one line or add keys to break it.
MNIST = """\
name: t
data:
  train: {source: mnist, slice: [0, 100]}
model:
  inputs: {digits: {shape: [28, 28]}}
  layers:
    - {name: flat, Flatten: {}}
    - {name: hidden, Dense: {units: 8, activation: relu}}
  outputs:
    probs: {Dense: {units: 10, activation: softmax}}
compile:
  optimizer: adam
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
"""

# Two inputs, two outputs (the guides' multi-input, multi-output model).
MULTI = """\
name: m
data:
  train: {source: synthetic, samples: 8}
model:
  inputs:
    img: {shape: [8, 8, 1]}
    ts: {shape: [null, 4]}
  layers:
    - {name: a, Flatten: {}, from: img}
    - {name: b, GlobalMaxPooling1D: {}, from: ts}
    - {name: ab, Concatenate: {}, from: [a, b]}
  outputs:
    score: {Dense: {units: 1}, from: ab}
    klass: {Dense: {units: 5, activation: softmax}, from: ab}
compile:
  optimizer: {RMSprop: {learning_rate: 1.0e-3}}
  loss: {score: mse, klass: categorical_crossentropy}
  loss_weights: {score: 2.0, klass: 1.0}
  metrics: {klass: [CategoricalAccuracy]}
"""


def at(text: str, needle: str, occurrence: int = 1) -> str:
    """`line:col` of the `occurrence`-th `needle` in `text` (1-based), to assert exact positions."""
    idx = -1
    for _ in range(occurrence):
        idx = text.index(needle, idx + 1)
    line = text.count("\n", 0, idx) + 1
    col = idx - (text.rfind("\n", 0, idx) + 1) + 1
    return f"{line}:{col}"


@pytest.fixture
def problems(tmp_path):
    """`problems(text)` -> ["line:col: message (hint)", ...] for a recipe written to tmp_path/r.yaml."""

    def run(text: str, name: str = "r.yaml") -> list[str]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        try:
            load_recipe(path)
        except RecipeInvalid as exc:
            prefix = f"{path}:"
            assert all(str(e).startswith(prefix) for e in exc.errors)
            return [str(e)[len(prefix):] for e in exc.errors]
        return []

    return run
