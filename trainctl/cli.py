"""The `trainctl` command line. It parses arguments and calls the library; nothing else.

Heavy modules (keras, jax, and everything that imports them) are imported inside the
commands that train or evaluate, so `--help`, `validate`, `schema` and `recipes` start fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from trainctl import __version__
from trainctl.errors import EXIT_SIGINT, EXIT_TRAINING_FAILED, TrainctlError

app = typer.Typer(
    name="trainctl",
    help="Declarative training for Keras 3 on JAX: a YAML recipe in, a trained, checkpointed, resumable model out.",
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_DEBUG = False


def _version(value: bool) -> None:
    if value:
        typer.echo(f"trainctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks for errors."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and results."),
) -> None:
    global _DEBUG
    _DEBUG = debug or bool(os.environ.get("TRAINCTL_DEBUG"))
    from trainctl.logs.console import Reporter, set_reporter

    set_reporter(Reporter(quiet=quiet))


def _reporter():
    from trainctl.logs.console import get_reporter

    return get_reporter()


_NO_COMPILE_CACHE = typer.Option(
    False, "--no-compile-cache",
    help="Compile afresh, without JAX's compilation cache (${XDG_CACHE_HOME:-~/.cache}/trainctl/jax or "
         "$TRAINCTL_COMPILE_CACHE; TRAINCTL_COMPILE_CACHE=off does the same).",
)


def _compile_cache(no_compile_cache: bool) -> None:
    if no_compile_cache:
        from trainctl.runner.compile_cache import ENV

        os.environ[ENV] = "off"


@app.command()
def validate(
    recipes: List[Path] = typer.Argument(..., help="Recipe files to check."),
    override: Optional[List[str]] = typer.Option(None, "--set", "-s", help="key.path=value override (repeatable)."),
    imports: Optional[List[str]] = typer.Option(
        None, "--import", help="Module custom code may come from, as if listed under `imports:` (repeatable)."
    ),
) -> None:
    """Check recipes without training (and without importing Keras); report every problem at once."""
    from trainctl.errors import RecipeInvalid
    from trainctl.recipe import load_recipe

    problems = []
    for path in recipes:
        try:
            load_recipe(path, override or [], imports)
        except RecipeInvalid as exc:
            problems.extend(exc.errors)
            continue
        _reporter().info(f"{path}: ok")
    if problems:
        raise RecipeInvalid(problems)


def _coordinator_option():
    return typer.Option(None, "--coordinator", envvar="TRAINCTL_COORDINATOR", metavar="HOST:PORT",
                        help="Address of process 0, for a run over several processes (docs/distributed.md).")


def _num_processes_option():
    return typer.Option(None, "--num-processes", envvar="TRAINCTL_NUM_PROCESSES", min=1,
                        help="How many processes train together (usually one per host).")


def _process_id_option():
    return typer.Option(None, "--process-id", envvar="TRAINCTL_PROCESS_ID", min=0,
                        help="This process's index, 0..N-1; process 0 writes the run directory.")


def _processes(coordinator, num_processes, process_id):
    from trainctl.distribution.processes import ProcessOptions

    return ProcessOptions(coordinator, num_processes, process_id)


@app.command(context_settings={"allow_extra_args": False})
def run(
    recipe: Path = typer.Argument(..., help="The recipe file."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key.path=value overrides, YAML-typed."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default runs/<name>-<timestamp>)."),
    resume_existing: bool = typer.Option(
        False, "--resume", help="If --out already holds this run's checkpoints, continue it (recipe unchanged)."
    ),
    smoke: bool = typer.Option(False, "--smoke", help="One epoch on two batches of each split: a quick check."),
    imports: Optional[List[str]] = typer.Option(
        None, "--import", help="Module custom code may come from, as if listed under `imports:` (repeatable)."
    ),
    coordinator: Optional[str] = _coordinator_option(),
    num_processes: Optional[int] = _num_processes_option(),
    process_id: Optional[int] = _process_id_option(),
    no_compile_cache: bool = _NO_COMPILE_CACHE,
) -> None:
    """Train a recipe into a run directory (model, checkpoints, logs)."""
    _compile_cache(no_compile_cache)
    from trainctl.recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides or []), imports)
    if smoke:
        from trainctl.runner.smoke import smoke_overrides

        loaded = load_recipe(recipe, [*smoke_overrides(loaded), *(overrides or [])], imports)
    from trainctl.runner.run import start

    start(loaded, out, command=["run", str(recipe), *list(overrides or [])], resume_existing=resume_existing,
          processes=_processes(coordinator, num_processes, process_id))


@app.command()
def resume(
    path: Path = typer.Argument(..., help="RUN_DIR, RUN_DIR/ckpt or RUN_DIR/ckpt/<step>."),
    overrides: Optional[List[str]] = typer.Argument(None, help="Changes allowed on resume, e.g. train.epochs=20."),
    allow_drift: bool = typer.Option(
        False, "--allow-drift", help="Allow changes that alter the run, a new topology included (recorded)."
    ),
    coordinator: Optional[str] = _coordinator_option(),
    num_processes: Optional[int] = _num_processes_option(),
    process_id: Optional[int] = _process_id_option(),
    no_compile_cache: bool = _NO_COMPILE_CACHE,
) -> None:
    """Continue an interrupted run exactly where its last checkpoint left it."""
    _compile_cache(no_compile_cache)
    from trainctl.runner.run import resume as resume_run

    resume_run(path, list(overrides or []), allow_drift,
               processes=_processes(coordinator, num_processes, process_id))


@app.command("eval")
def eval_(
    target: Path = typer.Argument(..., help="A run directory, or a model.keras inside one."),
    split: str = typer.Option("test", "--split", help="Which data split of the recipe: test, validation or train."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Evaluate on this .npz or .csv file instead (mapped and transformed like the recipe's data)."
    ),
    override: Optional[List[str]] = typer.Option(
        None, "--set", "-s", help="Recipe override for the data, e.g. data.test.slice=[0,1000] (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
    no_compile_cache: bool = _NO_COMPILE_CACHE,
) -> None:
    """Evaluate a trained model on its recipe's test split (or another split, or a file)."""
    _compile_cache(no_compile_cache)
    from trainctl.runner.evaluate import evaluate

    overrides = list(override or [])
    if data is not None:
        if data.suffix not in (".npz", ".csv"):
            raise TrainctlError(f"--data takes a .npz or .csv file, got {data}")
        overrides.append(f"data.{split}={{source: {data.suffix[1:]}, path: '{data.resolve()}'}}")
    metrics = evaluate(target, split, overrides)
    if as_json:
        _reporter().json(metrics)
    else:
        _reporter().table(f"{target} ({split})", ["metric", "value"], [[k, v] for k, v in metrics.items()])


