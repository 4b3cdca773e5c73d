"""Smoke runs: every recipe through its whole life, on a sliver of its data, in seconds.

For each recipe: validate → train one epoch on a few batches → checkpoint → resume in
a *new process* for a second epoch → evaluate → load `model.keras` with plain Keras.
All recipes train in this process; all resumes happen in one child process, so the
catalogue costs two interpreter start-ups, not two per recipe.

Example:

    $ trainctl smoke recipes/
    ok    mnist_mlp      2.1 s
    ok    multi_io       1.4 s
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trainctl.errors import TrainctlError
from trainctl.logs.console import get_reporter

BATCHES = 2  # per split and epoch


def smoke_overrides(loaded) -> list[str]:
    """Overrides that shrink a recipe to `BATCHES` batches per epoch, one epoch."""
    spec = loaded.spec
    batch = spec.train.batch_size or 32
    out = [f"data.limit={batch * BATCHES}", "train.epochs=1", "logs.plot=false", "checkpoint.every_steps=null"]
    if spec.train.steps_per_epoch:
        out.append(f"train.steps_per_epoch={min(spec.train.steps_per_epoch, BATCHES)}")
    if spec.data.train.source == "python":  # a PyDataset may be long: bound the steps, not the samples
        out += [f"train.steps_per_epoch={BATCHES}", "train.validation_steps=1"]
    return out


@dataclasses.dataclass
class SmokeResult:
    recipe: str
    ok: bool
    seconds: float
    stage: str = ""
    message: str = ""


def find_recipes(paths: list[Path]) -> list[Path]:
    """Recipe files named directly, or `*.yaml` inside named directories (sorted)."""
    out: list[Path] = []
    for path in paths:
        out += sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    return out


def _train_phase(recipe: Path, run_dir: Path) -> None:
    from trainctl.logs.console import Reporter, set_reporter
    from trainctl.recipe import load_recipe
    from trainctl.runner.run import start

    loaded = load_recipe(recipe)
    loaded = load_recipe(recipe, smoke_overrides(loaded))
    previous = set_reporter(Reporter(quiet=True))
    try:
        start(loaded, run_dir, command=["smoke", str(recipe)])
    finally:
        set_reporter(previous)


def _finish_phase(run_dir: Path) -> None:
    """In a fresh process: resume for a second epoch, evaluate, load with plain Keras."""
    from trainctl.runner.evaluate import evaluate
    from trainctl.runner.run import resume

    resume(run_dir, ["train.epochs=2"], allow_drift=False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    if [e["event"] for e in manifest["events"]].count("resume") != 1:
        raise TrainctlError("the second epoch did not resume from a checkpoint")
    recipe_splits = ("test", "validation", "train")
    for split in recipe_splits:
        try:
            evaluate(run_dir, split)
            break
        except TrainctlError as exc:
            if "declares no" not in str(exc):
                raise
    import keras

    keras.saving.load_model(run_dir / "model.keras")


def smoke(paths: list[Path], keep: Path | None = None) -> list[SmokeResult]:
    """Smoke-run every recipe under `paths`; results in order. Raises nothing for a failing recipe."""
    from trainctl.errors import RecipeInvalid

    report = get_reporter()
    recipes = find_recipes(paths)
    if not recipes:
        raise TrainctlError(f"no recipes found in {', '.join(map(str, paths))}")
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="trainctl-smoke-"))
    results: dict[Path, SmokeResult] = {}
    trained: list[tuple[Path, Path]] = []
    for recipe in recipes:
        t0 = time.monotonic()
        run_dir = root / recipe.stem
        try:
            _train_phase(recipe, run_dir)
            trained.append((recipe, run_dir))
            results[recipe] = SmokeResult(str(recipe), True, time.monotonic() - t0)
        except RecipeInvalid as exc:
            results[recipe] = SmokeResult(str(recipe), False, time.monotonic() - t0, "validate", str(exc))
        except Exception as exc:  # noqa: BLE001 - a smoke run reports every failure and goes on
            results[recipe] = SmokeResult(str(recipe), False, time.monotonic() - t0, "train",
                                          f"{type(exc).__name__}: {exc}")
    if trained:
        t0 = time.monotonic()
        child = subprocess.run(
            [sys.executable, "-m", "trainctl.runner.smoke", *[str(d) for _, d in trained]],
            capture_output=True, text=True, env=dict(os.environ),
        )
        per_run = (time.monotonic() - t0) / len(trained)
        try:
            finished = json.loads(child.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            finished = {str(d): f"the resume process failed: {child.stderr.strip()[-2000:]}" for _, d in trained}
        for recipe, run_dir in trained:
            result = results[recipe]
            result.seconds += per_run
            error = finished.get(str(run_dir), "no result from the resume process")
            if error:
                result.ok, result.stage, result.message = False, "resume/eval/load", error
    for recipe in recipes:
        r = results[recipe]
        line = f"{'ok  ' if r.ok else 'FAIL'}  {recipe.stem:<32} {r.seconds:6.1f} s"
        report.info(line if r.ok else f"{line}  [{r.stage}] {r.message}")
    return [results[r] for r in recipes]


def _child(run_dirs: list[str]) -> None:
    from trainctl.logs.console import Reporter, set_reporter

    set_reporter(Reporter(quiet=True))
    out = {}
    for run_dir in run_dirs:
        try:
            _finish_phase(Path(run_dir))
            out[run_dir] = ""
        except Exception as exc:  # noqa: BLE001 - reported per recipe by the parent
            out[run_dir] = f"{type(exc).__name__}: {exc}"
    print(json.dumps(out))


if __name__ == "__main__":
    _child(sys.argv[1:])
