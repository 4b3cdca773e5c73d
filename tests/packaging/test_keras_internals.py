"""Keras's private `keras.src` is reached through trainctl/keras_internals.py only."""

from __future__ import annotations

import ast
from pathlib import Path

import trainctl

PACKAGE = Path(trainctl.__file__).parent
INTERNALS = PACKAGE / "keras_internals.py"


def _private_keras_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {name}" for name in names
                  if name == "keras.src" or name.startswith("keras.src.")]
    return found


def test_only_the_internals_module_imports_keras_src():
    others = [hit for path in sorted(PACKAGE.rglob("*.py")) if path != INTERNALS for hit in _private_keras_imports(path)]
    assert not others, "import these from trainctl.keras_internals instead:\n  " + "\n  ".join(others)
    assert _private_keras_imports(INTERNALS), "the check above would pass on anything"


def test_every_piece_is_there_and_documented():
    from trainctl import keras_internals
    from trainctl.backend import keras

    for name in keras_internals.__all__:
        assert getattr(keras_internals, name) is not None
        assert f"`{name}`" in keras_internals.__doc__, f"{name} is not described in the module docstring"
    assert keras_internals.is_default(keras.callbacks.Callback().on_batch_end)
    assert not keras_internals.is_nnx_enabled()
