"""Fixtures for the logs tests."""

from __future__ import annotations

import io

import pytest

from trainctl.logs.console import Reporter, set_reporter


@pytest.fixture
def captured():
    """A plain reporter writing into StringIOs, installed as the process reporter."""
    err, out = io.StringIO(), io.StringIO()
    reporter = Reporter(plain=True, err=err, out=out)
    previous = set_reporter(reporter)
    yield reporter, err, out
    set_reporter(previous)
