"""Export every shipped recipe to ONNX and check it against Keras: the table in docs/predict_export.md.

Each recipe is trained by `trainctl run --smoke` (a subprocess, a few at a time), then
exported in this process with `trainctl.export.export` (onnxruntime at batch sizes 1
and 7 against `model.predict`). Writes OUT_DIR/export_catalogue.json and prints a
Markdown table: recipe, result, max abs difference, or why it cannot export.

    $ python bench/export_catalogue.py /tmp/catalogue              # every recipe (~30 min on 2 cores)
    $ python bench/export_catalogue.py /tmp/catalogue mnist_mlp multi_io
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("KERAS_BACKEND", "jax")


def _train(recipe: Path, run_dir: Path) -> str | None:
    """Smoke-train `recipe` into `run_dir`; the error's last line if it fails."""
    if (run_dir / "model.keras").is_file():
        return None
    proc = subprocess.run([sys.executable, "-m", "trainctl", "run", str(recipe), "--smoke", "-o", str(run_dir)],
                          capture_output=True, text=True, env={**os.environ, "CI": "1"}, cwd=REPO)
    if proc.returncode != 0:
        return (proc.stderr.strip().splitlines() or ["exit %d" % proc.returncode])[-1]
    return None


def _first_line(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}" if not hasattr(exc, "exit_code") else str(exc)
    return " ".join(text.split())[:300]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("names", nargs="*", help="recipe names (default: all shipped recipes)")
    parser.add_argument("--jobs", type=int, default=2, help="smoke trainings at once")
    args = parser.parse_args()

    from trainctl.export import export
    from trainctl.logs.console import Reporter, set_reporter
    from trainctl.recipe.catalog import shipped_recipes

    set_reporter(Reporter(quiet=True))
    recipes = [r for r in shipped_recipes() if not args.names or r.name in args.names]
    args.out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        trainings = [pool.submit(_train, r.path, args.out_dir / f"run-{r.name}") for r in recipes]
        for recipe, training in zip(recipes, trainings):
            row = {"recipe": recipe.name}
            t0 = time.monotonic()
            failed = training.result()
            if failed:
                row.update(status="not trained", why=failed)
            else:
                artifact = args.out_dir / f"{recipe.name}.onnx"
                artifact.unlink(missing_ok=True)
                try:
                    checked = export(args.out_dir / f"run-{recipe.name}", "onnx", artifact)
                    row.update(status="exported", max_abs_diff=max(checked["max_abs_diff"].values()),
                               output_scale=checked["output_scale"], inputs=checked["inputs"],
                               outputs=checked["outputs"])
                except Exception as exc:  # noqa: BLE001 - the table records why
                    row.update(status="failed", why=_first_line(exc))
            row["seconds"] = round(time.monotonic() - t0, 1)
            results.append(row)
            print(json.dumps(row), flush=True)
    (args.out_dir / "export_catalogue.json").write_text(json.dumps(results, indent=1))
    exported = [r for r in results if r["status"] == "exported"]
    print(f"\n{len(exported)}/{len(results)} exported; worst max abs diff "
          f"{max((r['max_abs_diff'] for r in exported), default=0):.3g}\n")
    print("| recipe | ONNX | max abs diff (batch 1, 7) | inputs → outputs, or why not |\n|---|---|---|---|")
    for r in results:
        detail = (f"{', '.join(r['inputs'])} → {', '.join(r['outputs'])}" if r["status"] == "exported"
                  else r["why"].replace("|", "\\|"))
        diff = f"{r['max_abs_diff']:.2g}" if "max_abs_diff" in r else ""
        print(f"| {r['recipe']} | {r['status']} | {diff} | {detail} |")


if __name__ == "__main__":
    main()
