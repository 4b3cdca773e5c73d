"""Turn pydantic's validation errors into `RecipeError`s at recipe positions.

pydantic reports a location like `('data', 'train', 'mnist', 'split')`, with union
branch tags mixed in; this module maps it back onto the document's keys, merges the
per-branch errors of a union into one message, and adds "did you mean" for unknown keys.
"""

from __future__ import annotations

import difflib
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from trainctl.errors import RecipeError, RecipeInvalid
from trainctl.recipe.context import describe
from trainctl.recipe.loader import Document


def closest(word: str, choices: typing.Iterable[str]) -> str | None:
    """The choice `word` most likely misspells, or None; case is ignored to match, and among
    choices that differ only in case the one written most like `word` wins.

    Example:

        >>> closest("RMSProp", ["rmsprop", "RMSprop"]), closest("rmsprp", ["rmsprop", "RMSprop"])
        ('RMSprop', 'rmsprop')
    """
    by_lower: dict[str, list[str]] = {}
    for choice in choices:
        by_lower.setdefault(choice.lower(), []).append(choice)
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    if not close:
        return None
    return max(by_lower[close[0]], key=lambda c: difflib.SequenceMatcher(None, str(word), c).ratio())


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str | None:
    """`"did you mean 'Dense'?"` for the closest of `choices` (see `closest`), or None.

    Example:

        >>> did_you_mean("Desne", ["Dense", "Dropout"])
        "did you mean 'Dense'?"
    """
    match = closest(word, choices)
    return f"did you mean {match!r}?" if match else None


def _doc_path(data: Any, loc: tuple) -> tuple[tuple, tuple]:
    """Split a pydantic `loc` into (path that exists in the data, the rest)."""
    path: list = []
    node = data
    rest = list(loc)
    while rest:
        el = rest[0]
        if isinstance(node, dict) and el in node:
            node = node[el]
            path.append(el)
        elif isinstance(node, dict) and isinstance(el, str) and el.isdigit() and int(el) in node:
            node = node[int(el)]
            path.append(int(el))
        elif isinstance(node, list) and isinstance(el, int) and 0 <= el < len(node):
            node = node[el]
            path.append(el)
        elif isinstance(el, str) and (el[:1].islower() or "[" in el) and len(rest) > 1:
            pass  # a union branch tag ('str', 'dict[str,any]', 'mnist'): not part of the data
        else:
            break
        rest.pop(0)
    return tuple(path), tuple(rest)


def _model_at(root: type[BaseModel], data: Any, path: tuple) -> type[BaseModel] | None:
    """The schema class that validates the mapping at `path`, to list its keys."""
    model: Any = root
    node = data
    for el in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = None
        for name, f in model.model_fields.items():
            if el in (name, f.alias):
                field = f
        if field is None:
            return None
        node = node[el] if isinstance(node, dict) else None
        model = _pick(field.annotation, node)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _pick(annotation: Any, node: Any) -> Any:
    """The BaseModel inside `annotation` (list/dict/Union/Annotated) that `node` is meant to be."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = []
    for arg in typing.get_args(annotation):
        picked = _pick(arg, node)
        if picked is not None:
            models.append(picked)
    if isinstance(node, dict) and "source" in node:
        for m in models:
            if "source" in m.model_fields and node["source"] in typing.get_args(m.model_fields["source"].annotation):
                return m
    return models[0] if len(models) == 1 else None


_TYPE_WORDS = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "list_type": "a list",
    "none_required": "null",
}


def validate_document(doc: Document, root: type[BaseModel], not_a_mapping: str) -> BaseModel:
    """`root` validated from `doc`'s data; every problem raised as one `RecipeInvalid`, positioned in `doc`.

    Example:

        >>> spec = validate_document(doc, Recipe, "a recipe must be a mapping of sections")
    """
    if not isinstance(doc.data, dict):
        raise RecipeInvalid([doc.error((), not_a_mapping)])
    try:
        return root.model_validate(doc.data)
    except ValidationError as exc:
        raise RecipeInvalid(structure_errors(exc, doc, root)) from None


def structure_errors(exc: ValidationError, doc: Document, root: type[BaseModel]) -> list[RecipeError]:
    """One `RecipeError` per distinct problem in `exc`, positioned in `doc`."""
    grouped: dict[tuple, list[dict]] = {}
    out: list[RecipeError] = []
    for err in exc.errors(include_url=False):
        path, rest = _doc_path(doc.data, tuple(err["loc"]))
        kind = err["type"]
        if kind == "extra_forbidden":
            key = path[-1] if path else rest[0] if rest else "?"
            model = _model_at(root, doc.data, path[:-1])
            allowed = sorted(f.alias or n for n, f in model.model_fields.items()) if model else []
            hint = did_you_mean(str(key), allowed) or (f"expected one of: {', '.join(allowed)}" if allowed else None)
            out.append(doc.error(path, f"unknown key {key!r}", hint, key=True))
        elif kind == "missing":
            missing = rest[-1] if rest else (path[-1] if path else "?")
            where = ".".join(map(str, path)) or "the recipe"
            out.append(doc.error(path, f"missing required key {missing!r} in {where}"))
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            ctx = err.get("ctx", {})
            expected = ctx.get("expected_tags", "")
            if kind == "union_tag_not_found":
                out.append(doc.error(path, f"missing key 'source' (one of {expected})"))
            else:
                tag = ctx.get("tag")
                hint = did_you_mean(str(tag), [t.strip(" '") for t in expected.split(",")])
                out.append(doc.error(path + ("source",), f"unknown data source {tag!r}; expected one of {expected}", hint))
        else:
            grouped.setdefault(path, []).append(err)
    for path, errs in grouped.items():
        if any(other[: len(path)] == path and len(other) > len(path) for other in grouped):
            # Another union branch accepted the container; its inner errors are the real ones.
            continue
        value = errs[0].get("input")
        words = []
        for e in errs:
            word = _TYPE_WORDS.get(e["type"])
            if word and word not in words:
                words.append(word)
        if len(errs) > 1 and words and len(words) == len([e for e in errs if e["type"] in _TYPE_WORDS]):
            out.append(doc.error(path, f"expected {' or '.join(words)}, got {describe(value)}"))
            continue
        seen = set()
        for e in errs:
            word = _TYPE_WORDS.get(e["type"])
            msg = f"expected {word}, got {describe(value)}" if word else f"{e['msg']}, got {describe(e.get('input'))}"
            if msg not in seen:
                seen.add(msg)
                out.append(doc.error(path, msg))
    return out
