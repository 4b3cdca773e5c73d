"""Check the model section: its mode, its layer entries and the functional graph.

Layers may only be called on inputs and *earlier* layers, so a recipe's graph has no
cycles by construction; a `from` that names a later layer is reported as such. The
result, `ModelInfo`, tells the compile and data checks which inputs and outputs exist.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from trainctl.recipe.context import CheckContext, describe
from trainctl.recipe.loader import PathT
from trainctl.recipe.modules import check_import_path
from trainctl.recipe.names import keras_dtypes, keras_names
from trainctl.recipe.refs import check_keyed
from trainctl.recipe.structure import did_you_mean

LAYER_KEYS = ("name", "from", "class", "args")
_FUNCTIONAL = ("inputs", "layers", "outputs")


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What is known statically about a model's inputs and outputs.

    `inputs`/`outputs` are names in order, or None where only building the model would
    tell (a subclassed model; the unnamed input of a `sequential` stack).

    Example:

        >>> check_model(ctx).outputs
        ('score_output', 'class_output')
    """

    kind: str  # "functional", "sequential", "subclassed" or "invalid"
    inputs: tuple[str, ...] | None = None
    outputs: tuple[str, ...] | None = None
    n_inputs: int | None = None
    n_outputs: int | None = None


def check_model(ctx: CheckContext) -> ModelInfo:
    """Check `model:` and describe its inputs and outputs."""
    model = ctx.get(("model",))
    if not isinstance(model, dict):
        return ModelInfo("invalid")
    if model.get("class") is not None:
        check_import_path(ctx, ("model", "class"), model["class"])
    kind = _mode(ctx, model)
    if kind == "sequential":
        return _check_sequential(ctx, model)
    if kind == "functional":
        return _Graph(ctx, model).check()
    return ModelInfo(kind)


def _mode(ctx: CheckContext, model: dict) -> str:
    """Which of the three exclusive model modes this is; reports mixtures."""
    functional = [k for k in _FUNCTIONAL if k in model]
    if model.get("args") and model.get("class") is None:
        ctx.error(("model", "args"), "`args` are the constructor arguments of a `class:` model",
                  "remove `args`, or add `class: 'module:Name'`", key=True)
    if "sequential" in model:
        for key in functional:
            ctx.error(("model", key), f"`{key}` cannot be combined with `sequential`",
                      "a model is either a `sequential` stack or a functional graph of `inputs`, `layers` and "
                      "`outputs`", key=True)
        if "class" in model:
            ctx.error(("model", "class"), "`class` cannot be combined with `sequential`",
                      "drop `sequential` for a subclassed model, or use `inputs`/`outputs` with `class`", key=True)
        return "sequential"
    if functional:
        if "input_shape" in model:
            ctx.error(("model", "input_shape"), "`input_shape` is for `sequential` and subclassed models",
                      "a functional model declares `inputs: {name: {shape: [...]}}`", key=True)
        for key in ("inputs", "outputs"):
            if not model.get(key):
                ctx.error(("model", functional[0]), f"a functional model needs `{key}`",
                          "e.g. inputs: {x: {shape: [784]}} and outputs: {y: {Dense: {units: 10}}}", key=True)
        return "functional" if model.get("inputs") and model.get("outputs") else "invalid"
    if model.get("class") is not None:
        return "subclassed"
    ctx.error(("model",), "a model needs `inputs` and `outputs` (a functional graph), `sequential` "
                          "(a stack of layers) or `class` (a subclassed model)", key=True)
    return "invalid"