@app.command("recipes")
def recipes_(directory: Optional[Path] = typer.Argument(None, help="Where to look (default: the shipped recipes/).")) -> None:
    """List the shipped recipes with one-line descriptions."""
    from trainctl.recipe.catalog import shipped_recipes

    _reporter().table("recipes", ["name", "file", "description"],
                      [[r.name, str(r.path), r.description] for r in shipped_recipes(directory)])


@app.command()
def init(
    name: str = typer.Argument(..., help="A shipped recipe's name (see `trainctl recipes`)."),
    dest: Path = typer.Argument(..., help="Where to write the copy."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Copy a shipped recipe to start from."""
    import shutil

    from trainctl.recipe.catalog import shipped_recipes
    from trainctl.recipe.structure import did_you_mean

    found = {r.name: r for r in shipped_recipes()}
    if name not in found:
        hint = did_you_mean(name, found) or "see `trainctl recipes`"
        raise TrainctlError(f"no shipped recipe named {name!r} ({hint})")
    if dest.exists() and not force:
        raise TrainctlError(f"{dest} exists; pass --force to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(found[name].path, dest)
    text = dest.read_text(encoding="utf-8")
    _reporter().info(f"wrote {dest}")
    if "imports:" in text:
        _reporter().info(f"it imports custom code from {found[name].path.parent / 'components'}: "
                         f"copy that package next to {dest} too")


@app.command()
def summary(
    recipe: Path = typer.Argument(..., help="The recipe file."),
    overrides: Optional[List[str]] = typer.Argument(None, help="key.path=value overrides."),
    plot_to: Optional[Path] = typer.Option(None, "--plot", help="Also draw the model graph (needs pydot + graphviz)."),
) -> None:
    """Print model.summary() of a recipe's model without training."""
    from trainctl.recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides or []))
    from trainctl.runner.describe import describe_model

    text = describe_model(loaded, plot_to)
    typer.echo(text)


