"""A real `mlflow server` for the tracking tests, started once per session and stopped at its end."""

from __future__ import annotations

import pytest

from tests.sweep.mlflow_server import start_server, stop_server


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    pytest.importorskip("mlflow")
    proc, uri = start_server(tmp_path_factory.mktemp("mlflow"))
    yield uri
    stop_server(proc)
