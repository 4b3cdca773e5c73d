"""`trainctl eval`: a trained model on a split of its recipe's data."""

from __future__ import annotations

import json
from pathlib import Path

from trainctl.errors import TrainctlError
from trainctl.runner.rundir import RunDir


def evaluate(target: str | Path, split: str = "test", overrides: list[str] | None = None,
             data_file: Path | None = None) -> dict[str, float]:
    """Metrics of the run's `model.keras` on `split`, as `{name: value}`.

    `data_file` (a .npz or .csv) replaces the recipe's data; it is read with the recipe's
    own `keys:`/`columns:`/`delimiter:` when the recipe's split (or, failing that, its
    training data) is of the same kind, so a file laid out like the training data needs
    no mapping. `overrides` (`data.x=...`, `data.y=...`) map its arrays otherwise.

    Example:

        >>> evaluate("runs/mnist_mlp-20261125-154000")
        {'loss': 0.12, 'sparse_categorical_accuracy': 0.964}
    """
    if split not in ("train", "validation", "test"):
        raise TrainctlError(f"--split must be train, validation or test, got {split!r}")
    loaded, model = load_trained(target, overrides, data_file, split)
    from trainctl.compile import Builder
    from trainctl.data import load_splits

    splits = load_splits(loaded, model, Builder(loaded).user_object)
    data = getattr(splits, split)
    if data is None:
        raise TrainctlError(f"the recipe declares no `data.{split}`; add one with `trainctl eval RUN_DIR data.{split}=...`, "
                            f"give a file with --data, or choose another --split")
    results = model.evaluate(**data.as_fit_args(), batch_size=loaded.spec.train.batch_size, verbose=0,
                             return_dict=True)
    return {k: float(v) for k, v in results.items()}


def load_trained(target: str | Path, overrides: list[str] | None = None, data_file: Path | None = None,
                 split: str = "test"):
    """`(loaded_recipe, model)` of a run directory or a `model.keras` inside one, ready to predict.

    The recipe is the run's own copy (with `overrides`), its `imports:` are imported, so
    custom objects resolve, and the model is loaded as saved. `eval`, `predict` and
    `export` all start here. With `data_file`, the file becomes `data.<split>` (and every
    other split), read as the recipe reads its own files of that kind (see `evaluate`).

    Example:

        >>> loaded, model = load_trained("runs/mnist_mlp-20261125-154000")
        >>> model.predict(x)
    """
    from trainctl.backend import keras
    from trainctl.compile import import_recipe_modules
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
    base_dir = run_dir.read_manifest().get("base_dir") or str(run_dir.path)
    text = run_dir.recipe.read_text(encoding="utf-8")
    # With a file, the overrides may name its arrays, which the recipe's own data lacks.
    loaded = load_recipe_text(text, str(run_dir.recipe), base_dir, [] if data_file else overrides or [])
    if data_file is not None:
        source = _file_source(loaded.spec.data, split, Path(data_file))
        # The file stands for every split, so `data.x`/`data.y` overrides name its arrays
        # alone, and the recipe's own data is not loaded at all.
        splits = {"train": source, "validation": None, "test": None, split: source}
        loaded = load_recipe_text(text, str(run_dir.recipe), base_dir,
                                  [*(f"data.{k}={json.dumps(v)}" for k, v in splits.items()),
                                   "train.validation_split=0", *(overrides or [])])
    import_recipe_modules(loaded.spec.imports, loaded.base_dir, loaded.document)
    return loaded, keras.saving.load_model(model_path)


# What says how a file's arrays are read, besides where it is (`slice` belongs to the old file).
_LAYOUT = {"npz": ("keys",), "csv": ("columns", "delimiter", "dtype")}


def _file_source(data, split: str, path: Path) -> dict:
    """The `data.<split>` source for `path`, reading it as the recipe reads its own files of that kind."""
    kind = path.suffix[1:]
    source = {"source": kind, "path": str(path.resolve())}
    for template in (getattr(data, split), data.train):
        if template is not None and template.source == kind:
            return {**source, **{k: getattr(template, k) for k in _LAYOUT[kind] if getattr(template, k) is not None}}
    return source
