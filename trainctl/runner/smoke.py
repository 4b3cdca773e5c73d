"""Smoke runs: every recipe through its whole life, on a sliver of its data, in seconds.

For each recipe: validate → train one epoch on a few batches → checkpoint → resume in
a *new process* for a second epoch → evaluate → load `model.keras` with plain Keras.

Recipes are shared out among `jobs` worker processes. Each worker trains its share in
one interpreter (start-up and compile caches are paid once per worker, not per
recipe); then fresh workers resume, evaluate and load them. So the catalogue costs
2 × jobs interpreter start-ups, not two per recipe.

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
import threading
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


def _train(recipe: Path, run_dir: Path, overrides: list[str]) -> None:
    """Validate the recipe and train its first smoke epoch (this process); `overrides` win, as in `run --smoke`."""
    from trainctl.recipe import load_recipe
    from trainctl.runner.run import start

    loaded = load_recipe(recipe, overrides)
    start(load_recipe(recipe, [*smoke_overrides(loaded), *overrides]), run_dir,
          command=["smoke", str(recipe), *overrides])


def _finish(run_dir: Path) -> None:
    """Resume for a second epoch, evaluate, load with plain Keras (a process that did not train it)."""
    from trainctl.runner.evaluate import evaluate
    from trainctl.runner.run import resume

    resume(run_dir, ["train.epochs=2"], allow_drift=False)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    if [e["event"] for e in manifest["events"]].count("resume") != 1:
        raise TrainctlError("the second epoch did not resume from a checkpoint")
    for split in ("test", "validation", "train"):
        try:
            evaluate(run_dir, split)
            break
        except TrainctlError as exc:
            if "declares no" not in str(exc):
                raise
    import keras

    keras.saving.load_model(run_dir / "model.keras")


def _worker(phase: str, root: Path, overrides: list[str], items: list[str]) -> None:
    """`python -m trainctl.runner.smoke PHASE ROOT OVERRIDES_JSON ITEM...`.

    Prints `{"start": item}` as each item starts (the parent shows what is running), then
    one JSON line of results.
    """
    from trainctl.errors import RecipeInvalid
    from trainctl.logs.console import Reporter, set_reporter

    set_reporter(Reporter(quiet=True))
    out = {}
    for item in items:
        t0 = time.monotonic()
        stage, message = "", ""
        print(json.dumps({"start": item}), flush=True)
        try:
            if phase == "train":
                _train(Path(item), root / Path(item).stem, overrides)
            else:
                _finish(Path(item))
        except RecipeInvalid as exc:
            stage, message = "validate", str(exc)
        except Exception as exc:  # noqa: BLE001 - a smoke run reports every failure and goes on
            stage, message = phase, f"{type(exc).__name__}: {exc}"
        out[item] = {"seconds": time.monotonic() - t0, "stage": stage, "message": message}
    print(json.dumps(out))


_DOING = {"train": "training", "finish": "resuming, evaluating and loading"}


def _run_workers(phase: str, root: Path, items: list[str], jobs: int, overrides: list[str]) -> dict:
    chunks = [items[i::jobs] for i in range(jobs) if items[i::jobs]]
    procs = [subprocess.Popen([sys.executable, "-m", "trainctl.runner.smoke", phase, str(root),
                               json.dumps(overrides), *chunk],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=dict(os.environ))
             for chunk in chunks]
    report = get_reporter()
    last_lines: dict[int, str] = {}

    def follow(i: int, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            started = json.loads(line).get("start") if line.startswith('{"start"') else None
            if started is not None:
                report.info(f"{_DOING[phase]} {Path(started).stem if phase == 'train' else Path(started).name} ...")
            elif line.strip():
                last_lines[i] = line

    # One reader per worker so a long recipe in one does not hide what the others run.
    readers = [threading.Thread(target=follow, args=(i, proc), daemon=True) for i, proc in enumerate(procs)]
    for reader in readers:
        reader.start()
    results = {}
    for i, (chunk, proc) in enumerate(zip(chunks, procs)):
        stderr = proc.stderr.read()
        proc.wait()
        readers[i].join()
        try:
            results.update(json.loads(last_lines[i]))
        except (ValueError, KeyError):
            for item in chunk:
                results[item] = {"seconds": 0.0, "stage": phase,
                                 "message": f"the worker process failed: {stderr.strip()[-2000:]}"}
    return results


def smoke(paths: list[Path], keep: Path | None = None, jobs: int | None = None,
          overrides: list[str] | None = None) -> list[SmokeResult]:
    """Smoke-run every recipe under `paths`; results in order. A failing recipe does not stop the others.

    `overrides` (`key=value`) apply to every recipe, as `trainctl run RECIPE key=value --smoke` would.
    """
    overrides = list(overrides or [])
    recipes = find_recipes(paths)
    if not recipes:
        raise TrainctlError(f"no recipes found in {', '.join(map(str, paths))}")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(recipes)))
    root = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="trainctl-smoke-"))
    trained = _run_workers("train", root, [str(r) for r in recipes], jobs, overrides)
    run_dirs = {str(r): str(root / r.stem) for r in recipes if not trained[str(r)]["stage"]}
    finished = _run_workers("finish", root, list(run_dirs.values()), jobs, overrides) if run_dirs else {}
    results = []
    for recipe in recipes:
        first = trained[str(recipe)]
        result = SmokeResult(recipe.stem, not first["stage"], first["seconds"], first["stage"], first["message"])
        second = finished.get(run_dirs.get(str(recipe), ""))
        if second is not None:
            result.seconds += second["seconds"]
            if second["stage"]:
                result.ok, result.stage = False, "resume/eval/load"
                result.message = second["message"]
        results.append(result)
    report = get_reporter()
    for r in results:
        line = f"{'ok  ' if r.ok else 'FAIL'}  {r.recipe:<32} {r.seconds:6.1f} s"
        report.info(line if r.ok else f"{line}  [{r.stage}] {r.message}")
    return results


if __name__ == "__main__":
    _worker(sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3]), sys.argv[4:])
