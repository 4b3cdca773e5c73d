"""Shared test helpers: run the real `trainctl` as a user does, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RECIPES = REPO / "recipes"
FIXTURES = REPO / "tests" / "fixtures"

os.environ.setdefault("KERAS_BACKEND", "jax")


def cli_env(**extra: str) -> dict:
    """Environment for a `trainctl` subprocess: this checkout first on the path, plain output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["CI"] = "1"
    env.pop("TRAINCTL_DEBUG", None)
    env.update(extra)
    return env


def trainctl_cmd() -> list[str]:
    """`python -m trainctl` of this interpreter: the same entry point as the console script."""
    return [sys.executable, "-m", "trainctl"]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
            check: bool = False) -> subprocess.CompletedProcess:
    proc = subprocess.run([*trainctl_cmd(), *map(str, args)], cwd=cwd, env=env or cli_env(), text=True,
                          capture_output=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"trainctl {' '.join(map(str, args))} exited {proc.returncode}\n"
                             f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def start_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([*trainctl_cmd(), *map(str, args)], cwd=cwd, env=env or cli_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session", autouse=True)
def compile_cache(tmp_path_factory) -> Path:
    """One JAX compilation cache for the whole session, in pytest's tmp dir, never the user's home."""
    path = tmp_path_factory.mktemp("jax-cache")
    os.environ["TRAINCTL_COMPILE_CACHE"] = str(path)
    return path
