from __future__ import annotations

import pytest

from tests.conftest import run_cli
from .helpers import MLP, SMALL, device_env


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("jax-cache")


@pytest.fixture(scope="session")
def single_device_run(tmp_path_factory, jax_cache):
    """The MNIST MLP recipe on one device, no distribution: what every distributed run must equal."""
    run_dir = tmp_path_factory.mktemp("single") / "run"
    run_cli("run", MLP, "-o", run_dir, *SMALL, env=device_env(1, jax_cache), check=True)
    return run_dir
