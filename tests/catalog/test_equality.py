"""Every recipe, smoke-run through the real CLI, equals the guide's hand-written Keras 3 code.

One `trainctl smoke recipes/` (the CI smoke run: validate → train one epoch on two
batches → checkpoint → resume in a new process for a second epoch → eval → plain
`keras.saving.load_model`) produces a model per recipe. Each is compared, weight for
weight, with the reference port of the guide's code (tests/reference) trained on the
same two batches for two epochs. So each comparison proves two things at once: the
recipe builds and trains what the hand-written code does, and the interrupted,
resumed run equals the uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import RECIPES, run_cli
from tests.reference.registry import REFERENCES

RECIPE_FILES = sorted(RECIPES.glob("*.yaml"))


@pytest.fixture(scope="session")
def smoke_dir(tmp_path_factory):
    keep = tmp_path_factory.mktemp("smoke")
    proc = run_cli("smoke", RECIPES, "--keep", keep, timeout=3000)
    return keep, proc


def test_every_recipe_passes_smoke(smoke_dir):
    keep, proc = smoke_dir
    assert proc.returncode == 0, proc.stderr[-5000:]
    for recipe in RECIPE_FILES:
        assert f"ok    {recipe.stem} " in proc.stderr, recipe.stem


# Recipes that are not guide examples, each proven equal elsewhere.
NOT_FROM_THE_GUIDES = {
    "multi_io": "tests/runner/test_multi_io.py",
    "mnist_mlp_data_parallel": "tests/distribution",
    "mnist_images": "tests/data/test_streamed_runs.py",  # equal to the same digits as arrays
    "mnist_parquet": "tests/data/test_streamed_runs.py",
}


def test_every_recipe_has_a_reference_or_says_why():
    # A recipe without a hand-written reference is a recipe nothing proves equal.
    missing = [r.stem for r in RECIPE_FILES if r.stem not in REFERENCES and r.stem not in NOT_FROM_THE_GUIDES]
    assert not missing, f"recipes without a reference in tests/reference: {missing}"


def _fit_overrides(loaded) -> dict:
    """The reference's fit arguments that make it train what the smoke run trained."""
    from trainctl.runner.smoke import BATCHES

    out = {"epochs": 2, "verbose": 0}
    if loaded.spec.train.steps_per_epoch:
        out["steps_per_epoch"] = min(loaded.spec.train.steps_per_epoch, BATCHES)
    if loaded.spec.data.train.source == "python":
        out.update(steps_per_epoch=BATCHES, validation_steps=1)
    return out


@pytest.mark.parametrize("name", sorted(n for n in REFERENCES if (RECIPES / f"{n}.yaml").exists()))
def test_recipe_equals_hand_written(name, smoke_dir, tmp_path):
    import keras

    from trainctl.compile import import_recipe_modules
    from trainctl.recipe import load_recipe
    from trainctl.runner.smoke import BATCHES

    keep, _ = smoke_dir
    model_path = keep / name / "model.keras"
    assert model_path.is_file(), f"the smoke run of {name} did not finish"
    loaded = load_recipe(RECIPES / f"{name}.yaml")
    import_recipe_modules(loaded.spec.imports, loaded.base_dir, loaded.document)
    samples = (loaded.spec.train.batch_size or 32) * BATCHES
    reference = REFERENCES[name](seed=loaded.spec.seed, workdir=tmp_path, samples=samples)
    if isinstance(reference.fit["x"], keras.utils.PyDataset):
        # `data.limit` cuts arrays, not datasets: the smoke run bounded the steps instead.
        reference = REFERENCES[name](seed=loaded.spec.seed, workdir=tmp_path, samples=None)
    fit = _fit_overrides(loaded)
    if not isinstance(reference.fit["x"], keras.utils.PyDataset) and loaded.spec.train.batch_size:
        # The smoke run's steps_per_epoch makes Keras's batch size matter where the guide's
        # full run did not (one batch either way): train both with the recipe's.
        fit["batch_size"] = loaded.spec.train.batch_size
    reference.run(**fit)

    ours = keras.saving.load_model(model_path)
    theirs = reference.model
    assert ours.count_params() == theirs.count_params()
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    for a, b in zip(ours.weights, theirs.weights):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-6, err_msg=f"{name}: {a.path}")
