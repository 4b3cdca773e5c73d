"""`trainctl recipes`, `init`, `summary`, `smoke` and `schema`, as a user runs them."""

from __future__ import annotations

import json

from tests.conftest import RECIPES, run_cli


def test_recipes_lists_every_shipped_recipe_with_description():
    proc = run_cli("recipes", check=True)
    for path in RECIPES.glob("*.yaml"):
        assert path.stem in proc.stdout
    assert "MNIST MLP baseline" in proc.stdout


def test_init_copies_a_recipe_and_suggests_names(tmp_path):
    dest = tmp_path / "mine.yaml"
    run_cli("init", "mnist_mlp", dest, check=True)
    assert dest.read_text() == (RECIPES / "mnist_mlp.yaml").read_text()
    proc = run_cli("init", "mnist_mlp", dest)
    assert proc.returncode == 2 and "--force" in proc.stderr
    proc = run_cli("init", "mnst_mlp", tmp_path / "other.yaml")
    assert proc.returncode == 2 and "did you mean 'mnist_mlp'?" in proc.stderr


def test_summary_prints_keras_summary_without_training(tmp_path):
    proc = run_cli("summary", RECIPES / "mnist_mlp.yaml", check=True)
    assert "dense_1 (Dense)" in proc.stdout and "55,050" in proc.stdout
    proc = run_cli("summary", RECIPES / "mnist_mlp.yaml", "--plot", tmp_path / "m.png")
    assert proc.returncode in (0, 2)
    if proc.returncode == 2:  # pydot/graphviz absent: a clear message, not a traceback
        assert "pydot" in proc.stderr and "Traceback" not in proc.stderr


def test_schema_is_json_schema():
    proc = run_cli("schema", check=True)
    schema = json.loads(proc.stdout)
    assert schema["title"] and "properties" in schema and "model" in schema["properties"]


def test_smoke_reports_failures_and_exits_nonzero(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((RECIPES / "mnist_mlp.yaml").read_text().replace("units: 10", "units: -3"))
    proc = run_cli("smoke", RECIPES / "mnist_mlp.yaml", bad)
    assert proc.returncode == 1, proc.stderr
    assert "ok    mnist_mlp" in proc.stderr and "FAIL  bad" in proc.stderr
    assert "1 passed, 1 failed" in proc.stderr
