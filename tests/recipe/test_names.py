"""The shipped Keras name list matches the installed Keras, and says what Keras accepts."""

from __future__ import annotations

import json
from pathlib import Path

from trainctl.recipe import names

SHIPPED = Path(names.__file__).with_name("keras_names.json")


def _diff(fresh: dict, shipped: dict) -> list[str]:
    lines = []
    for cat in names.CATEGORIES:
        for part in ("classes", "strings", "arguments"):
            new, old = fresh["categories"][cat][part], shipped["categories"][cat][part]
            for key in sorted(set(new) | set(old)):
                if new.get(key) != old.get(key):
                    lines.append(f"{cat}.{part}[{key!r}]: shipped {old.get(key)!r}, Keras now {new.get(key)!r}")
    if fresh["dtypes"] != shipped["dtypes"]:
        lines.append(f"dtypes: shipped {shipped['dtypes']}, Keras now {fresh['dtypes']}")
    return lines


def test_shipped_names_match_installed_keras():
    fresh = names.generate()
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    diff = _diff(fresh, shipped)
    assert not diff, (
        "trainctl/recipe/keras_names.json is stale for Keras " + fresh["keras_version"]
        + "; run `python -m trainctl.recipe.names --write` and review the diff:\n  " + "\n  ".join(diff[:40])
    )
    # The file is exactly what the generator writes, so --write leaves no noise in git.
    assert SHIPPED.read_text(encoding="utf-8") == names.dumps({**fresh, "keras_version": shipped["keras_version"]})


def test_aliases_are_the_ones_keras_accepts():
    k = names.keras_names()
    assert k["losses"].strings["mse"] == "mean_squared_error"
    assert k["losses"].strings["SparseCategoricalCrossentropy"] == "SparseCategoricalCrossentropy"
    # compile() picks the variant from the shapes for these.
    assert k["losses"].strings["ce"] == names.AUTO
    assert k["metrics"].strings["acc"] == k["metrics"].strings["accuracy"] == names.AUTO
    assert k["metrics"].strings["mae"] == "MeanAbsoluteError"
    assert "crossentropy" not in k["metrics"].strings
    assert k["optimizers"].strings["rmsprop"] == "RMSprop"
    assert k["optimizers"].class_for("adam") == "Adam"
    # keras.optimizers.get("Lamb") fails in Keras 3.15: only the class form works.
    assert "Lamb" in k["optimizers"].classes and "Lamb" not in k["optimizers"].strings
    assert k["activations"].strings["swish"] == "silu"


def test_abstract_bases_are_not_offered():
    k = names.keras_names()
    assert not k["layers"].known("Layer")
    assert not k["losses"].known("Loss")
    assert not k["metrics"].known("Metric") and not k["metrics"].known("metric")
    assert not k["optimizers"].known("Optimizer")


def test_required_arguments_and_dtypes():
    k = names.keras_names()
    assert k["layers"].classes["Conv2D"] == ("filters", "kernel_size")
    assert k["metrics"].classes["MeanIoU"] == ("num_classes",)
    assert k["schedules"].classes["ExponentialDecay"] == ("initial_learning_rate", "decay_steps", "decay_rate")
    assert "bfloat16" in names.keras_dtypes() and "f4" not in names.keras_dtypes()


def test_constructor_arguments_are_listed_with_base_class_keywords():
    layers, callbacks = names.keras_names()["layers"], names.keras_names()["callbacks"]
    # Dense's own, Layer's (name, dtype) and what Layer takes out of **kwargs (input_shape).
    assert {"units", "activation", "name", "dtype", "input_shape"} <= layers.arguments["Dense"]
    assert {"monitor", "patience"} <= callbacks.arguments["EarlyStopping"]
    assert "name" in names.keras_names()["optimizers"].arguments["RMSprop"]
    checked = sum(len(names.keras_names()[c].arguments) for c in names.CATEGORIES)
    assert checked >= 250, checked  # every class of every category, in Keras 3.15
