"""The CLI stays light: help, validation, schema and shell completion never import jax or keras."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import RECIPES, REPO, cli_env

HEAVY = ("jax", "jaxlib", "keras", "tensorflow", "matplotlib")

# Runs the CLI in a fresh interpreter, then lists the heavy packages it imported.
PROBE = """
import json, sys
from trainctl.cli import main
sys.argv[0] = "trainctl"  # the name shell completion keys its environment variable on
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(%r))
print("HEAVY=" + json.dumps(heavy))
""" % (HEAVY,)


def _heavy_imports(*args: str, **env: str) -> tuple[list[str], str]:
    """The heavy packages `trainctl *args` imported, and what it printed."""
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=REPO, env=cli_env(**env), text=True,
                          capture_output=True, timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("HEAVY=")), None)
    assert line is not None, proc.stdout + proc.stderr
    return json.loads(line[len("HEAVY="):]), proc.stdout


def _commands() -> list[str]:
    import typer

    from trainctl.cli import app

    return sorted(typer.main.get_command(app).commands)


@pytest.mark.parametrize("args", [
    ("--help",),
    ("--version",),
    ("validate", str(RECIPES / "mnist_mlp.yaml"), str(RECIPES / "multi_io.yaml")),
    *[(name, "--help") for name in _commands()],
    *[(name,) for name in ("schema", "recipes") if name in _commands()],
], ids=lambda args: " ".join(a if "/" not in a else a.rsplit("/", 1)[1] for a in args))
def test_command_imports_no_jax_or_keras(args):
    assert _heavy_imports(*args)[0] == []


def test_shell_completion_imports_no_jax_or_keras():
    env = {"_TRAINCTL_COMPLETE": "complete_bash", "COMP_WORDS": "trainctl ru", "COMP_CWORD": "1"}
    heavy, printed = _heavy_imports(**env)
    assert heavy == [] and "run" in printed.split()