def check_layer_entry(ctx: CheckContext, path: PathT, entry: Any, in_sequential: bool = False) -> None:
    """One layer: exactly one Keras layer key or `class:`, besides `name`/`from`/`args`."""
    if not isinstance(entry, dict):
        ctx.error(path, f"expected a layer mapping like {{Dense: {{units: 64}}}}, got {describe(entry)}")
        return
    layers = keras_names()["layers"]
    others = [k for k in entry if k not in LAYER_KEYS]
    known = [k for k in others if isinstance(k, str) and layers.class_for(k)]
    unknown = [k for k in others if k not in known]
    choices = [*LAYER_KEYS, *layers.all_names()]
    for key in unknown:
        hint = did_you_mean(str(key), choices) or "expected a layer from keras.layers, or `class: 'module:Name'`"
        ctx.error(path + (key,), f"unknown layer {key!r}" if not known else f"unknown key {key!r}", hint, key=True)
    if entry.get("class") is not None:
        check_import_path(ctx, path + ("class",), entry["class"])
        for key in known:
            ctx.error(path + (key,), f"a layer is a Keras layer or a `class:`, not both; got {key!r} and `class`",
                      key=True)
    elif "args" in entry:
        ctx.error(path + ("args",), "`args` go with `class:`; a Keras layer takes its arguments under its name",
                  "e.g. {Dense: {units: 64}}", key=True)
    for key in known[1:]:
        ctx.error(path + (key,), f"one layer per entry; this one has {known[0]!r} and {key!r}",
                  "put each layer in its own list item", key=True)
    if known and entry.get("class") is None:
        check_keyed(ctx, path, known[0], entry[known[0]], "layers")
    if not others and entry.get("class") is None:
        ctx.error(path, "a layer entry needs a Keras layer, e.g. {Dense: {units: 64}}, or `class: 'module:Name'`")
    if in_sequential and "from" in entry:
        ctx.error(path + ("from",), "`from` has no meaning in `sequential`: each layer takes the previous output",
                  "use `inputs`/`layers`/`outputs` for a graph", key=True)


def _check_sequential(ctx: CheckContext, model: dict) -> ModelInfo:
    stack = model.get("sequential") or []
    names: dict[str, PathT] = {}
    for i, entry in enumerate(stack):
        path = ("model", "sequential", i)
        check_layer_entry(ctx, path, entry, in_sequential=True)
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            _claim_name(ctx, names, entry["name"], path + ("name",))
    if not stack:
        ctx.error(("model", "sequential"), "`sequential` needs at least one layer")
    last = stack[-1] if stack and isinstance(stack[-1], dict) else {}
    outputs = (last["name"],) if isinstance(last.get("name"), str) else None
    return ModelInfo("sequential", inputs=None, outputs=outputs, n_inputs=1, n_outputs=1)


def _claim_name(ctx: CheckContext, names: dict[str, PathT], name: str, path: PathT, key: bool = False) -> bool:
    """Record a layer/input/output name; report a duplicate at its second use."""
    if name in names:
        ctx.error(path, f"name {name!r} is already used at line {ctx.line_of(names[name])}",
                  "Keras needs unique layer names, inputs and outputs included", key=key)
        return False
    names[name] = path
    return True


