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


# Far above any real recipe (the largest shipped one has a few hundred nodes), far below
# what costs seconds or memory: a hostile document stops here, at the line that crossed it.
MAX_NODES = 20_000  # nodes after every alias is expanded ("billion laughs")
MAX_DEPTH = 64  # nesting levels, aliases expanded (PyYAML's composer recurses per level)
MAX_BYTES = 4 * 1024 * 1024  # of recipe text
MAX_INT_BITS = 256  # no setting needs a larger integer; a larger one cannot even be printed in decimal


class _Loader(yaml.SafeLoader):
    """The safe loader, plus floats written the way people write them (`1e-3`), and bounds.

    Composing counts nodes as if every alias were expanded and measures nesting depth,
    so a recursive alias, exponential aliases or deep nesting fail at the alias or the
    node that crosses a bound, in milliseconds, instead of exhausting the stack or memory
    when the node graph is turned into data.
    """

    def __init__(self, stream):
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0
        self._deepest = 0
        self._open: set[str] = set()  # anchors whose node is still being composed
        self._extent: dict[str, tuple[int, int]] = {}  # anchor -> (expanded nodes, height)

    def _grow(self, nodes: int, depth: int, mark, what: str) -> None:
        self._nodes += nodes
        self._deepest = max(self._deepest, depth)
        if self._nodes > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"{what} makes the document more than {MAX_NODES:,} nodes once aliases are expanded", mark)
        if depth > MAX_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"{what} nests more than {MAX_DEPTH} levels deep", mark)

    # PyYAML's scanner looks ahead over every open bracket, so thousands of them cost
    # seconds before the composer sees the first: bound nesting where it is scanned.
    def fetch_flow_collection_start(self, TokenClass):
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"brackets nest more than {MAX_DEPTH} levels deep",
                                            self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def add_indent(self, column):
        if len(self.indents) >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"indentation nests more than {MAX_DEPTH} levels deep",
                                            self.get_mark())
        return super().add_indent(column)

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open:
                raise yaml.composer.ComposerError(
                    None, None, f"alias *{event.anchor} is inside the node it names (a recursive alias)",
                    event.start_mark)
            nodes, height = self._extent.get(event.anchor, (0, 0))
            self._grow(nodes, self._depth + height, event.start_mark, f"alias *{event.anchor}")
            return super().compose_node(parent, index)
        self._depth += 1
        self._grow(1, self._depth, event.start_mark, "this node")
        anchor = event.anchor
        if anchor is not None:
            self._open.add(anchor)
        start, deepest, self._deepest = self._nodes, self._deepest, self._depth
        node = super().compose_node(parent, index)
        if anchor is not None:
            self._open.discard(anchor)
            self._extent[anchor] = (self._nodes - start + 1, self._deepest - self._depth + 1)
        self._deepest = max(self._deepest, deepest)
        self._depth -= 1
        return node


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
        try:
            loader.flatten_mapping(node)  # resolves `<<:` merge keys
        except yaml.MarkedYAMLError as exc:  # `<<:` given something that is not a mapping
            mark = exc.problem_mark or node.start_mark
            errors.append(RecipeError(doc.file, mark.line + 1, mark.column + 1, f"invalid YAML: {exc.problem}"))
            return None
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
    try:
        value = loader.construct_object(node, deep=True)
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise ValueError(f"an integer of {value.bit_length()} bits is larger than any setting can be")
        return value
    # An explicit tag on a value it cannot read (`!!timestamp 2024-13-45`, `!!bool maybe`), a
    # 5,000-digit int: PyYAML's constructors fail with whatever their parsing raised.
    except (yaml.YAMLError, ValueError, OverflowError, LookupError, AttributeError, TypeError) as exc:
        p = _pos(doc.file, node)
        problem = getattr(exc, "problem", None) or str(exc)
        errors.append(RecipeError(p.file, p.line, p.col, f"invalid YAML value {_excerpt(node.value)}: {problem}"))
        return None


def _excerpt(value: str, width: int = 40) -> str:
    return repr(value if len(value) <= width else value[:width] + "...")


def _line_col(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    return before.count("\n") + 1, index - (before.rfind("\n") + 1) + 1


def parse_document(text: str, file: str) -> Document:
    """Parse YAML `text` into a `Document`; syntax errors become one `RecipeInvalid`."""
    loader = None
    try:
        loader = _Loader(text)  # the reader rejects non-printable characters here
        node = loader.get_single_node()
    except yaml.reader.ReaderError as exc:
        line, col = _line_col(text, exc.position)
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise RecipeInvalid([RecipeError(file, line, col, f"invalid YAML: character {char!r} "
                                         f"(U+{ord(char):04X}) is not allowed",
                                         "YAML text holds printable characters only")]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = (exc.problem or "invalid YAML").strip()
        hint = exc.context.strip() if exc.context else None
        raise RecipeInvalid([RecipeError(file, line, col, f"invalid YAML: {problem}", hint)]) from None
    except yaml.YAMLError as exc:
        raise RecipeInvalid([RecipeError(file, 1, 1, f"invalid YAML: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    doc = Document(file=file, data=None, values={}, keys={})
    if node is None:
        doc.data = {}
        doc.values[()] = Pos(file, 1, 1)
        return doc
    errors: list[RecipeError] = []
    doc.data = _build(loader, doc, node, (), errors)
    if errors:
        raise RecipeInvalid(errors)
    return doc


def load_document(path: str | Path) -> Document:
    """Read and parse a YAML file. A missing or unreadable file is a `RecipeInvalid` too."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise RecipeInvalid([RecipeError(str(path), 1, 1, "file not found")]) from None
    except IsADirectoryError:
        raise RecipeInvalid([RecipeError(str(path), 1, 1, "is a directory; expected a recipe file")]) from None
    except OSError as exc:
        raise RecipeInvalid([RecipeError(str(path), 1, 1, f"cannot read the file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_BYTES:
        raise RecipeInvalid([RecipeError(str(path), 1, 1, f"the file is larger than {MAX_BYTES // 2**20} MiB; "
                                                          "a recipe is a short text file")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start].decode("utf-8", "replace")
        line, col = _line_col(before, len(before))
        raise RecipeInvalid([RecipeError(str(path), line, col, f"not UTF-8 text: byte 0x{raw[exc.start]:02x} "
                                                               f"cannot start a character here",
                                         "a recipe is a UTF-8 YAML text file")]) from None
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
