"""The recipe reference (docs/recipes.md) and the editor JSON Schema, both generated from the schema.

Every key's type, default and description come from `trainctl/recipe/schema.py`, the
transforms from `transforms.py`, the Keras names from `keras_names.json`, so the docs
cannot drift from what `trainctl validate` accepts. A test fails when docs/recipes.md
is stale; regenerate it with:

    python -m trainctl.recipe.reference --write

Example:

    >>> json_schema()["title"]
    'trainctl recipe'
    >>> markdown().splitlines()[0]
    '# Recipe reference'
"""

from __future__ import annotations

import json
import sys
import types
import typing
from pathlib import Path
from typing import Any, Iterator, Literal, Union

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from trainctl import errors
from trainctl.recipe.names import AUTO, keras_names
from trainctl.recipe.refs import KERAS_MODULE, WHAT
from trainctl.recipe.schema import Recipe
from trainctl.recipe.transforms import TRANSFORMS

DOCS_PATH = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_REF = Union[str, dict[str, Any]]  # the schema's component reference type, rendered as "ref"

# A short example per section, as the top-level YAML it belongs to; tests validate each one.
EXAMPLES: dict[str, str] = {
    "Recipe": """\
name: mnist_mlp
seed: 1
data:
  train: {source: mnist, split: train, slice: [null, -10000]}
  validation: {source: mnist, split: train, slice: [-10000, null]}
  transforms:
    x: [{reshape: [784]}, {cast: float32}, {divide: 255}]
model:
  inputs: {digits: {shape: [784]}}
  layers:
    - {name: dense_1, Dense: {units: 64, activation: relu}}
  outputs:
    predictions: {Dense: {units: 10, activation: softmax}}
compile:
  optimizer: {RMSprop: {learning_rate: 1.0e-3}}
  loss: SparseCategoricalCrossentropy
  metrics: [SparseCategoricalAccuracy]
train: {epochs: 2, batch_size: 64}
""",
    "DataSpec": """\
data:
  train: {source: mnist, split: train, slice: [null, -10000]}
  validation: {source: mnist, split: train, slice: [-10000, null]}
  test: {source: mnist, split: test}
  x: x
  y: y
  transforms:
    x: [{reshape: [784]}, {cast: float32}, {divide: 255}]
""",
    "MnistSource": "data:\n  train: {source: mnist, split: test, slice: [0, 1000]}\n",
    "NpzSource": "data:\n  train: {source: npz, path: data/train.npz, keys: {x: images, y: labels}}\n",
    "CsvSource": "data:\n  train: {source: csv, path: data/train.csv, columns: {x: [a, b], y: label}}\n",
    "ImagesSource": """\
data:
  train: {source: images, path: photos/train, image_size: [64, 64], color_mode: rgb}
  transforms:
    x: [{cast: float32}, {divide: 255}]
""",
    "ParquetSource": "data:\n  train: {source: parquet, path: \"data/part-*.parquet\", columns: {x: [a, b], y: label}}\n",
    "NpySource": "data:\n  train: {source: npy, arrays: {x: data/x.npy, y: data/y.npy}}\n",
    "SyntheticSource": """\
data:
  train:
    source: synthetic
    samples: 256
    arrays: {x: {shape: [784]}, y: {shape: [], dtype: int64, integers: 10}}
""",
    "PythonSource": """\
imports: [components.data]
data:
  train: {source: python, function: "components.data:load", args: {n: 100}}
""",
    "ModelSpec": """\
model:
  inputs:
    img_input: {shape: [32, 32, 3]}
    ts_input: {shape: [null, 10]}
  layers:
    - {name: x1, Conv2D: {filters: 3, kernel_size: 3}, from: img_input}
    - {name: x1p, GlobalMaxPooling2D: {}}
    - {name: x2, Conv1D: {filters: 3, kernel_size: 3}, from: ts_input}
    - {name: x2p, GlobalMaxPooling1D: {}}
    - {name: x, Concatenate: {}, from: [x1p, x2p]}
  outputs:
    score_output: {Dense: {units: 1}, from: x}
    class_output: {Dense: {units: 5, activation: softmax}, from: x}
""",
    "InputSpec": "model:\n  inputs: {tokens: {shape: [null], dtype: int32}}\n  outputs: {y: {Dense: {units: 1}}}\n",
    "LayerSpec": """\
imports: [components.layers]
model:
  inputs: {digits: {shape: [784]}}
  layers:
    - {name: hidden, Dense: {units: 64, activation: relu}}
    - {name: reg, class: "components.layers:ActivityRegularization", args: {rate: 0.01}, from: hidden}
  outputs: [reg]
""",
    "CompileSpec": """\
compile:
  optimizer: {Adam: {learning_rate: {ExponentialDecay: {initial_learning_rate: 0.01, decay_steps: 1000,
                                                        decay_rate: 0.9}}}}
  loss: {SparseCategoricalCrossentropy: {from_logits: true}}
  metrics: [accuracy]
""",
    "TrainSpec": """\
train:
  epochs: 3
  batch_size: 32
  validation_split: 0.2
  class_weight: {0: 1.0, 1: 2.0}
""",
    "callbacks": """\
callbacks:
  - {EarlyStopping: {monitor: val_loss, min_delta: 1.0e-2, patience: 2}}
  - {ReduceLROnPlateau: {factor: 0.5, patience: 1}}
""",
    "CheckpointSpec": "checkpoint: {every_epochs: 1, every_steps: 100, keep: 3}\n",
    "LogsSpec": "logs: {tensorboard: {update_freq: 10, histogram_freq: 1}, per_batch: false, plot: true}\n",
    "TensorBoardSpec": "logs:\n  tensorboard: {update_freq: epoch}\n",
    "MlflowSpec": """\
logs:
  mlflow: {tracking_uri: "http://127.0.0.1:5000", experiment: mnist, tags: {team: vision}}
""",
}

