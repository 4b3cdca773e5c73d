"""The wheel ships the recipes: built with pip, installed into a fresh venv, used from an empty directory.

The venv gets the wheel (and its `trainctl` console script) but borrows the test
environment's installed dependencies through a `.pth` file, so the test stays fast and
needs no network; the checkout itself is never on its path.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import RECIPES, REPO

# What a build reads: the rest of the checkout (venvs, build/, runs) stays out of it.
BUILD_INPUTS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "trainctl", "recipes")
COMPONENT_RECIPE = "mnist_activity_regularization"  # its model uses a layer from recipes/components


def _shipped_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in BUILD_INPUTS:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, src / name)
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                   check=True, capture_output=True, text=True, timeout=600)
    (built,) = dist.glob("trainctl-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel: Path, tmp_path_factory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    # Dependencies from the test environment, after the venv's own site-packages (plain path
    # entries: that environment's .pth files, an editable trainctl among them, are not run).
    Path(purelib, "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv / "bin"


def _trainctl(venv_bin: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TRAINCTL_DEBUG")}
    env.update(CI="1", PATH=f"{venv_bin}{os.pathsep}{env.get('PATH', '')}")
    proc = subprocess.run([str(venv_bin / "trainctl"), *args], cwd=cwd, env=env, text=True, capture_output=True,
                          timeout=600)
    assert proc.returncode == 0, f"trainctl {' '.join(args)} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_wheel_holds_every_recipe_and_component(wheel: Path):
    with zipfile.ZipFile(wheel) as z:
        names = {n.removeprefix("trainctl/recipes/") for n in z.namelist() if n.startswith("trainctl/recipes/")}
    assert names == _shipped_files(RECIPES)
    assert "components/layers.py" in names


def test_installed_wheel_lists_copies_and_runs_shipped_recipes(venv_bin: Path, tmp_path: Path):
    where = subprocess.run([str(venv_bin / "python"), "-c", "import trainctl; print(trainctl.__file__)"],
                           cwd=tmp_path, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(venv_bin.parent)), where  # the wheel's trainctl, not the checkout's

    listed = _trainctl(venv_bin, tmp_path, "recipes").stdout
    assert all(path.stem in listed for path in RECIPES.glob("*.yaml"))
    assert "MNIST MLP baseline" in listed

    _trainctl(venv_bin, tmp_path, "init", "mnist_mlp", "mine.yaml")
    assert (tmp_path / "mine.yaml").read_text() == (RECIPES / "mnist_mlp.yaml").read_text()

    _trainctl(venv_bin, tmp_path, "run", "mnist_mlp", "--smoke", "-o", "run")
    assert (tmp_path / "run" / "model.keras").is_file()

    # A shipped recipe's `imports:` resolve beside it, in the installed package: its custom
    # layer is found by validate and imported to build the model.
    _trainctl(venv_bin, tmp_path, "validate", *(p.stem for p in RECIPES.glob("*.yaml") if "imports:" in p.read_text()))
    assert "ActivityRegularizationLayer" in _trainctl(venv_bin, tmp_path, "summary", COMPONENT_RECIPE).stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml", "run"]
