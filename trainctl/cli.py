"""The `trainctl` command line. It parses arguments and calls the library; nothing else.

Heavy modules (keras, jax, and everything that imports them) are imported inside the
commands that train or evaluate, so `--help`, `validate`, `schema` and `recipes` start fast.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path
from typing import List, Optional

import typer

from trainctl import __version__
from trainctl.errors import EXIT_SIGINT, EXIT_TRAINING_FAILED, EXIT_WRITE_FAILED, TrainctlError


class _Group(typer.core.TyperGroup):
    """Help in the usual Unix form, whatever typer's version: `run [OPTIONS] RECIPE [OVERRIDES...]`
    (recent typers write required arguments as `{recipe}`) and no `<bool>` type after a flag."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for command in self.commands.values():
            command.collect_usage_pieces = functools.partial(_usage_pieces, command)
            command.get_params = functools.partial(_flags_untyped, command.get_params)

    def get_params(self, ctx):
        return _flags_untyped(super().get_params, ctx)


def _flags_untyped(get_params, ctx) -> list:
    """The parameters, with flags (`--help` and typer's own included) shown without a type."""
    params = get_params(ctx)
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # typer shows the metavar as the type column; a flag takes no value
    return params


def _usage_pieces(command, ctx) -> list[str]:
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if param.param_type_name == "argument":
            name = param.metavar or param.name.upper()
            name += "..." if param.nargs != 1 and "..." not in name else ""
            pieces.append(name if param.required else f"[{name}]")
    return pieces


