"""The quickstart recipe: trains on the real MNIST, reaches the guide's accuracy, and equals hand-written Keras."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO, RECIPES, run_cli


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "mnist"
    run_cli("run", RECIPES / "mnist_mlp.yaml", "-o", run_dir, check=True)
    return run_dir


def test_run_directory_contents(mnist_run: Path):
    for name in ("recipe.yaml", "manifest.json", "model.keras", "history.json", "metrics.csv", "metrics.jsonl"):
        assert (mnist_run / name).is_file(), name
    manifest = json.loads((mnist_run / "manifest.json").read_text())
    assert manifest["status"] == "completed" and manifest["exit_code"] == 0
    assert manifest["seed"] == 1 and len(manifest["recipe_sha256"]) == 64
    assert set(manifest["versions"]) >= {"trainctl", "keras", "jax", "python"}
    assert [e["event"] for e in manifest["events"]][0] == "start"


def test_eval_json_reaches_guide_accuracy(mnist_run: Path):
    proc = run_cli("eval", mnist_run, "--json", check=True)
    metrics = json.loads(proc.stdout)
    assert metrics["sparse_categorical_accuracy"] >= 0.95, metrics


def test_weights_equal_hand_written_keras(mnist_run: Path):
    import keras

    from tests.reference.common import get_uncompiled_model

    with np.load(REPO / "trainctl" / "data" / "mnist.npz") as f:
        x_train, y_train = f["x_train"], f["y_train"]
    # The guide's code (seed 001), ported to Keras 3.
    x_train = x_train.reshape(60000, 784).astype("float32") / 255
    y_train = y_train.astype("float32")
    x_val, y_val = x_train[-10000:], y_train[-10000:]
    x_train, y_train = x_train[:-10000], y_train[:-10000]
    keras.utils.set_random_seed(1)
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_data=(x_val, y_val), verbose=0)

    ours = keras.saving.load_model(mnist_run / "model.keras")
    assert [l.name for l in ours.layers] == [l.name for l in model.layers]
    assert ours.count_params() == model.count_params() == 55050
    for a, b in zip(ours.weights, model.weights):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    ours_history = json.loads((mnist_run / "history.json").read_text())
    for key, values in history.history.items():
        assert ours_history[key] == values, key


def test_eval_on_a_file_and_on_another_split(mnist_run: Path, tmp_path: Path):
    with np.load(REPO / "trainctl" / "data" / "mnist.npz") as f:
        np.savez(tmp_path / "some.npz", x=f["x_test"][:500], y=f["y_test"][:500])
    on_file = json.loads(run_cli("eval", mnist_run, "--data", tmp_path / "some.npz", "--json", check=True).stdout)
    assert on_file["sparse_categorical_accuracy"] >= 0.9
    validation = json.loads(run_cli("eval", mnist_run, "--split", "validation", "--json", check=True).stdout)
    history = json.loads((mnist_run / "history.json").read_text())
    assert validation["loss"] == pytest.approx(history["val_loss"][-1], rel=1e-5)
    proc = run_cli("eval", mnist_run, "--data", tmp_path / "missing.npz")
    assert proc.returncode == 2 and "not found" in proc.stderr and "Traceback" not in proc.stderr