@app.command()
def smoke(
    paths: List[Path] = typer.Argument(..., help="Recipe files or directories of recipes."),
    keep: Optional[Path] = typer.Option(None, "--keep", help="Keep the smoke run directories here."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: CPU count)."),
) -> None:
    """Run each recipe through validate, train, checkpoint, resume (new process), eval and load, on a sliver of data."""
    import time

    from trainctl.runner.smoke import smoke as smoke_run

    t0 = time.monotonic()
    results = smoke_run(paths, keep, jobs)
    failed = [r for r in results if not r.ok]
    _reporter().info(f"{len(results) - len(failed)} passed, {len(failed)} failed in {time.monotonic() - t0:.1f} s")
    if failed:
        raise typer.Exit(1)


@app.command()
def plot(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG path (default RUN_DIR/plots/curves.png)."),
) -> None:
    """Plot loss, every metric (train vs validation) and the learning rate to a PNG."""
    from trainctl.logs.plot import plot_run

    try:
        path = plot_run(run_dir, out)
    except FileNotFoundError as exc:
        raise TrainctlError(str(exc)) from None
    _reporter().info(f"wrote {path}")


@app.command()
def runs(root: Path = typer.Argument(Path("runs"), help="Directory holding run directories.")) -> None:
    """List runs: recipe name, status, epochs, best monitored metric."""
    from trainctl.logs.runs import list_runs

    rows = list_runs(root)
    if not rows:
        _reporter().info(f"no runs in {root}")
        return
    _reporter().table(
        f"runs in {root}",
        ["run", "recipe", "status", "epochs", "best", "started"],
        [[Path(r["path"]).name, r["name"], r["status"], r["epochs_done"],
          "" if r["best"] is None else f"{r['monitor']}={r['best']:.4g} (epoch {r['best_epoch']})", r["started"]]
         for r in rows],
    )


@app.command()
def schema(
    markdown: bool = typer.Option(False, "--markdown", help="Print the recipe reference (docs/recipes.md) instead."),
) -> None:
    """Print the recipe JSON Schema, for editors (yaml-language-server) to complete and check recipes."""
    from trainctl.recipe.reference import json_schema_text, markdown as reference

    typer.echo(reference() if markdown else json_schema_text(), nl=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `trainctl` console script: maps errors to documented exit codes.

    Usage errors are click's (exit 2, with its own "did you mean"); errors the user can
    fix are `TrainctlError`s, printed without a traceback unless `--debug`.
    """
    try:
        app(args=argv)
    except TrainctlError as exc:
        if _DEBUG:
            import traceback

            traceback.print_exc()
        _reporter().error(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # a second Ctrl-C, or one before training took over the signal
        _reporter().error("interrupted")
        sys.exit(EXIT_SIGINT)
    except Exception as exc:  # noqa: BLE001 - the last line of defence against a traceback
        if _DEBUG:
            raise
        _reporter().error(f"{type(exc).__name__}: {exc}\n(run with --debug for the Python traceback)")
        sys.exit(EXIT_TRAINING_FAILED)
