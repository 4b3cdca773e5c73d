"""`trainctl predict` against `model.predict`: rows/s, and peak RSS at 1M and 10M rows.

Trains a small MLP (16 features -> 64 -> 10, softmax) with `trainctl run --smoke`, writes
N random rows to a `.npy`, then runs, each in its own process under bench/peak_rss.py:

- `trainctl predict RUN --data x.npy -o out.npy` at every N (streamed, recorded per chunk);
- `model.predict` on the whole array loaded in memory, at the smallest N (and at every N
  with --keras-all), the same batch size.

Prints one JSON line per measurement and a summary; the claim checked is that peak RSS
at 10x the rows grows by less than --bound-mb.

    $ python bench/predict_bench.py /tmp/predict-bench                  # 1M and 10M rows
    $ python bench/predict_bench.py /tmp/predict-bench --rows 100000 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FEATURES = 16
RECIPE = f"""\
name: predict_bench
seed: 0
data:
  train: {{source: synthetic, samples: 4096}}
model:
  inputs: {{features: {{shape: [{FEATURES}]}}}}
  layers:
    - {{name: hidden, Dense: {{units: 64, activation: relu}}}}
  outputs:
    classes: {{Dense: {{units: 10, activation: softmax}}}}
compile:
  optimizer: adam
  loss: MeanSquaredError
train:
  epochs: 1
  batch_size: 64
"""
KERAS_PREDICT = """
import sys, time, numpy as np, keras
model = keras.saving.load_model(sys.argv[1])
x = np.load(sys.argv[2])
t0 = time.perf_counter()
y = model.predict(x, batch_size=int(sys.argv[3]), verbose=0)
print("ROWS_PER_S", len(x) / (time.perf_counter() - t0))  # compilation included, as in predict's rate
"""


def _env() -> dict:
    return {**os.environ, "CI": "1", "KERAS_BACKEND": "jax", "PYTHONPATH": str(REPO)}


def _measured(args: list[str], rss_file: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `python bench/peak_rss.py ARGS`; (process, wall seconds, peak RSS in MB)."""
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "peak_rss.py"), *args], capture_output=True,
                          text=True, env={**_env(), "PEAK_RSS_FILE": str(rss_file)}, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed:\n{proc.stderr[-3000:]}")
    return proc, wall, int(rss_file.read_text()) / 1024


def _input(path: Path, rows: int) -> None:
    if path.exists():
        return
    out = np.lib.format.open_memmap(path, mode="w+", dtype="float32", shape=(rows, FEATURES))
    rng = np.random.default_rng(rows)
    for start in range(0, rows, 1 << 20):
        stop = min(rows, start + (1 << 20))
        out[start:stop] = rng.random((stop - start, FEATURES), dtype="float32")
    out.flush()
    del out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", type=Path)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--keras-all", action="store_true", help="also time model.predict at every size")
    parser.add_argument("--bound-mb", type=float, default=300.0, help="allowed RSS growth from the smallest size")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    run_dir = args.work / "run"
    if not (run_dir / "model.keras").is_file():
        (args.work / "recipe.yaml").write_text(RECIPE)
        subprocess.run([sys.executable, "-m", "trainctl", "run", str(args.work / "recipe.yaml"), "--smoke",
                        "-o", str(run_dir)], check=True, env=_env(), cwd=REPO, capture_output=True)
    results = []
    for rows in sorted(args.rows):
        x = args.work / f"x-{rows}.npy"
        _input(x, rows)
        out = args.work / f"pred-{rows}.npy"
        out.unlink(missing_ok=True)
        proc, wall, rss = _measured(["-m", "trainctl", "predict", str(run_dir), "--data", str(x), "-o", str(out),
                                     "--batch-size", str(args.batch_size)], args.work / "rss.txt")
        rate = float(re.findall(r"(\d+) rows/s", proc.stderr)[-1])
        results.append({"what": "trainctl predict", "rows": rows, "rows_per_s": rate, "wall_s": round(wall, 1),
                        "peak_rss_mb": round(rss, 1)})
        print(json.dumps(results[-1]), flush=True)
        out.unlink()
        if rows == min(args.rows) or args.keras_all:
            script = args.work / "keras_predict.py"
            script.write_text(KERAS_PREDICT)
            proc, wall, rss = _measured([str(script), str(run_dir / "model.keras"), str(x), str(args.batch_size)],
                                        args.work / "rss.txt")
            rate = float(re.findall(r"ROWS_PER_S ([\d.]+)", proc.stdout)[-1])
            results.append({"what": "model.predict", "rows": rows, "rows_per_s": round(rate), "wall_s": round(wall, 1),
                            "peak_rss_mb": round(rss, 1)})
            print(json.dumps(results[-1]), flush=True)
    ours = [r for r in results if r["what"] == "trainctl predict"]
    growth = ours[-1]["peak_rss_mb"] - ours[0]["peak_rss_mb"]
    print(f"peak RSS {ours[0]['rows']} -> {ours[-1]['rows']} rows: +{growth:.0f} MB (bound {args.bound_mb:.0f} MB): "
          f"{'ok' if growth < args.bound_mb else 'EXCEEDED'}")
    (args.work / "results.json").write_text(json.dumps(results, indent=1))
    if growth >= args.bound_mb:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
