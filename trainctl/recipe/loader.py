"""Load YAML while remembering where every key and value came from.

`yaml.safe_load` throws positions away; a recipe error must say `file:line:col`.
`load_document` composes the YAML node graph with PyYAML's safe loader and builds
plain Python data (dict/list/str/int/float/bool/None) next to a table of positions
keyed by the path of each node, e.g. `("model", "layers", 0, "Dense")`.

Example:

    >>> doc = load_document("recipes/mnist_mlp.yaml")
    >>> doc.data["train"]["epochs"]
    2
    >>> doc.position(("train", "epochs"))
    Pos(file='recipes/mnist_mlp.yaml', line=31, col=10)
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from trainctl.errors import RecipeError, RecipeInvalid

PathT = tuple  # a path into the document: str keys and int indices


class Pos(NamedTuple):
    """A 1-based line and column in a file (or `<override N>` for command-line values)."""

    file: str
    line: int
    col: int


class _Loader(yaml.SafeLoader):
    """The safe loader, plus floats written the way people write them (`1e-3`)."""


# YAML 1.1 reads `1e-3` as a string; every ML config writes learning rates that way.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_SAFE_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


@dataclasses.dataclass
class Document:
    """Plain data from a YAML file, with the position of every value and key."""

    file: str
    data: Any
    values: dict[PathT, Pos]
    keys: dict[PathT, Pos]

    def position(self, path: PathT, key: bool = False) -> Pos:
        """Position of the value (or key) at `path`, or of its nearest ancestor that exists."""
        path = tuple(path)
        table = self.keys if key else self.values
        while path:
            if path in table:
                return table[path]
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), Pos(self.file, 1, 1))

    def error(self, path: PathT, message: str, hint: str | None = None, key: bool = False) -> RecipeError:
        """A `RecipeError` placed at `path`."""
        pos = self.position(path, key=key)
        return RecipeError(pos.file, pos.line, pos.col, message, hint)


def _pos(file: str, node: yaml.Node) -> Pos:
    return Pos(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(loader: _Loader, doc: Document, node: yaml.Node, path: PathT, errors: list[RecipeError]) -> Any:
    doc.values[path] = _pos(doc.file, node)
    if node.tag not in _SAFE_TAGS:
        p = _pos(doc.file, node)
        errors.append(
            RecipeError(p.file, p.line, p.col, f"YAML tag {node.tag!r} is not allowed",
                        "recipes are plain data; custom code is reached through `imports:`")
        )
        return None
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<:` merge keys
        out: dict = {}
        for key_node, value_node in node.value:
            key = _build(loader, doc, key_node, path + ("<key>",), errors)
            doc.values.pop(path + ("<key>",), None)
            if isinstance(key, (list, dict)):
                p = _pos(doc.file, key_node)
                errors.append(RecipeError(p.file, p.line, p.col, "a mapping key must be a plain value"))
                continue
            if key in out:
                p = _pos(doc.file, key_node)
                errors.append(RecipeError(p.file, p.line, p.col, f"duplicate key {key!r}",
                                          "a later value would silently replace the earlier one"))
                continue
            doc.keys[path + (key,)] = _pos(doc.file, key_node)
            out[key] = _build(loader, doc, value_node, path + (key,), errors)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, doc, item, path + (i,), errors) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_document(text: str, file: str) -> Document:
    """Parse YAML `text` into a `Document`; syntax errors become one `RecipeInvalid`."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or "invalid YAML").strip()
        hint = exc.context.strip() if exc.context else None
        raise RecipeInvalid([RecipeError(file, line, col, f"invalid YAML: {problem}", hint)]) from None
    except yaml.YAMLError as exc:
        raise RecipeInvalid([RecipeError(file, 1, 1, f"invalid YAML: {exc}")]) from None
    finally:
        loader.dispose()
    doc = Document(file=file, data=None, values={}, keys={})
    if node is None:
        doc.data = {}
        doc.values[()] = Pos(file, 1, 1)
        return doc
    errors: list[RecipeError] = []
    try:
        doc.data = _build(loader, doc, node, (), errors)
    except yaml.YAMLError as exc:  # e.g. an unparsable timestamp
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        errors.append(RecipeError(file, line, col, f"invalid YAML value: {getattr(exc, 'problem', exc)}"))
    if errors:
        raise RecipeInvalid(errors)
    return doc


def load_document(path: str | Path) -> Document:
    """Read and parse a YAML file. A missing or unreadable file is a `RecipeInvalid` too."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeInvalid([RecipeError(str(path), 1, 1, "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeInvalid([RecipeError(str(path), 1, 1, f"cannot read the file: {exc}")]) from None
    return parse_document(text, str(path))


def apply_overrides(doc: Document, overrides: list[str]) -> None:
    """Apply `key.path=value` overrides in place; values are YAML (`train.epochs=5`, `x=[1, 2]`).

    List items are addressed by index (`model.layers.0.Dense.units=32`). Each value is
    positioned at `<override N>` so later errors point at the argument that set it.
    """
    errors: list[RecipeError] = []
    for n, item in enumerate(overrides, start=1):
        label = f"<override {n}: {item}>"
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            errors.append(RecipeError(label, 1, 1, "an override must look like key.path=value",
                                      "e.g. train.epochs=5"))
            continue
        parts: list[Any] = [int(p) if p.lstrip("-").isdigit() else p for p in key.strip().split(".")]
        try:
            value = parse_document(raw, label)
        except RecipeInvalid as exc:
            errors.extend(exc.errors)
            continue
        node = doc.data
        for depth, part in enumerate(parts[:-1]):
            if isinstance(node, dict):
                node = node.setdefault(part, {})
            elif isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
                node = node[part]
            else:
                node = None
            if not isinstance(node, (dict, list)):
                where = ".".join(map(str, parts[: depth + 1]))
                errors.append(RecipeError(label, 1, 1, f"cannot set {key!r}: {where!r} is not a mapping or list"))
                break
        else:
            last = parts[-1]
            if isinstance(node, list):
                if not (isinstance(last, int) and -len(node) <= last < len(node)):
                    errors.append(RecipeError(label, 1, 1, f"cannot set {key!r}: no list item {last!r}"))
                    continue
            node[last] = value.data
            path = tuple(parts)
            for sub, pos in value.values.items():
                doc.values[path + sub] = Pos(label, 1, 1 + len(key) + 1 + pos.col - 1 if pos.line == 1 else 1)
            for sub, pos in value.keys.items():
                doc.keys[path + sub] = Pos(label, 1, 1)
            doc.keys[path] = Pos(label, 1, 1)
    if errors:
        raise RecipeInvalid(errors)
