"""Optional features are extras, and a missing one is named with the command that installs it."""

from __future__ import annotations

import sys

import pytest

from tests.conftest import RECIPES, REPO, cli_env, run_cli

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")


def test_extras_are_declared():
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("tensorboard") for req in extras["tensorboard"])
    assert any(req.startswith("pydot") for req in extras["plot"])
    readme = (REPO / "README.md").read_text()
    assert "trainctl[tensorboard]" in readme and "trainctl[plot]" in readme


def test_summary_plot_without_graphviz_says_what_to_install(tmp_path):
    # No `dot` program on PATH (pydot may or may not be installed): exit 2 before any training code runs.
    proc = run_cli("summary", RECIPES / "mnist_mlp.yaml", "--plot", tmp_path / "m.png", env=cli_env(PATH=str(tmp_path)))
    assert proc.returncode == 2, proc.stderr
    assert "Graphviz" in proc.stderr and "apt-get install graphviz" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "m.png").exists()
    assert "dense_1" not in proc.stdout  # it stopped before building the model


def test_a_shipped_recipe_runs_by_name_and_a_typo_gets_a_suggestion(tmp_path):
    assert run_cli("validate", "mnist_mlp", cwd=tmp_path, check=True).returncode == 0
    proc = run_cli("validate", "mnist_mpl", cwd=tmp_path)
    assert proc.returncode == 2 and "did you mean 'mnist_mlp'?" in proc.stderr, proc.stderr
    # A file of that name in the current directory wins over the shipped recipe.
    (tmp_path / "mnist_mlp").write_text("name: mine\n")
    assert run_cli("validate", "mnist_mlp", cwd=tmp_path).returncode == 2
