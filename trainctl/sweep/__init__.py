"""Sweeps: many runs of one recipe over overrides (grid, random, Optuna search), resumable as one.

`trainctl sweep SWEEP.yaml [-o DIR] [--jobs N] [--storage URL] [--resume]`; see `spec` for
SWEEP.yaml, `controller` for the sweep directory and how a killed sweep resumes, `summary`
for sweep.csv, sweep.png and `trainctl runs DIR`. No Keras in the controller: each trial is
its own `trainctl run` process.

Example:

    >>> state = sweep_command(Path("sweeps/lr.yaml"), out=None, jobs=2)
    >>> state["trials"]["trial-000"]["status"]
    'completed'
"""

from __future__ import annotations

from pathlib import Path


def sweep_command(sweep_file: Path, out: Path | None, jobs: int = 1, storage: str | None = None,
                  resume: bool = False) -> dict:
    """Validate `sweep_file`, run it into `out` (default `sweeps/<file stem>`), print the ranked table."""
    from trainctl.errors import TrainingFailed
    from trainctl.logs.console import get_reporter
    from trainctl.sweep.controller import run_sweep
    from trainctl.sweep.spec import load_sweep
    from trainctl.sweep.summary import sweep_table

    sweep = load_sweep(sweep_file)
    out = out or Path("sweeps") / sweep_file.stem
    get_reporter().info(f"sweep directory: {out}")
    state = run_sweep(sweep, out, jobs, storage, resume, str(sweep_file))
    header, rows = sweep_table(out)
    get_reporter().table(f"sweep {out} by {state['metric']} ({state['mode']})", header, rows)
    failed = [name for name, t in state["trials"].items() if t["status"] == "failed"]
    if failed:
        raise TrainingFailed(f"{len(failed)} trial(s) failed: {', '.join(failed)} (their logs: {out}/logs/)")
    return state
