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
from trainctl.errors import TrainctlError

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


@app.command()
def validate(
    recipes: List[Path] = typer.Argument(..., help="Recipe files to check."),
    override: Optional[List[str]] = typer.Option(None, "--set", "-s", help="key.path=value override (repeatable)."),
) -> None:
    """Check recipes without training (and without importing Keras); report every problem at once."""
    from trainctl.errors import RecipeInvalid
    from trainctl.recipe import load_recipe

    problems = []
    for path in recipes:
        try:
            load_recipe(path, override or [])
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
    coordinator: Optional[str] = _coordinator_option(),
    num_processes: Optional[int] = _num_processes_option(),
    process_id: Optional[int] = _process_id_option(),
) -> None:
    """Train a recipe into a run directory (model, checkpoints, logs)."""
    from trainctl.recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides or []))
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
) -> None:
    """Continue an interrupted run exactly where its last checkpoint left it."""
    from trainctl.runner.run import resume as resume_run

    resume_run(path, list(overrides or []), allow_drift,
               processes=_processes(coordinator, num_processes, process_id))


@app.command("eval")
def eval_(
    target: Path = typer.Argument(..., help="A run directory, or a model.keras inside one."),
    split: str = typer.Option("test", "--split", help="Which data split of the recipe: test, validation or train."),
    override: Optional[List[str]] = typer.Option(
        None, "--set", "-s", help="Recipe override for the data, e.g. data.test.path=other.npz (repeatable)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
) -> None:
    """Evaluate a trained model on its recipe's test split (or another split)."""
    from trainctl.runner.evaluate import evaluate

    metrics = evaluate(target, split, override or [])
    if as_json:
        _reporter().json(metrics)
    else:
        _reporter().table(f"{target} ({split})", ["metric", "value"], [[k, v] for k, v in metrics.items()])


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
