"""docs/recipes.md and the editor JSON Schema are generated from the schema, and stay current."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from tests.recipe.conftest import REPO
from trainctl.cli import main
from trainctl.recipe import load_recipe_text
from trainctl.recipe import reference
from trainctl.recipe.schema import Recipe

BASE = {
    "name": "example",
    "data": {"train": {"source": "synthetic", "samples": 8}},
    "model": {"inputs": {"digits": {"shape": [784]}}, "outputs": {"predictions": {"Dense": {"units": 10}}}},
    "compile": {"loss": "sparse_categorical_crossentropy"},
}


def test_docs_are_current():
    shipped = (REPO / "docs" / "recipes.md").read_text(encoding="utf-8")
    assert shipped == reference.markdown(), (
        "docs/recipes.md is stale; run `python -m trainctl.recipe.reference --write` and commit it")


def _schema_classes(model, seen=None):
    seen = seen if seen is not None else {}
    seen.setdefault(model, None)
    for field in model.model_fields.values():
        for sub in reference._models(field.annotation):
            if sub not in seen:
                _schema_classes(sub, seen)
    return list(seen)


def test_every_key_of_every_section_is_documented():
    docs = reference.markdown()
    for model in _schema_classes(Recipe):
        assert f'<a id="{model.__name__.lower()}"></a>' in docs
        for name, field in model.model_fields.items():
            assert f"| `{field.alias or name}` |" in docs, f"{model.__name__}.{name} is not documented"
    for step in ("reshape", "flatten", "cast", "divide", "multiply", "one_hot", "expand_dims"):
        assert f"| `{step}` | `{{{step}:" in docs
    for code in (0, 1, 2, 130, 143):
        assert f"\n| {code} | " in docs


@pytest.fixture
def example_dir(tmp_path):
    (tmp_path / "data").mkdir()
    np.savez(tmp_path / "data" / "train.npz", images=np.zeros((4, 784)), labels=np.zeros(4))
    (tmp_path / "data" / "train.csv").write_text("a,b,label\n1,2,0\n")
    np.save(tmp_path / "data" / "x.npy", np.zeros((4, 784)))
    np.save(tmp_path / "data" / "y.npy", np.zeros(4))
    (tmp_path / "data" / "part-0.parquet").write_bytes(b"")  # validate checks only that the glob matches
    (tmp_path / "photos" / "train").mkdir(parents=True)
    (tmp_path / "components").mkdir()
    # What the examples name (validation reads the modules' top-level names).
    for name, text in (("__init__", ""), ("data", "def load(): ...\n"),
                       ("layers", "class ActivityRegularization: ...\n")):
        (tmp_path / "components" / f"{name}.py").write_text(text)
    return tmp_path


@pytest.mark.parametrize("section", sorted(reference.EXAMPLES))
def test_each_example_in_the_docs_is_a_valid_recipe(example_dir, section):
    fragment = yaml.safe_load(reference.EXAMPLES[section])
    recipe = fragment if section == "Recipe" else {**BASE, **fragment}
    if section == "CsvSource":  # two columns stacked as features
        recipe["model"] = {**BASE["model"], "inputs": {"digits": {"shape": [2]}}}
    load_recipe_text(yaml.safe_dump(recipe, sort_keys=False), f"<example {section}>", example_dir)


def test_json_schema_for_editors(capsys):
    schema = reference.json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "trainctl recipe"
    assert set(schema["properties"]) == {f.alias or n for n, f in Recipe.model_fields.items()}
    assert {"from", "class", "name", "args"} <= set(schema["$defs"]["LayerSpec"]["properties"])
    for recipe in (REPO / "recipes").glob("*.yaml"):
        assert set(yaml.safe_load(recipe.read_text())) <= set(schema["properties"])
    with pytest.raises(SystemExit) as exit_:
        main(["schema"])
    assert exit_.value.code == 0
    assert json.loads(capsys.readouterr().out) == schema


def test_schema_markdown_prints_the_reference(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["schema", "--markdown"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == reference.markdown()