class _Graph:
    """The functional graph: nodes are inputs, layers and outputs; edges come from `from`."""

    def __init__(self, ctx: CheckContext, model: dict):
        self.ctx = ctx
        self.model = model
        self.inputs = model["inputs"] if isinstance(model.get("inputs"), dict) else {}
        self.layers = model.get("layers") or []
        self.outputs = model.get("outputs")
        self.names: dict[str, PathT] = {}  # name -> where it is defined
        self.node_of: dict[str, tuple] = {}  # name -> node id
        self.deps: dict[tuple, list[tuple]] = {}

    def check(self) -> ModelInfo:
        errors_before = len(self.ctx.errors)
        for name, spec in self.inputs.items():
            path = ("model", "inputs", name)
            _claim_name(self.ctx, self.names, name, path, key=True)
            self.node_of[name] = ("input", name)
            if isinstance(spec, dict):
                _check_input_spec(self.ctx, path, spec)
        layer_names = self._claim_layers()
        for i, entry in enumerate(self.layers):
            check_layer_entry(self.ctx, ("model", "layers", i), entry)
            self._connect(("layer", i), ("model", "layers", i), entry, i, layer_names)
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                self.node_of.setdefault(entry["name"], ("layer", i))
        output_names, roots = self._check_outputs(layer_names)
        if len(self.ctx.errors) == errors_before:
            self._check_inputs_used(roots)
        names = tuple(self.inputs)
        return ModelInfo("functional", inputs=names, outputs=tuple(output_names), n_inputs=len(names),
                         n_outputs=len(output_names))

    def _claim_layers(self) -> dict[str, int]:
        """Layer name -> index, claimed up front so a reference to a later layer can say where it is."""
        out = {}
        for i, entry in enumerate(self.layers):
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                if _claim_name(self.ctx, self.names, entry["name"], ("model", "layers", i, "name")):
                    out[entry["name"]] = i
        return out

    def _default_from(self, index: int | None) -> tuple | None:
        """The node a layer without `from` is called on: the previous layer, or the only input."""
        if index:
            return ("layer", index - 1)
        if len(self.inputs) == 1:
            return ("input", next(iter(self.inputs)))
        return None

    def _connect(self, node: tuple, path: PathT, entry: Any, index: int | None, later: dict[str, int]) -> None:
        """Resolve `from` (or its default) into edges; report names that are unknown or not yet defined."""
        self.deps[node] = []
        if not isinstance(entry, dict):
            return
        if "from" not in entry or entry["from"] is None:
            dep = self._default_from(index)
            if dep is None:
                listed = ", ".join(self.inputs)
                self.ctx.error(path, f"this layer needs `from:`: the model has several inputs ({listed})",
                               "e.g. from: " + (next(iter(self.inputs), "an_input")))
            else:
                self.deps[node].append(dep)
            return
        source = entry["from"]
        items = ([(source, path + ("from",))] if isinstance(source, str) else
                 [(v, path + ("from", i)) for i, v in enumerate(source)] if isinstance(source, list) else
                 [(v, path + ("from", k)) for k, v in source.items()] if isinstance(source, dict) else [])
        for name, at in items:
            dep = self.node_of.get(name) if isinstance(name, str) else None
            if dep is not None:
                self.deps[node].append(dep)
            elif name in later and node[0] == "layer":
                where = "is this layer itself" if later[name] == index else \
                    f"is defined later, at line {self.ctx.line_of(('model', 'layers', later[name]))}"
                self.ctx.error(at, f"layer {name!r} {where}",
                               "a layer can only be called on inputs and earlier layers, so the graph has no cycles")
            else:
                hint = did_you_mean(str(name), self.node_of) or f"expected one of: {', '.join(self.node_of)}"
                self.ctx.error(at, f"unknown layer or input {name!r}", hint)

    def _check_outputs(self, layer_names: dict[str, int]) -> tuple[list[str], list[tuple]]:
        """Output names in order, and the graph nodes they are."""
        names: list[str] = []
        roots: list[tuple] = []
        if isinstance(self.outputs, dict):
            last = len(self.layers) if self.layers else None
            for name, entry in self.outputs.items():
                path = ("model", "outputs", name)
                check_layer_entry(self.ctx, path, entry)
                if isinstance(entry, dict) and entry.get("name") not in (None, name):
                    self.ctx.error(path + ("name",), f"an output is named by its key ({name!r}), "
                                                     f"got name {entry['name']!r}", "remove `name`")
                _claim_name(self.ctx, self.names, name, path, key=True)
                node = ("output", name)
                self._connect(node, path, entry, last, {})
                self.node_of.setdefault(name, node)
                names.append(name)
                roots.append(node)
        elif isinstance(self.outputs, list):
            for i, name in enumerate(self.outputs):
                node = self.node_of.get(name) if isinstance(name, str) else None
                if node is None:
                    hint = did_you_mean(str(name), self.node_of) or f"expected one of: {', '.join(self.node_of)}"
                    self.ctx.error(("model", "outputs", i), f"output {name!r} is not a layer or input", hint)
                elif name in names:
                    self.ctx.error(("model", "outputs", i), f"output {name!r} is listed twice")
                else:
                    names.append(name)
                    roots.append(node)
        return names, roots

    def _check_inputs_used(self, roots: list[tuple]) -> None:
        seen: set[tuple] = set()
        stack = list(roots)
        while stack:
            node = stack.pop()
            if node not in seen:
                seen.add(node)
                stack.extend(self.deps.get(node, ()))
        for name in self.inputs:
            if ("input", name) not in seen:
                self.ctx.error(("model", "inputs", name), f"input {name!r} is not used by any output",
                               f"call a layer on it with `from: {name}`, or remove it", key=True)


def _check_input_spec(ctx: CheckContext, path: PathT, spec: dict) -> None:
    dtype = spec.get("dtype")
    if isinstance(dtype, str) and dtype not in keras_dtypes():
        ctx.error(path + ("dtype",), f"unknown Keras dtype {dtype!r}",
                  did_you_mean(dtype, keras_dtypes()) or f"expected one of: {', '.join(sorted(keras_dtypes()))}")
    for i, dim in enumerate(spec.get("shape") or []):
        if isinstance(dim, int) and not isinstance(dim, bool) and dim < 1:
            ctx.error(path + ("shape", i), f"a dimension must be a positive integer or null, got {dim}")
