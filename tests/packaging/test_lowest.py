"""CI's lowest-versions job installs exactly the lower bounds pyproject.toml declares."""

from __future__ import annotations

import re
import sys

import pytest
from packaging.version import Version

from tests.conftest import REPO

tomllib = pytest.importorskip("tomllib") if sys.version_info >= (3, 11) else pytest.importorskip("tomli")

REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)\s*>=\s*([0-9][^,;\s]*)")


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lowest_pins_are_the_declared_lower_bounds():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    lower = {}
    for req in declared:
        match = REQUIREMENT.match(req)
        assert match, f"{req!r}: every dependency needs a tested lower bound (name>=version)"
        lower[_name(match[1])] = match[2]
    pins = {}
    for line in (REPO / ".ci" / "lowest.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[_name(name)] = version.strip()
    assert {name: pins.get(name) and Version(pins[name]) for name in lower} == {
        name: Version(version) for name, version in lower.items()}
    # Pins beyond the dependencies are what the lowest JAX needs alongside it (its jaxlib).
    assert set(pins) - set(lower) <= {"jaxlib"}


def test_keras_has_an_upper_bound():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    (keras,) = [req for req in declared if _name(REQUIREMENT.match(req)[1]) == "keras"]
    assert "<" in keras, "the runner follows private keras.src internals: cap Keras at the next untested minor"
    # The message of trainctl.keras_internals, for a Keras outside the range, names this range.
    text = (REPO / "trainctl" / "keras_internals.py").read_text()
    assert f'KERAS_TESTED = "{keras.removeprefix("keras")}"' in text
