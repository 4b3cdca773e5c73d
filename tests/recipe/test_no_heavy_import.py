"""`trainctl validate` and `trainctl schema` never import Keras or JAX (they would cost seconds)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.recipe.conftest import REPO

CHECK = """
import atexit, sys
heavy = ("jax", "keras", "tensorflow", "trainctl.backend")
atexit.register(lambda: print("HEAVY:", [m for m in heavy if m in sys.modules], flush=True))
from trainctl.cli import main
main(sys.argv[1:])
"""


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", CHECK, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_validate_every_shipped_recipe_without_keras_or_jax():
    recipes = sorted(str(p) for p in (REPO / "recipes").glob("*.yaml"))
    assert recipes
    result = _run("validate", *recipes)
    assert result.returncode == 0, result.stderr
    assert "HEAVY: []" in result.stdout, result.stdout


def test_schema_without_keras_or_jax():
    result = _run("schema")
    assert result.returncode == 0, result.stderr
    assert "HEAVY: []" in result.stdout
