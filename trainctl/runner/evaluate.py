"""`trainctl eval`: a trained model on a split of its recipe's data."""

from __future__ import annotations

from pathlib import Path

from trainctl.errors import TrainctlError
from trainctl.runner.rundir import RunDir


def evaluate(target: str | Path, split: str = "test", overrides: list[str] | None = None) -> dict[str, float]:
    """Metrics of the run's `model.keras` on `split`, as `{name: value}`.

    Example:

        >>> evaluate("runs/mnist_mlp-20261125-154000")
        {'loss': 0.12, 'sparse_categorical_accuracy': 0.964}
    """
    from trainctl.backend import keras
    from trainctl.compile import Builder, import_recipe_modules
    from trainctl.data import load_splits
    from trainctl.recipe import load_recipe_text
    from trainctl.runner.compile_cache import enable_compile_cache

    enable_compile_cache()
    target = Path(target)
    run_dir = RunDir.open(target.parent if target.suffix == ".keras" else target)
    model_path = target if target.suffix == ".keras" else run_dir.model
    if not model_path.is_file():
        manifest = run_dir.read_manifest()
        if manifest.get("status") == "failed":
            raise TrainctlError(f"{model_path} does not exist: the run failed (exit {manifest.get('exit_code')}: "
                                f"{manifest.get('error')}). Fix the cause, then `trainctl resume {run_dir.path}` "
                                "continues from its last checkpoint (or from step 0).")
        raise TrainctlError(f"{model_path} does not exist: the run has not finished. "
                            f"Resume it with `trainctl resume {run_dir.path}` first.")
    if split not in ("train", "validation", "test"):
        raise TrainctlError(f"--split must be train, validation or test, got {split!r}")
    base_dir = run_dir.read_manifest().get("base_dir") or str(run_dir.path)
    loaded = load_recipe_text(run_dir.recipe.read_text(encoding="utf-8"), str(run_dir.recipe), base_dir,
                              overrides or [])
    import_recipe_modules(loaded.spec.imports, loaded.base_dir, loaded.document)
    model = keras.saving.load_model(model_path)
    splits = load_splits(loaded, model, Builder(loaded).user_object)
    data = getattr(splits, split)
    if data is None:
        raise TrainctlError(f"the recipe declares no `data.{split}`; add one with --set data.{split}=... "
                            f"or choose another --split")
    results = model.evaluate(**data.as_fit_args(), batch_size=loaded.spec.train.batch_size, verbose=0,
                             return_dict=True)
    return {k: float(v) for k, v in results.items()}
