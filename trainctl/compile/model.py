"""Recipe `model:` → a `keras.Model`: functional graph, Sequential stack or subclass.

Layers are created and called in recipe order, which is the order a hand-written
script creates them in, so with the same seed the initial weights are the same.

Example:

    >>> model = build_model(loaded, Builder(loaded))
    >>> [layer.name for layer in model.layers]
    ['digits', 'dense_1', 'dense_2', 'predictions']
"""

from __future__ import annotations

from typing import Any

from trainctl.backend import keras
from trainctl.compile.objects import Builder


def build_model(loaded, builder: Builder) -> keras.Model:
    """The model the recipe declares (not yet compiled)."""
    spec = loaded.spec.model
    if spec.sequential is not None:
        return _sequential(spec, builder)
    if spec.inputs:
        return _functional(spec, builder)
    if spec.class_:
        cls = builder.user_object(spec.class_, ("model", "class"))
        kwargs = builder.args(spec.args, ("model", "args"))
        if spec.name:
            kwargs.setdefault("name", spec.name)
        model = builder.call(cls, kwargs, ("model",), spec.class_)
        if spec.input_shape is not None:
            builder.call(model.build, {"input_shape": (None, *spec.input_shape)}, ("model", "input_shape"), "build")
        return model
    raise builder.fail(("model",), "a model needs `inputs` and `outputs`, `sequential`, or `class`")


def _sequential(spec, builder: Builder) -> keras.Model:
    layers = [builder.build_layer(layer, ("model", "sequential", i)) for i, layer in enumerate(spec.sequential)]
    kwargs: dict[str, Any] = {"layers": layers}
    if spec.name:
        kwargs["name"] = spec.name
    model = builder.call(keras.Sequential, kwargs, ("model", "sequential"), "Sequential")
    if spec.input_shape is not None:
        # model.build, as the guide does, rather than an Input layer: same weights either way,
        # and summary() shows what the hand-written model shows.
        builder.call(model.build, {"input_shape": (None, *spec.input_shape)}, ("model", "input_shape"), "build")
    return model


def _functional(spec, builder: Builder) -> keras.Model:
    nodes: dict[str, Any] = {}
    for name, inp in spec.inputs.items():
        kwargs = {k: v for k, v in inp.model_dump(exclude_none=True).items()}
        kwargs["shape"] = tuple(kwargs["shape"])
        nodes[name] = builder.call(keras.Input, {**kwargs, "name": name}, ("model", "inputs", name), "Input")
    previous = next(reversed(nodes.values()))

    def sources(ref, path):
        if ref is None:
            return previous
        if isinstance(ref, str):
            return _node(nodes, ref, builder, path)
        if isinstance(ref, list):
            return [_node(nodes, r, builder, path) for r in ref]
        return {k: _node(nodes, v, builder, path) for k, v in ref.items()}

    for i, layer_spec in enumerate(spec.layers):
        path = ("model", "layers", i)
        layer = builder.build_layer(layer_spec, path)
        previous = _call(layer, sources(layer_spec.from_, path + ("from",)), builder, path)
        nodes[layer_spec.name or layer.name] = previous

    if isinstance(spec.outputs, list):
        outputs = [_node(nodes, name, builder, ("model", "outputs", i)) for i, name in enumerate(spec.outputs)]
    elif spec.outputs:
        outputs = []
        last = previous
        for name, out_spec in spec.outputs.items():
            path = ("model", "outputs", name)
            layer = builder.build_layer(out_spec, path, name=name)
            src = last if out_spec.from_ is None else sources(out_spec.from_, path + ("from",))
            outputs.append(_call(layer, src, builder, path))
            nodes[name] = outputs[-1]
    else:
        outputs = [previous]
    inputs = [nodes[name] for name in spec.inputs]
    cls = builder.user_object(spec.class_, ("model", "class")) if spec.class_ else keras.Model
    kwargs = {
        "inputs": inputs[0] if len(inputs) == 1 else inputs,
        "outputs": outputs[0] if len(outputs) == 1 else outputs,
    }
    if spec.name:
        kwargs["name"] = spec.name
    return builder.call(cls, kwargs, ("model",), "building the model")


def _node(nodes: dict, name: str, builder: Builder, path: tuple) -> Any:
    if name not in nodes:
        raise builder.fail(path, f"no input or earlier layer named {name!r}")
    return nodes[name]


def _call(layer, src, builder: Builder, path: tuple):
    """Call a layer on its sources; a mapping `from` becomes keyword arguments."""
    if isinstance(src, dict):
        return builder.call(layer, src, path, f"calling {layer.name}")
    return builder.call(layer, {}, path, f"calling {layer.name}", args=(src,))
