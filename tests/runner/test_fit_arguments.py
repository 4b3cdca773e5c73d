"""Every `model.fit` argument a recipe accepts, at every `steps_per_execution`, equals hand-written `fit`.

Whole epochs on real MNIST: long enough that `auto` fuses its executions, with a
smaller last batch in training and validation, so every path of the loop runs
(fused executions, separate ones, the last batch on its own, validation). Each case
runs trainctl in this process (`trainctl.runner.run.start`, as `trainctl run` does)
and hand-written Keras with the same arguments, and compares the history and every
weight and optimizer variable, to the last bit.

The reference runs `fit` with the same `steps_per_execution`, except for `auto` (its
promise is the result of 1) and where Keras's fixed-size executions would run past
`steps_per_epoch` or `validation_steps` (`fit` with 7 steps per execution and
`validation_steps: 10` evaluates 14 batches; trainctl evaluates 10, as `fit` does
with 1): there the reference is `fit` with one step per execution.

The CI cases use a 3,000-sample slice; `pytest -m slow tests/runner/test_fit_arguments.py`
runs every argument at every value on the full 50,000/10,000 split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, run_cli

SEED = 3
SPE = [1, "auto", 7]

# name -> (train: overrides, fit: keyword arguments); each one fit argument (or two that go together).
CASES = {
    "plain": ({}, {}),
    "validation_steps": ({"validation_steps": 10}, {"validation_steps": 10}),
    "validation_freq": ({"validation_freq": 2, "epochs": 3}, {"validation_freq": 2, "epochs": 3}),
    "validation_batch_size": ({"validation_batch_size": 100}, {"validation_batch_size": 100}),
    "steps_per_epoch": ({"steps_per_epoch": 20, "epochs": 3}, {"steps_per_epoch": 20, "epochs": 3}),
    "validation_split": ({"validation_split": 0.2}, {"validation_split": 0.2}),
    "class_weight": ({"class_weight": {5: 2.0, 3: 0.5}}, {"class_weight": {5: 2.0, 3: 0.5}}),
    "sample_weight": ({}, {"sample_weight": True}),
    "initial_epoch": ({"initial_epoch": 1, "epochs": 3}, {"initial_epoch": 1, "epochs": 3}),
    "shuffle_false": ({"shuffle": False}, {"shuffle": False}),
    "shuffle_batch": ({"shuffle": "batch"}, {"shuffle": "batch"}),
    "batch_size_null": ({"batch_size": None}, {"batch_size": None}),
}
CI_CASES = [("validation_steps", spe) for spe in SPE] + [
    ("steps_per_epoch", 7), ("sample_weight", "auto"), ("validation_freq", "auto"), ("initial_epoch", "auto"),
    ("shuffle_batch", "auto"),  # passed on as "batch", not as True
]


def _data(tmp: Path, full: bool) -> Path:
    """MNIST as the recipes transform it, with per-sample weights, in an npz."""
    with np.load(REPO / "trainctl" / "data" / "mnist.npz") as f:
        x, y = f["x_train"], f["y_train"]
    x = x.reshape(len(x), 784).astype("float32") / 255
    y = y.astype("float32")
    sw = np.where(y == 7, 3.0, 1.0).astype("float32")
    if full:
        train, val = slice(None, -10000), slice(-10000, None)
    else:
        train, val = slice(0, 3000), slice(3000, 4000)
    path = tmp / "mnist.npz"
    np.savez(path, x=x[train], y=y[train], sample_weight=sw[train], vx=x[val], vy=y[val], vsw=sw[val])
    return path


def _recipe(data: Path, train: dict, spe, sample_weight: bool) -> str:
    validation = "" if "validation_split" in train else \
        f"  validation: {{source: npz, path: {data}, keys: {{x: vx, y: vy, sample_weight: vsw}}}}\n"
    train = {"epochs": 2, "batch_size": 64, **train}
    return (
        "name: fit_arguments\n"
        f"seed: {SEED}\n"
        "data:\n"
        f"  train: {{source: npz, path: {data}, keys: {{x: x, y: y, sample_weight: sample_weight}}}}\n"
        + validation
        + ("  sample_weight: sample_weight\n" if sample_weight else "")
        + "model:\n"
        "  inputs: {digits: {shape: [784]}}\n"
        "  layers:\n"
        "    - {name: dense_1, Dense: {units: 64, activation: relu}}\n"
        "    - {name: dense_2, Dense: {units: 64, activation: relu}}\n"
        "  outputs:\n"
        "    predictions: {Dense: {units: 10, activation: softmax}}\n"
        "compile:\n"
        "  optimizer: {RMSprop: {learning_rate: 1.0e-3}}\n"
        "  loss: SparseCategoricalCrossentropy\n"
        "  metrics: [SparseCategoricalAccuracy]\n"
        f"  steps_per_execution: {spe}\n"
        f"train: {json.dumps(train)}\n"
        "checkpoint: {enabled: false}\n"
        "logs: {plot: false}\n"
    )


def _reference_spe(spe, fit_args: dict) -> int:
    if spe == "auto":
        return 1
    runs_past = [fit_args.get(k) for k in ("steps_per_epoch", "validation_steps") if fit_args.get(k)]
    return 1 if any(n % spe for n in runs_past) else spe


def _hand_written(data: Path, spe, fit_args: dict):
    """The recipe as the guide writes it: `keras.Model` + `compile` + `fit`."""
    import keras

    fit_args = dict(fit_args)
    with np.load(data) as f:
        arrays = dict(f)
    keras.utils.set_random_seed(SEED)
    inputs = keras.Input(shape=(784,), name="digits")
    h = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    h = keras.layers.Dense(64, activation="relu", name="dense_2")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="predictions")(h)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy()],
                  steps_per_execution=_reference_spe(spe, fit_args))
    weighted = fit_args.pop("sample_weight", False)
    if weighted:
        fit_args["sample_weight"] = arrays["sample_weight"]
    if "validation_split" not in fit_args:
        fit_args["validation_data"] = (arrays["vx"], arrays["vy"], *([arrays["vsw"]] if weighted else []))
    history = model.fit(arrays["x"], arrays["y"], **{"epochs": 2, "batch_size": 64, **fit_args}, verbose=0)
    return model, history.history


def _trainctl(tmp: Path, data: Path, train: dict, spe, sample_weight: bool):
    import keras

    from trainctl.recipe import load_recipe
    from trainctl.runner.run import start

    recipe = tmp / f"recipe_{spe}.yaml"
    recipe.write_text(_recipe(data, train, spe, sample_weight))
    out = tmp / f"run_{spe}"
    result = start(load_recipe(recipe), out, command=["run", str(recipe)])
    manifest = json.loads((out / "manifest.json").read_text())
    return keras.saving.load_model(out / "model.keras"), result.history, manifest["steps_per_execution"]


def _assert_equal(ours, theirs) -> None:
    (model, history, _), (ref, ref_history) = ours, theirs
    assert history == ref_history
    for a, b in zip(model.weights, ref.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    for a, b in zip(model.optimizer.variables, ref.optimizer.variables, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)


def _check(tmp: Path, data: Path, case: str, spe) -> dict:
    train, fit_args = CASES[case]
    sample_weight = bool(fit_args.get("sample_weight"))
    ours = _trainctl(tmp, data, train, spe, sample_weight)
    _assert_equal(ours, _hand_written(data, spe, fit_args))
    return ours[2]


@pytest.fixture(scope="module")
def small_data(tmp_path_factory) -> Path:
    return _data(tmp_path_factory.mktemp("mnist_slice"), full=False)


@pytest.mark.parametrize("case,spe", CI_CASES, ids=[f"{c}-{s}" for c, s in CI_CASES])
def test_fit_argument_equals_hand_written_fit(small_data, tmp_path, case, spe, monkeypatch):
    monkeypatch.setattr("trainctl.runner.execution.TARGET_SECONDS", 60.0)  # not shortened by the machine's load
    plan = _check(tmp_path, small_data, case, spe)
    if spe == "auto" and case != "steps_per_epoch":
        assert plan["fused"] == "on", plan  # the fused path was the one compared


@pytest.fixture(scope="module")
def full_data(tmp_path_factory) -> Path:
    return _data(tmp_path_factory.mktemp("mnist_full"), full=True)


@pytest.mark.slow
@pytest.mark.parametrize("spe", SPE)
@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_argument_equals_hand_written_fit_full_scale(full_data, tmp_path, case, spe, monkeypatch):
    monkeypatch.setattr("trainctl.runner.execution.TARGET_SECONDS", 60.0)
    plan = _check(tmp_path, full_data, case, spe)
    if spe == "auto":
        assert plan["fused"] == "on", plan


def test_validation_steps_are_respected_through_the_cli(small_data, tmp_path):
    # The command: `auto` ran 46-step executions, and validation evaluated 46 batches, not 10.
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(_recipe(small_data, {"epochs": 1, "validation_steps": 3}, "auto", False))
    run_cli("run", recipe, "-o", tmp_path / "run", check=True)
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    model, ref_history = _hand_written(small_data, 1, {"epochs": 1, "validation_steps": 3})
    assert history == ref_history
    with np.load(small_data) as f:
        vx, vy = f["vx"][:3 * 64], f["vy"][:3 * 64]
    correct = float(np.sum(np.argmax(model.predict(vx, verbose=0), axis=-1) == vy))
    assert history["val_sparse_categorical_accuracy"] == [pytest.approx(correct / len(vy), abs=1e-7)]
