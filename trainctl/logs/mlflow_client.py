"""An MLflow client set up for trainctl: no client-side retry loops, no printing (no Keras import).

Example:

    >>> client = mlflow_client("http://127.0.0.1:5000")
    >>> client.get_experiment_by_name("mnist")
"""

from __future__ import annotations

import os


def mlflow_client(tracking_uri: str | None):
    """An `MlflowClient` whose requests fail fast (callers retry) and that never writes to stdout.

    The client's own retries would block for minutes on a server that is down; MLflow also
    prints run URLs to stdout, and only trainctl's reporter may print. Variables a user set
    are kept.
    """
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri)


def experiment_id(client, name: str) -> str:
    """The id of experiment `name`, created if missing."""
    found = client.get_experiment_by_name(name)
    return found.experiment_id if found else client.create_experiment(name)
