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
    from trainctl.logs.report import Reporter, set_reporter

    set_reporter(Reporter(quiet=quiet))


def _reporter():
    from trainctl.logs.report import get_reporter

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
