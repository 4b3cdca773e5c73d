"""The command line as a user meets it: help, version, exit codes, no tracebacks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import RECIPES, cli_env, run_cli


def test_help_lists_commands():
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("run", "resume", "eval", "validate"):
        assert command in proc.stdout


def test_version():
    proc = run_cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.startswith("trainctl ")


def test_unknown_command_is_usage_error_with_suggestion():
    proc = run_cli("valdate")
    assert proc.returncode == 2
    assert "validate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_recipe_exits_2_with_position_and_no_traceback(tmp_path: Path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text((RECIPES / "mnist_mlp.yaml").read_text().replace("epochs: 2", "epocs: 2"))
    proc = run_cli("run", recipe, "-o", tmp_path / "run")
    assert proc.returncode == 2
    assert f"{recipe}:" in proc.stderr and "unknown key 'epocs'" in proc.stderr
    assert "did you mean 'epochs'?" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_debug_shows_traceback(tmp_path: Path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("name: x\n")
    proc = run_cli("--debug", "validate", recipe)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr


def test_missing_recipe_file(tmp_path: Path):
    proc = run_cli("validate", tmp_path / "nope.yaml")
    assert proc.returncode == 2
    assert "nope.yaml:1:1: file not found" in proc.stderr


def test_console_script_is_installed():
    # The README installs with pip, which puts `trainctl` next to the interpreter.
    script = Path(sys.executable).parent / "trainctl"
    found = script if script.exists() else shutil.which("trainctl")
    assert found, "the `trainctl` console script is not installed; run `pip install -e .`"
    proc = subprocess.run([str(found), "--version"], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("trainctl ")


def test_import_flag_lets_a_recipe_reach_a_module(tmp_path: Path):
    (tmp_path / "mylosses.py").write_text("def my_mse(y_true, y_pred):\n    return (y_true - y_pred) ** 2\n")
    recipe = tmp_path / "r.yaml"
    recipe.write_text((RECIPES / "mnist_mlp.yaml").read_text()
                      .replace("loss: SparseCategoricalCrossentropy", 'loss: {class: "mylosses:my_mse"}'))
    proc = run_cli("validate", recipe)
    assert proc.returncode == 2 and "imports" in proc.stderr
    proc = run_cli("validate", recipe, "--import", "mylosses")
    assert proc.returncode == 0, proc.stderr