EXIT_CODES = {
    errors.EXIT_OK: "success",
    errors.EXIT_TRAINING_FAILED: "training failed (NaN loss, an exception in user code)",
    errors.EXIT_BAD_INPUT: "bad recipe, usage or data (every recipe problem is printed as `file:line:col: message`)",
    errors.EXIT_WRITE_FAILED: "a file of the run could not be written (disk full, read-only, no permission); the path "
                              "is named, nothing was replaced, earlier checkpoints are kept",
    errors.EXIT_SIGINT: "interrupted by SIGINT (Ctrl-C), after a clean checkpoint",
    errors.EXIT_SIGTERM: "interrupted by SIGTERM, after a clean checkpoint",
}


def json_schema() -> dict[str, Any]:
    """The recipe JSON Schema, for editors (yaml-language-server) to complete and check recipes."""
    schema = Recipe.model_json_schema(by_alias=True)
    return {"$schema": JSON_SCHEMA_DIALECT, "title": "trainctl recipe", **{k: v for k, v in schema.items()
                                                                          if k != "title"}}


def json_schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


# ---------------------------------------------------------------------- markdown


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _is_union(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (Union, types.UnionType)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _type(annotation: Any, bounds: str = "") -> str:
    """A field type as the docs show it: `integer ≥ 1 | null`, `list[ref]`, a link to a section."""
    if typing.get_origin(annotation) is typing.Annotated:
        metadata = typing.get_args(annotation)[1:]
        constraints = [c for m in metadata for c in (m.metadata if isinstance(m, FieldInfo) else [m])]
        bounds = ", ".join(filter(None, [bounds.strip(), *(_bounds(c) for c in constraints)]))
        bounds = f" {bounds}" if bounds else ""
    annotation = _unwrap(annotation)
    if annotation == _REF:
        return "[ref](#component-references)"
    if annotation is type(None):
        return "null"
    if annotation is Any:
        return "any"
    if _is_model(annotation):
        return f"[{annotation.__name__}](#{_anchor(annotation)})"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if _is_union(annotation):
        tagged = [a for a in args if _is_model(a) and _tag(a)]
        if len(tagged) > 1:  # a discriminated union: name the choices by their tag
            key = _tag(tagged[0])[0]
            choices = ", ".join(f"[{_tag(m)[1]}](#{_anchor(m)})" for m in tagged)
            rest = [_type(a) for a in args if a not in tagged]
            return " \\| ".join([f"a source (`{key}:` {choices})", *rest])
        return " \\| ".join(dict.fromkeys(_type(a, bounds) for a in args))
    if origin is Literal:
        return " \\| ".join(f"`{json.dumps(a)}`" for a in args)
    if origin is list:
        return f"list[{_type(args[0])}]"
    if origin is dict:
        return f"mapping[{_type(args[0])}, {_type(args[1])}]"
    names = {str: "string", int: "integer", float: "number", bool: "boolean"}
    shown = names.get(annotation, getattr(annotation, "__name__", str(annotation)))
    return shown + (bounds if annotation in (int, float, str) else "")


def _tag(model: type[BaseModel]) -> tuple[str, Any] | None:
    """(key, value) of the field that selects `model` in a union, like `source: npz`."""
    for name, field in model.model_fields.items():
        args = typing.get_args(field.annotation)
        if typing.get_origin(field.annotation) is Literal and len(args) == 1:
            return field.alias or name, args[0]
    return None


def _bounds(meta: Any) -> str:
    for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
        if getattr(meta, attr, None) is not None:
            return f"{sign} {getattr(meta, attr)}"
    if getattr(meta, "pattern", None):
        return f"matching `{meta.pattern}`"
    return ""


def _field_type(field: FieldInfo) -> str:
    annotation = field.annotation
    if field.metadata:
        annotation = typing.Annotated[(annotation, *field.metadata)]
    return _type(annotation)


def _yaml(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        value = field.default_factory()
        return "see below" if isinstance(value, BaseModel) else f"`{_yaml(value)}`"
    return f"`{_yaml(field.default)}`"


def _description(field: FieldInfo) -> str:
    text = field.description or ""
    args = typing.get_args(field.annotation)
    if not text and typing.get_origin(field.annotation) is Literal and len(args) == 1:
        text = "Selects this kind."
    if not text:
        model = next((m for m in _models(field.annotation)), None)
        text = _summary(model) if model else ""
    return text.replace("|", "\\|").replace("\n", " ")


def _summary(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").strip().split("\n\n")[0].split())


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    """The schema classes inside `annotation`, in order."""
    annotation = _unwrap(annotation)
    if _is_model(annotation):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models(arg)


def _table(model: type[BaseModel]) -> list[str]:
    lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    tag = _tag(model)
    fields = sorted(model.model_fields.items(), key=lambda kv: (kv[1].alias or kv[0]) != (tag and tag[0]))
    for name, field in fields:
        key = field.alias or name
        lines.append(f"| `{key}` | {_field_type(field)} | {_default(field)} | {_description(field)} |")
    if model.model_config.get("extra") == "allow":
        lines.append("| *a Keras layer* | mapping \\| null | | `{Dense: {units: 64}}`: exactly one per entry, "
                     "unless `class` is given |")
    return lines


def _example(key: str) -> list[str]:
    return ["", "```yaml", EXAMPLES[key].rstrip("\n"), "```"] if key in EXAMPLES else []


def _sections() -> list[tuple[int, str, list[str], type[BaseModel]]]:
    """(heading level, title, paths, model) for every schema class, depth first from the top level.

    A class reached through a tagged union (a data source) is titled by its tag, and what
    it contains by the tag too: `arrays.<name>` of `source: synthetic`.
    """
    paths: dict[type, list[str]] = {}
    found: list[tuple[int, str, type]] = []

    def walk(model: type[BaseModel], prefix: str, owner: str, level: int) -> None:
        for name, field in model.model_fields.items():
            key = field.alias or name
            for sub, suffix in _models_at(field.annotation):
                path = f"`{prefix}{key}{suffix}`"
                if sub in paths:
                    paths[sub].append(path)
                    continue
                paths[sub] = [path]
                tag = _tag(sub) if _is_tagged_union(field.annotation) else None
                title = f"`{tag[0]}: {tag[1]}`" if tag else path + owner
                found.append((level, title, sub))
                if tag:
                    walk(sub, "", f" of `{tag[0]}: {tag[1]}`", level + 1)
                else:
                    walk(sub, f"{prefix}{key}{suffix}.", owner, level + 1)

    walk(Recipe, "", "", 2)
    return [(level, title, paths[m], m) for level, title, m in found]


def _is_tagged_union(annotation: Any) -> bool:
    return sum(1 for m in _models(annotation) if _tag(m)) > 1


def _models_at(annotation: Any, suffix: str = "") -> Iterator[tuple[type[BaseModel], str]]:
    """The schema classes inside `annotation` with how they are reached: `.<name>` in a mapping, `[]` in a list."""
    annotation = _unwrap(annotation)
    if _is_model(annotation):
        yield annotation, suffix
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is list:
        yield from _models_at(args[0], suffix + "[]")
    elif origin is dict:
        yield from _models_at(args[1], suffix + ".<name>")
    else:
        for arg in args:
            yield from _models_at(arg, suffix)


def _refs_section() -> list[str]:
    names = keras_names()
    auto = {c: ", ".join(f"`{s}`" for s, t in names[c].strings.items() if t == AUTO) for c in ("losses", "metrics")}
    lines = [
        "## Component references",
        "",
        "Wherever a recipe names a Keras object (optimizer, loss, metric, callback, layer, learning rate",
        "schedule, activation), it uses one of three forms:",
        "",
        "```yaml",
        "optimizer: rmsprop                                     # a name Keras accepts as a string",
        "optimizer: {RMSprop: {learning_rate: 1.0e-3}}          # a Keras class and its keyword arguments",
        "loss: {class: \"components.losses:CustomMSE\", args: {regularization_factor: 0.1}}  # your own code",
        "```",
        "",
        "- A **string** is looked up the way Keras looks it up in that position (`keras.optimizers.get`,",
        "  `model.compile`'s loss and metric lookup, `keras.activations.get`). The losses",
        f"  {auto['losses']} and the metrics {auto['metrics']} let `compile` pick the binary, categorical",
        "  or sparse categorical variant from the shapes of the targets and predictions.",
        "- A **one-key mapping** `{Name: {arguments}}` (or `{Name: null}`) builds a Keras class; arguments the",
        "  class requires (e.g. `units` of `Dense`) must be given. A string alias of a function (`mse`) takes",
        "  no arguments: use its class (`MeanSquaredError`).",
        "- **`{class: \"module:Name\", args: {...}}`** builds `Name` from `module`, which must be listed under",
        "  `imports:` (or be a submodule of a listed package). A listed module is loaded from its file in the",
        "  recipe's directory (else as installed); the directory is never put on `sys.path`, and a module there",
        "  named like an installed package is refused unless `TRAINCTL_SHADOW=name` asks for it. Validation",
        "  finds the module without importing it.",
        "",
        "Some arguments are references themselves: an optimizer's `learning_rate` may be a learning rate",
        "schedule (`{Adam: {learning_rate: {ExponentialDecay: {...}}}}`), a layer's `activation` an activation.",
        "",
        "| category | used in | Keras namespace | classes | strings |",
        "| --- | --- | --- | --- | --- |",
    ]
    used = {
        "layers": "`model.layers`, `model.outputs`, `model.sequential`",
        "losses": "`compile.loss`",
        "metrics": "`compile.metrics`, `compile.weighted_metrics`",
        "optimizers": "`compile.optimizer`",
        "callbacks": "`callbacks`",
        "schedules": "an optimizer's `learning_rate`",
        "activations": "a layer's `activation`, `recurrent_activation`",
    }
    for cat, where in used.items():
        lines.append(f"| {WHAT[cat]} | {where} | `{KERAS_MODULE[cat]}` | {len(names[cat].classes)} "
                     f"| {len(names[cat].strings)} |")
    lines += ["", "The names are those of the installed Keras, listed in `trainctl/recipe/keras_names.json`",
              "(`python -m trainctl.recipe.names` prints them)."]
    return lines


def _transforms_section() -> list[str]:
    lines = [
        "### Data transforms",
        "",
        "`data.transforms` maps an array name to steps applied in order, to every split. Each step is a",
        "one-key mapping:",
        "",
        "| step | example | what it does |",
        "| --- | --- | --- |",
    ]
    for t in TRANSFORMS.values():
        lines.append(f"| `{t.name}` | `{{{t.name}: {_yaml(t.example)}}}` | {t.description} |")
    return lines


def markdown() -> str:
    """docs/recipes.md: every section and key with its type, default, description and an example."""
    out = [
        "# Recipe reference",
        "",
        "<!-- Generated by `python -m trainctl.recipe.reference --write` from trainctl/recipe/schema.py;",
        "     edit the schema, not this file. -->",
        "",
        "A recipe is a YAML file describing one training job. `trainctl validate RECIPE` checks it without",
        "training (and without importing Keras) and reports every problem at once as `file:line:col: message`.",
        "Any key can be overridden on the command line with `key.path=value` after the recipe (YAML-typed, checked",
        "like the file), the same in `run`, `validate`, `summary`, `smoke`, `eval` and `resume`:",
        "`trainctl run recipes/mnist_mlp.yaml train.epochs=5 model.layers.0.Dense.units=32`.",
        "",
        "Editors: `trainctl schema > recipe.schema.json` writes a JSON Schema; with the YAML extension",
        "(yaml-language-server), add `# yaml-language-server: $schema=recipe.schema.json` as a recipe's first line",
        "to get completion and checking as you type.",
        *_example("Recipe"),
        "",
        f'## Top level <a id="{_anchor(Recipe)}"></a>',
        "",
        *_table(Recipe),
    ]
    for level, title, paths, model in _sections():
        out += ["", f'{"#" * min(level, 4)} {title} <a id="{_anchor(model)}"></a>', "", _summary(model)]
        if len(paths) > 1:
            out += ["", f"Used in {', '.join(paths)}."]
        out += ["", *_table(model), *_example(model.__name__)]
        if model.__name__ == "DataSpec":
            out += [""] + _transforms_section()
    out += ["", "## `callbacks`", "", _description(Recipe.model_fields["callbacks"]) + " Each is a component "
            "reference; trainctl adds its own checkpoint and logging callbacks.", *_example("callbacks")]
    out += [""] + _refs_section()
    out += ["", "## Exit codes", "", "| code | meaning |", "| --- | --- |"]
    out += [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES.items()]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m trainctl.recipe.reference [--write]`: print or rewrite docs/recipes.md."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m trainctl.recipe.reference", description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"rewrite {DOCS_PATH}")
    args = parser.parse_args(argv)
    text = markdown()
    if args.write:
        DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOCS_PATH.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