app = typer.Typer(
    cls=_Group,
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


# `key.path=value`: a dotted key (list indices and dashes allowed), then '='. A file name with
# '=' in it would need a '/' or a suffix before the '=', which keys never have.
_OVERRIDE = re.compile(r"^[A-Za-z_][\w\-]*(\.[\w\-]+)*=")


def _split_overrides(args: List[str]) -> tuple[List[Path], List[str]]:
    """Positional arguments of commands that take several files: files, then `key=value` overrides.

    Example:

        >>> _split_overrides(["a.yaml", "train.epochs=3"])
        ([PosixPath('a.yaml')], ['train.epochs=3'])
    """
    paths, overrides = [], []
    for arg in args:
        if _OVERRIDE.match(arg) and not Path(arg).exists():
            overrides.append(arg)
        else:
            paths.append(Path(arg))
    return paths, overrides


_OVERRIDES_HELP = "key.path=value overrides, YAML-typed (e.g. train.epochs=5)."


def _compile_cache(no_compile_cache: bool) -> None:
    if no_compile_cache:
        from trainctl.runner.compile_cache import ENV

        os.environ[ENV] = "off"


@app.command()
def validate(
    args: List[str] = typer.Argument(..., metavar="RECIPE... [KEY=VALUE...]",
                                     help=f"Recipe files to check, then {_OVERRIDES_HELP}"),
    imports: Optional[List[str]] = typer.Option(
        None, "--import", help="Module custom code may come from, as if listed under `imports:` (repeatable)."
    ),
) -> None:
    """Check recipes without training (and without importing Keras); report every problem at once."""
    from trainctl.errors import RecipeInvalid
    from trainctl.recipe import load_recipe
    from trainctl.recipe.names import version_mismatch

    mismatch = version_mismatch()
    if mismatch:
        _reporter().warn(mismatch)

    recipes, overrides = _split_overrides(args)
    if not recipes:
        raise typer.BadParameter("name at least one recipe file", param_hint="RECIPE")
    problems = []
    for path in recipes:
        try:
            load_recipe(path, overrides, imports)
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
    overrides: Optional[List[str]] = typer.Argument(None, help=_OVERRIDES_HELP),
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
    overrides: Optional[List[str]] = typer.Argument(
        None, help="Recipe overrides for the data, e.g. data.test.slice=[0,1000]."),
    split: str = typer.Option("test", "--split", help="Which data split of the recipe: test, validation or train."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Evaluate on this .npz or .csv file instead, read with the recipe's own `keys:` or "
                             "`columns:` when its data is of the same kind."),
    x: Optional[str] = typer.Option(
        None, "--x", help="The file's array(s) fed to the model inputs, as `data.x` in a recipe: "
                          "a key, a list of keys or {input: key}."),
    y: Optional[str] = typer.Option(None, "--y", help="The file's array(s) used as targets, as `data.y`."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as one JSON object."),
    no_compile_cache: bool = _NO_COMPILE_CACHE,
) -> None:
    """Evaluate a trained model on its recipe's test split (or another split, or a file)."""
    _compile_cache(no_compile_cache)
    from trainctl.runner.evaluate import evaluate

    overrides = list(overrides or [])
    overrides += [f"data.{key}={value}" for key, value in (("x", x), ("y", y)) if value is not None]
    if data is not None and data.suffix not in (".npz", ".csv"):
        raise TrainctlError(f"--data takes a .npz or .csv file, got {data}")
    metrics = evaluate(target, split, overrides, data_file=data)
    if as_json:
        _reporter().json(metrics)
    else:
        _reporter().table(f"{target} ({split})", ["metric", "value"], [[k, v] for k, v in metrics.items()])


@app.command("predict")
def predict_(
    target: Path = typer.Argument(..., help="A run directory, or a model.keras inside one."),
    out: Path = typer.Option(..., "--out", "-o", help="Output file: .npy, .npz, .csv or .parquet."),
    split: Optional[str] = typer.Option(None, "--split", help="Predict on this split of the recipe: train, validation, test."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="Predict on this .npy, .npz, .csv or .parquet file (mapped and transformed like the recipe's data)."
    ),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", min=1, help="Default: the recipe's train.batch_size."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted prediction into OUT (same arguments)."),
    argmax: bool = typer.Option(False, "--argmax", help="Write class indices instead of class scores."),
    top_k: Optional[int] = typer.Option(None, "--top-k", min=1, help="Write the K best classes and their scores."),
    id_column: str = typer.Option("id", "--id-column", help="Input column/array carried over to the output."),
    chunk_rows: Optional[int] = typer.Option(
        None, "--chunk-rows", min=1,
        help="Rows read, predicted and recorded at a time (whole batches); default 32 MiB of input, or 16384 rows."),
    override: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Recipe override (repeatable)."),
    no_compile_cache: bool = _NO_COMPILE_CACHE,
) -> None:
    """Predict with a trained model on a split or a file of any size: streamed, resumable, atomic."""
    _compile_cache(no_compile_cache)
    from trainctl.predict import predict

    result = predict(target, out, split=split, data=data, batch_size=batch_size, resume=resume, argmax=argmax,
                     top_k=top_k, id_column=id_column, overrides=list(override or []),
                     chunk_rows=chunk_rows)
    _reporter().info(f"wrote {result['out']} ({result['rows']} rows)")


@app.command("export")
def export_(
    target: Path = typer.Argument(..., help="A run directory, or a model.keras inside one."),
    fmt: str = typer.Option("onnx", "--format", "-f", help="onnx (tf_saved_model, openvino, litert, torch need "
                                                              "TensorFlow or another backend: see docs/predict_export.md)."),
    out: Path = typer.Option(..., "--out", "-o", help="Where to write the artifact, e.g. model.onnx."),
    tolerance: float = typer.Option(1e-5, "--tolerance", min=0,
                                    help="Largest absolute difference from Keras allowed (times the largest "
                                         "output magnitude when above 1)."),
    override: Optional[List[str]] = typer.Option(None, "--set", "-s", help="Recipe override (repeatable)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was checked as one JSON object."),
    no_compile_cache: bool = _NO_COMPILE_CACHE,
) -> None:
    """Export a trained model (model.export), checked against Keras on the recipe's data; exit 1 beyond --tolerance."""
    _compile_cache(no_compile_cache)
    from trainctl.export import export

    result = export(target, fmt, out, tolerance=tolerance, overrides=list(override or []))
    if as_json:
        _reporter().json(result)
    else:
        _reporter().info(f"wrote {result['path']}: inputs {', '.join(result['inputs'])}; "
                         f"outputs {', '.join(result['outputs'])}")


@app.command("recipes")
def recipes_(directory: Optional[Path] = typer.Argument(None, help="Where to look (default: the shipped recipes/).")) -> None:
    """List the shipped recipes with one-line descriptions."""
    from trainctl.recipe.catalog import shipped_recipes

    _reporter().table("recipes", ["name", "file", "description"],
                      [[r.name, str(r.path), r.description] for r in shipped_recipes(directory)])


@app.command()
def init(
    name: str = typer.Argument(..., help="A shipped recipe's name (see `trainctl recipes`)."),
    dest: str = typer.Argument(..., help="Where to write the copy: a file, or a directory (DIR/NAME.yaml)."),
    force: bool = typer.Option(False, "--force", help="Overwrite the recipe file and component files that differ."),
) -> None:
    """Copy a shipped recipe, and the custom code it imports, to start from."""
    from trainctl.recipe.catalog import copy_recipe, shipped_recipes
    from trainctl.recipe.structure import did_you_mean

    found = {r.name: r for r in shipped_recipes()}
    if name not in found:
        hint = did_you_mean(name, found) or "see `trainctl recipes`"
        raise TrainctlError(f"no shipped recipe named {name!r} ({hint})")
    target = Path(dest)
    if dest.endswith(("/", os.sep)) or target.is_dir():
        target = target / f"{name}.yaml"
    try:
        written = copy_recipe(found[name], target, force)
    except FileExistsError as exc:
        raise TrainctlError(f"{exc} already exist(s); pass --force to overwrite") from None
    for path in written:
        _reporter().info(f"wrote {path}")


@app.command()
def summary(
    recipe: Path = typer.Argument(..., help="The recipe file."),
    overrides: Optional[List[str]] = typer.Argument(None, help=_OVERRIDES_HELP),
    plot_to: Optional[Path] = typer.Option(None, "--plot", help="Also draw the model graph (needs pip install 'trainctl[plot]' and Graphviz)."),
) -> None:
    """Print model.summary() of a recipe's model without training."""
    from trainctl.recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides or []))
    from trainctl.runner.describe import describe_model

    text = describe_model(loaded, plot_to)
    typer.echo(text)


