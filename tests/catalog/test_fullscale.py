"""Full scale: every catalogue recipe, one whole epoch on its whole data, equals its hand-written reference.

The smoke comparison (test_equality.py) trains two batches; this trains what a user
trains: `trainctl run RECIPE train.epochs=1` (as the recipe is: its own batch size,
`steps_per_execution`, validation...), and the reference's own `fit` for one epoch.
Weights and the epoch's loss must agree. It takes far longer than CI's budget:

    pytest -m slow tests/catalog/test_fullscale.py

Set TRAINCTL_FULLSCALE_REPORT=FILE to append one JSON line per recipe (max weight
difference, wall time), the figures quoted in docs/catalogue.md.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

from tests.conftest import RECIPES, start_cli
from tests.reference.registry import REFERENCES

NAMES = sorted(n for n in REFERENCES if (RECIPES / f"{n}.yaml").exists())


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_recipe_equals_reference_on_a_full_epoch(name, tmp_path):
    import keras

    from trainctl.compile import import_recipe_modules
    from trainctl.recipe import load_recipe

    t0 = time.monotonic()
    loaded = load_recipe(RECIPES / f"{name}.yaml")
    epochs = loaded.spec.train.initial_epoch + 1
    run_dir = tmp_path / "run"
    # The recipe trains in a subprocess while the reference trains here: two cores, half the wait.
    proc = start_cli("run", RECIPES / f"{name}.yaml", f"train.epochs={epochs}", "logs.plot=false", "-o", run_dir,
                     cwd=tmp_path)
    import_recipe_modules(loaded.spec.imports, loaded.base_dir, loaded.document)
    (tmp_path / "ref").mkdir()
    reference = REFERENCES[name](seed=loaded.spec.seed, workdir=tmp_path / "ref", samples=None)
    history = reference.run(epochs=epochs, verbose=0).history
    out, err = proc.communicate(timeout=3600)
    assert proc.returncode == 0, err[-3000:]

    ours = keras.saving.load_model(run_dir / "model.keras")
    theirs = reference.model
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    diff = max((float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(ours.weights, theirs.weights)
                if np.asarray(a).size), default=0.0)
    ours_history = json.loads((run_dir / "history.json").read_text())
    if report := os.environ.get("TRAINCTL_FULLSCALE_REPORT"):
        with open(report, "a") as f:
            f.write(json.dumps({"name": name, "max_weight_diff": diff, "seconds": round(time.monotonic() - t0, 1),
                                "loss": ours_history.get("loss"), "reference_loss": history.get("loss")}) + "\n")
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5, err_msg=f"{name}: {a.path}")
    if "loss" in history:
        np.testing.assert_allclose(ours_history["loss"][-1], history["loss"][-1], rtol=1e-5)
