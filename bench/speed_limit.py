"""trainctl against the practical limit (bench/purejax.py): whole runs, start-up cancelled out.

For a model (the MNIST MLP recipe, or the convolutional bench/mnist_cnn.yaml), each
round runs, in its own process and in a rotating order so that the machine's load
falls on all alike: the pure JAX program for E epochs and for 1, and `trainctl run`
of the recipe with its defaults for E epochs and for 1. E - 1 epochs take the
difference of the two wall times (start-up, data loading and compiling cancel out);
the ratio of those differences is trainctl's throughput as a fraction of the limit.
Test accuracy comes from the E-epoch runs (`trainctl eval` after the last round).

On a machine shared with other work a whole run's time swings by 10-20 %, and the
difference of two such times more. So the E-epoch runs also give a steady epoch: the
median time between consecutive epoch ends (epochs 2 to E; trainctl's from the
`wall_time` of its metric rows, the pure program's from `--epoch-times`), an epoch
slowed by a neighbour being one sample of E - 1; `steady_ratio` is their ratio.

    python bench/speed_limit.py --model mlp --epochs 40 --rounds 3 --json mlp.json
    python bench/speed_limit.py --model cnn --epochs 3 --rounds 1 --purejax-loop calls
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RECIPES = {"mlp": REPO / "recipes" / "mnist_mlp.yaml", "cnn": BENCH / "mnist_cnn.yaml"}


def _env(source: Path = REPO) -> dict:
    env = dict(os.environ, CI="1", KERAS_BACKEND="jax")
    env["PYTHONPATH"] = str(source) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], source: Path = REPO) -> tuple[float, str]:
    """Wall seconds of `cmd` and its output; its CPU seconds go to `CPU_SECONDS`."""
    start, cpu = time.perf_counter(), _cpu()
    proc = subprocess.run(cmd, env=_env(source), text=True, capture_output=True, cwd=source)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stderr[-3000:]}")
    CPU_SECONDS.append(_cpu() - cpu)
    return time.perf_counter() - start, proc.stdout


CPU_SECONDS: list[float] = []  # of each command, in order


def _load() -> float:
    return os.getloadavg()[0]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(RECIPES), default="mlp")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--overrides", nargs="*", default=[], help="extra overrides for trainctl")
    parser.add_argument("--purejax-loop", choices=("scan", "calls"), default="scan",
                        help="the pure program's epoch: one lax.scan, or one jitted call per batch (bench/purejax.py)")
    parser.add_argument("--baseline", type=Path, help="also time trainctl from this source tree (e.g. main)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="trainctl-speed-"))
    python = sys.executable

    def purejax(epochs):
        seconds, out = _timed([python, str(BENCH / "purejax.py"), "--model", args.model, "--epochs", str(epochs),
                               "--loop", args.purejax_loop, "--epoch-times"])
        return seconds, json.loads(out.splitlines()[-1])

    def trainctl(epochs, tag, source=REPO):
        run = work / f"{tag}-{epochs}"
        seconds, _ = _timed([python, "-m", "trainctl", "run", str(RECIPES[args.model]), f"train.epochs={epochs}",
                             *args.overrides, "-o", str(run)], source)
        manifest = json.loads((run / "manifest.json").read_text())
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        ends = [row["wall_time"] for row in rows if "epoch" in row]
        return seconds, {"run": str(run), "steps_per_execution": manifest.get("steps_per_execution"),
                         "epoch_seconds": [b - a for a, b in zip(ends, ends[1:])]}

    variants = {"purejax": purejax, "trainctl": trainctl}
    if args.baseline:
        variants["baseline"] = lambda epochs, tag: trainctl(epochs, f"base-{tag}", args.baseline.resolve())
    times: dict[str, dict[int, list[float]]] = {v: {args.epochs: [], 1: []} for v in variants}
    cpu: dict[str, dict[int, list[float]]] = {v: {args.epochs: [], 1: []} for v in variants}
    loads, last = [], {}
    steady: dict[str, list[float]] = {v: [] for v in variants}  # per round: median seconds between epoch ends
    jobs = [(v, e) for v in variants for e in (args.epochs, 1)]
    for r in range(args.rounds):
        for v, e in jobs[r % len(jobs):] + jobs[: r % len(jobs)]:
            loads.append(_load())
            seconds, info = variants[v](e) if v == "purejax" else variants[v](e, f"r{r}")
            times[v][e].append(seconds)
            if e == args.epochs and info.get("epoch_seconds"):
                steady[v].append(statistics.median(info["epoch_seconds"]))
            cpu[v][e].append(CPU_SECONDS[-1])
            last[(v, e)] = info
            print(f"round {r + 1} {v:9s} {e:3d} epochs: {seconds:7.2f} s, CPU {CPU_SECONDS[-1]:7.2f} s "
                  f"(load {loads[-1]:.1f})", flush=True)

    trained = last[("trainctl", args.epochs)]
    _, out = _timed([python, "-m", "trainctl", "eval", trained["run"], "--json"])
    test = json.loads(out)
    medians = {v: {e: statistics.median(t) for e, t in times[v].items()} for v in variants}
    difference = {v: medians[v][args.epochs] - medians[v][1] for v in variants}
    def per_round(v, t=times):
        return [(t["purejax"][args.epochs][i] - t["purejax"][1][i])
                / (t[v][args.epochs][i] - t[v][1][i]) for i in range(args.rounds)]

    cpu_medians = {v: {e: statistics.median(t) for e, t in cpu[v].items()} for v in variants}
    cpu_steady = {v: cpu_medians[v][args.epochs] - cpu_medians[v][1] for v in variants}

    result = {
        "model": args.model, "epochs": args.epochs, "rounds": args.rounds, "overrides": args.overrides,
        "purejax_loop": args.purejax_loop,
        "seconds": times, "median_seconds": medians,
        "seconds_per_epoch": {v: difference[v] / (args.epochs - 1) for v in variants},
        "ratio_of_medians": {v: difference["purejax"] / difference[v] for v in variants if v != "purejax"},
        "steady_epoch_seconds": steady,
        "steady_ratio": {v: statistics.median(steady["purejax"]) / statistics.median(steady[v])
                         for v in variants if v != "purejax" and steady[v] and steady["purejax"]},
        "steady_ratio_per_round": {v: [p / t for p, t in zip(steady["purejax"], steady[v])]
                                   for v in variants if v != "purejax"},
        "ratio_per_round": {v: per_round(v) for v in variants if v != "purejax"},
        "cpu_seconds": cpu,
        "cpu_ratio_of_medians": {v: cpu_steady["purejax"] / cpu_steady[v] for v in variants if v != "purejax"},
        "cpu_ratio_per_round": {v: per_round(v, cpu) for v in variants if v != "purejax"},
        "test_accuracy": {"purejax": last[("purejax", args.epochs)]["test_accuracy"],
                          "trainctl": test.get("sparse_categorical_accuracy")},
        "steps_per_execution": trained["steps_per_execution"],
        "load_average": {"min": min(loads), "median": statistics.median(loads), "max": max(loads)},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=1, default=str))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, default=str))
    return result


if __name__ == "__main__":
    main()