@app.command()
def smoke(
    args: List[str] = typer.Argument(..., metavar="PATH... [KEY=VALUE...]",
                                     help=f"Recipe files or directories of recipes, then {_OVERRIDES_HELP}"),
    keep: Optional[Path] = typer.Option(None, "--keep", help="Keep the smoke run directories here."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", min=1, help="Worker processes (default: CPU count)."),
) -> None:
    """Run each recipe through validate, train, checkpoint, resume (new process), eval and load, on a sliver of data."""
    import time

    from trainctl.runner.smoke import smoke as smoke_run

    paths, overrides = _split_overrides(args)
    t0 = time.monotonic()
    results = smoke_run(paths, keep, jobs, overrides)
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
def sweep(
    sweep_file: Path = typer.Argument(..., help="The SWEEP.yaml: recipe, overrides, grid/random/search, metric."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Sweep directory (default sweeps/<file name>)."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Trials run at once (each on its share of the CPUs)."),
    storage: Optional[str] = typer.Option(None, "--storage", help="search: Optuna storage URL shared by hosts."),
    resume_sweep: bool = typer.Option(False, "--resume", help="Continue the sweep in --out (SWEEP.yaml unchanged)."),
) -> None:
    """Run a recipe over overrides (grid, random or Optuna search), each trial a run directory; resumable."""
    from trainctl.sweep import sweep_command

    sweep_command(sweep_file, out, jobs, storage, resume_sweep)


@app.command()
def runs(root: Path = typer.Argument(Path("runs"), help="Directory holding run directories, or a sweep's.")) -> None:
    """List runs: recipe name, status, epochs, best monitored metric (a sweep's trials: by its metric)."""
    from trainctl.logs.runs import list_runs
    from trainctl.sweep.summary import sweep_table

    if (table := sweep_table(root)) is not None:
        _reporter().table(f"sweep {root}", *table)
        return
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
        from trainctl.atomic import WRITE_ERRNOS

        if isinstance(exc, OSError) and exc.errno in WRITE_ERRNOS and exc.filename:  # e.g. a read-only -o
            _reporter().error(f"cannot write {exc.filename}: {exc.strerror}")
            sys.exit(EXIT_WRITE_FAILED)
        _reporter().error(f"{type(exc).__name__}: {exc}\n(run with --debug for the Python traceback)")
        sys.exit(EXIT_TRAINING_FAILED)
