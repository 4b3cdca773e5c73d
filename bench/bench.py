"""trainctl's benchmark: CLI start-up, training speed, compile cache, checkpoint cost, memory.

    $ python bench/bench.py                 # about 3.5 minutes on 2 cores
    $ python bench/bench.py --quick         # about 1 minute: fewer repeats, no memory section
    $ python bench/bench.py --dry-run       # tiny sizes, one repeat: checks the harness, not the speed
    $ python bench/bench.py --only cli,train --json results.json

Everything is measured in one run on one machine. Variants are interleaved
(A B C D, then B C D A, ...) so load from other processes falls on all of them alike,
and each figure is the median of its repeats; ratios are ratios of medians. The
sections:

- `cli`: wall time of `trainctl --help` and `trainctl validate recipes/*.yaml`, each as a
  ratio to `python -c "import keras"` (JAX backend).
- `train`: training steps/s on recipes/mnist_mlp.yaml without validation, from warm
  epochs (the first, which compiles, is left out): trainctl's defaults; the same model
  as hand-written Keras `fit` with its defaults (bench/handwritten.py); trainctl with the
  hand-written settings (`compile.steps_per_execution=1`); a pure JAX loop, one
  `lax.scan` per epoch (bench/jax_reference.py). Also whether trainctl's result equals
  the hand-written one, and the time between epochs that checkpointing takes.
- `first_step`: seconds from `trainctl run` starting to its first training step done,
  with an empty compilation cache, then again with the cache the first run filled.
- `memory`: peak RSS and wall time of the whole recipe, `trainctl run` vs the
  hand-written script, each in a process of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RECIPE = REPO / "recipes" / "mnist_mlp.yaml"
SECTIONS = ("cli", "train", "first_step", "memory")

sys.path[:0] = [str(REPO), str(BENCH)]
os.environ["KERAS_BACKEND"] = "jax"


# ------------------------------------------------------------------------- settings

SIZES = {
    #            cli repeats, train rounds, epochs per run, train samples, first-step pairs, memory repeats
    "full": dict(cli=7, rounds=5, epochs=3, samples=None, first_step=3, memory=2),
    "quick": dict(cli=3, rounds=2, epochs=3, samples=None, first_step=1, memory=0),
    "dry-run": dict(cli=1, rounds=1, epochs=2, samples=1024, first_step=1, memory=1),
}


def _env(**extra: str) -> dict:
    """A subprocess environment with this checkout first on the path and plain output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["CI"] = "1"
    env.update(extra)
    return env


def _median(values) -> float | None:
    return statistics.median(values) if values else None


def _spread(values) -> dict:
    return {"median": _median(values), "min": min(values), "max": max(values), "n": len(values)}


def _timed(cmd: list[str], env: dict, expect: int = 0) -> tuple[float, str]:
    """Wall seconds of `cmd` in a child process, and its stderr."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != expect:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}, expected {expect}:\n{proc.stderr[-3000:]}")
    return seconds, proc.stderr


# ----------------------------------------------------------------------------- cli


def bench_cli(repeats: int) -> dict:
    py = sys.executable
    recipes = sorted(str(p) for p in (REPO / "recipes").glob("*.yaml"))
    commands = {
        "import_keras": [py, "-c", "import keras"],
        "help": [py, "-m", "trainctl", "--help"],
        "validate": [py, "-m", "trainctl", "validate", *recipes],
    }
    times = {name: [] for name in commands}
    names = list(commands)
    for r in range(repeats):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(_timed(commands[name], _env())[0])
    keras_s = _median(times["import_keras"])
    out = {name: _spread(values) for name, values in times.items()}
    out["help_ratio"] = _median(times["help"]) / keras_s
    out["validate_ratio"] = _median(times["validate"]) / keras_s
    return out


# --------------------------------------------------------------------------- train


class _Quiet:
    """Keras's and trainctl's console output go to a non-terminal, as in a CI log."""

    def __enter__(self):
        from trainctl.logs.console import Reporter, set_reporter

        self.sink = open(os.devnull, "w")
        self.previous = set_reporter(Reporter(plain=True, err=self.sink, out=self.sink))
        self.redirect = contextlib.redirect_stdout(self.sink)
        self.redirect.__enter__()
        return self

    def __exit__(self, *exc):
        from trainctl.logs.console import set_reporter

        self.redirect.__exit__(*exc)
        set_reporter(self.previous)
        self.sink.close()


def _clock():
    from bench_clock import EpochClock

    return EpochClock


def run_keras_fit(epochs: int, samples: int | None, work: Path) -> dict:
    from handwritten import build_model, load_mnist

    (x, y), _ = load_mnist(validation=False, samples=samples)
    model = build_model()
    clock = _clock()()
    with _Quiet():
        history = model.fit(x, y, batch_size=64, epochs=epochs, callbacks=[clock])
    return {"wall": clock.wall, "cpu": clock.cpu, "final": {k: v[-1] for k, v in history.history.items()},
            "steps": -(-len(x) // 64)}


def run_trainctl(epochs: int, samples: int | None, work: Path, overrides: tuple[str, ...] = ()) -> dict:
    from trainctl.recipe import load_recipe
    from trainctl.runner import run as runner

    out = Path(tempfile.mkdtemp(dir=work, prefix="run-")) / "run"
    sets = ["data.validation=null", f"train.epochs={epochs}", "logs.plot=false", "imports=[bench_clock]",
            'callbacks=[{class: "bench_clock:EpochClock"}]', *overrides]
    if samples:
        sets.append(f"data.train.slice=[0, {samples}]")
    loaded = load_recipe(RECIPE, sets)
    saves: list[float] = []
    save = runner.Checkpointer.save

    def timed_save(self, loop):  # instrumentation: how long each checkpoint takes
        start = time.perf_counter()
        try:
            return save(self, loop)
        finally:
            saves.append(time.perf_counter() - start)

    runner.Checkpointer.save = timed_save
    try:
        with _Quiet():
            result = runner.start(loaded, out, command=["bench"])
    finally:
        runner.Checkpointer.save = save
    manifest = json.loads((out / "manifest.json").read_text())
    ckpts = sorted((out / "ckpt").glob("[0-9]*"), key=lambda p: int(p.name))
    size = sum(f.stat().st_size for f in ckpts[-1].rglob("*") if f.is_file()) if ckpts else 0
    clock = _clock().last
    return {"wall": clock.wall, "cpu": clock.cpu, "final": {k: v[-1] for k, v in result.history.items()},
            "saves": saves, "checkpoint_bytes": size, "plan": manifest.get("steps_per_execution"),
            "steps": manifest["global_step"] // epochs}


def run_jax(epochs: int, samples: int | None, work: Path) -> dict:
    from handwritten import build_model, load_mnist
    from jax_reference import JaxReference

    (x, y), _ = load_mnist(validation=False, samples=samples)
    ref = JaxReference([w.numpy() for w in build_model().weights], x, y, learning_rate=1e-3)
    wall, cpu, last = [], [], {}
    for _ in range(epochs):
        start, start_cpu = time.perf_counter(), time.process_time()
        last = ref.epoch(batch_size=64)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return {"wall": wall, "cpu": cpu, "final": {"loss": last["loss"], "accuracy": last["accuracy"]},
            "steps": last["steps"]}


TRAIN_VARIANTS = {
    "trainctl_default": lambda e, s, w: run_trainctl(e, s, w),
    "keras_fit_default": run_keras_fit,
    "trainctl_fit_settings": lambda e, s, w: run_trainctl(e, s, w, ("compile.steps_per_execution=1",)),
    "jax_scan": run_jax,
}


def bench_train(rounds: int, epochs: int, samples: int | None, work: Path) -> dict:
    names = list(TRAIN_VARIANTS)
    runs = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            runs[name].append(TRAIN_VARIANTS[name](epochs, samples, work))
    out: dict = {}
    for name, results in runs.items():
        steps = results[0]["steps"]
        wall = [t for res in results for t in res["wall"][1:]]  # the first epoch compiles
        cpu = [t for res in results for t in res["cpu"][1:]]
        out[name] = {"steps_per_epoch": steps, "epoch_wall_s": _spread(wall), "epoch_cpu_s": _spread(cpu),
                     "steps_per_s": steps / _median(wall), "final": results[-1]["final"]}

    def ratio(a: str, b: str) -> dict:
        """Speed of `a` over speed of `b`, from median wall, best wall and median CPU time per epoch."""
        return {key: out[b][f"epoch_{clock}_s"][stat] / out[a][f"epoch_{clock}_s"][stat]
                for key, clock, stat in (("wall", "wall", "median"), ("wall_best", "wall", "min"),
                                         ("cpu", "cpu", "median"))}

    out["default_vs_fit"] = ratio("trainctl_default", "keras_fit_default")
    out["default_vs_jax"] = ratio("trainctl_default", "jax_scan")
    out["fit_vs_jax"] = ratio("keras_fit_default", "jax_scan")
    out["overhead_at_fit_settings"] = {k: 1 / v - 1 for k, v in ratio("trainctl_fit_settings",
                                                                      "keras_fit_default").items()}
    default, fit = runs["trainctl_default"], runs["keras_fit_default"]
    out["trainctl_default"]["plan"] = default[-1]["plan"]
    out["same_result_as_fit"] = all(res["final"] == fit[0]["final"]
                                    for res in default + fit + runs["trainctl_fit_settings"])
    saves = [t for res in default for t in res["saves"]]  # one at each epoch's end
    out["checkpoint"] = {"seconds": _spread(saves) if saves else None,
                         "fraction_of_epoch": (_median(saves) / out["trainctl_default"]["epoch_wall_s"]["median"]
                                               if saves else None),
                         "bytes": default[-1]["checkpoint_bytes"]}
    return out


# ---------------------------------------------------------------------- first step


def partial_batch_compile() -> float:
    """Seconds the first step on a smaller last batch takes beyond a warm step (Keras compiles it anew).

    Run in a fresh process (`_partial_batch`): JAX keeps what it compiled for the process.
    """
    import jax
    import keras

    from handwritten import build_model, load_mnist
    from trainctl.runner.compile_cache import enable_compile_cache

    class BatchClock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            jax.block_until_ready(logs)
            self.times.append(time.perf_counter() - self.start)

    enable_compile_cache()
    (x, y), _ = load_mnist(validation=False, samples=64 * 3 + 16)  # three full batches, then 16 samples
    clock = BatchClock()
    clock.times = []
    build_model().fit(x, y, batch_size=64, epochs=1, shuffle=False, verbose=0, callbacks=[clock])
    return clock.times[-1] - _median(clock.times[1:-1])


def _partial_batch(cache: Path) -> float:
    code = "import bench; print(bench.partial_batch_compile())"
    proc = subprocess.run([sys.executable, "-c", code], env=_env(TRAINCTL_COMPILE_CACHE=str(cache),
                                                                  PYTHONPATH=f"{REPO}{os.pathsep}{BENCH}"),
                          cwd=REPO, text=True, capture_output=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def bench_first_step(pairs: int, work: Path, samples: int | None) -> dict:
    """`trainctl run` until its first step is done (killed there), with a cold then a warm cache."""
    first, second = [], []
    sets = ["logs.plot=false"] + ([f"data.train.slice=[0, {samples}]"] if samples else [])
    for i in range(pairs):
        cache = work / f"first-step-cache-{i}"
        for times, n in ((first, 0), (second, 1)):
            env = _env(TRAINCTL_COMPILE_CACHE=str(cache), TRAINCTL_TEST_KILL_AT_STEP="1")
            cmd = [sys.executable, "-m", "trainctl", "run", str(RECIPE), *sets, "-o", str(work / f"fs-{i}-{n}")]
            times.append(_timed(cmd, env, expect=-signal.SIGKILL)[0])
    return {"first_run": _spread(first), "second_run": _spread(second),
            "ratio": _median(second) / _median(first),
            "partial_batch_compile_s": {"cold": _partial_batch(work / "partial-batch-cache"),
                                        "cached": _partial_batch(work / "partial-batch-cache")},
            "cache_entries": len(list((work / "first-step-cache-0").iterdir()))}


# -------------------------------------------------------------------------- memory


def bench_memory(repeats: int, work: Path, samples: int | None) -> dict:
    """The whole recipe (2 epochs, validation) as `trainctl run` and as the hand-written script."""
    extra = [f"data.train.slice=[0, {samples}]"] if samples else []
    peak = [sys.executable, str(BENCH / "peak_rss.py")]
    commands = {
        "trainctl_run": lambda i: [*peak, "-m", "trainctl", "run", str(RECIPE), *extra, "-o", str(work / f"mem-{i}")],
        "handwritten": lambda i: [*peak, str(BENCH / "handwritten.py"),
                                  *(["--samples", str(samples)] if samples else [])],
    }
    results = {name: {"seconds": [], "peak_rss_mib": []} for name in commands}
    rss_file = work / "peak-rss"
    for i in range(repeats):
        for name, cmd in commands.items():
            seconds, _ = _timed(cmd(i), _env(PEAK_RSS_FILE=str(rss_file)))
            results[name]["seconds"].append(seconds)
            results[name]["peak_rss_mib"].append(int(rss_file.read_text()) / 1024)
    return {name: {k: _spread(v) for k, v in r.items()} for name, r in results.items()}


# ------------------------------------------------------------------------- machine


def machine() -> dict:
    import jax
    import keras
    import numpy

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else \
        platform.processor()
    mem = next((int(line.split()[1]) // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), None) if Path("/proc/meminfo").exists() else None
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory_mib": mem, "platform": platform.platform(),
            "python": platform.python_version(), "keras": keras.__version__, "jax": jax.__version__,
            "numpy": numpy.__version__, "jax_backend": jax.default_backend(),
            "load_average": os.getloadavg()}


# -------------------------------------------------------------------------- report


def _f(value, digits=2, unit="") -> str:
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def table(results: dict) -> str:
    lines = []
    m = results["machine"]
    lines.append(f"machine: {m['cpus']} CPUs, {m['cpu']}, {m['memory_mib']} MiB; python {m['python']}, "
                 f"keras {m['keras']}, jax {m['jax']} ({m['jax_backend']}); load {m['load_average'][0]:.1f} at start, "
                 f"{results['load_average_end'][0]:.1f} at end; mode {results['mode']}")
    if "cli" in results:
        c = results["cli"]
        lines += ["", "CLI start-up (median s)            seconds  x import keras",
                  f"  python -c 'import keras'         {_f(c['import_keras']['median'])}     1.00",
                  f"  trainctl --help                  {_f(c['help']['median'])}     {_f(c['help_ratio'])}",
                  f"  trainctl validate recipes/*.yaml {_f(c['validate']['median'])}     {_f(c['validate_ratio'])}"]
    if "train" in results:
        t = results["train"]
        lines += ["", "Training, MNIST MLP, warm epochs   s/epoch (median, best)  steps/s  CPU s/epoch"]
        for name in TRAIN_VARIANTS:
            v = t[name]
            lines.append(f"  {name:<32} {_f(v['epoch_wall_s']['median'], 3)}  {_f(v['epoch_wall_s']['min'], 3)}"
                         f"           {v['steps_per_s']:7.0f}  {_f(v['epoch_cpu_s']['median'], 3)}")
        lines.append("  speed ratios                       median wall  best wall  median CPU")
        for key in ("default_vs_fit", "default_vs_jax", "fit_vs_jax"):
            r = t[key]
            lines.append(f"    {key:<32} {_f(r['wall'])}         {_f(r['wall_best'])}       {_f(r['cpu'])}")
        o = t["overhead_at_fit_settings"]
        lines.append(f"    {'overhead at fit settings':<32} {o['wall'] * 100:+.1f} %     {o['wall_best'] * 100:+.1f} %"
                     f"    {o['cpu'] * 100:+.1f} %")
        lines.append(f"  same result as hand-written fit: {t['same_result_as_fit']}")
        ck = t["checkpoint"]
        if ck["seconds"]:
            lines.append(f"  checkpoint (one per epoch): {_f(ck['seconds']['median'] * 1000, 0)} ms "
                         f"({_f(ck['fraction_of_epoch'] * 100, 1)} % of an epoch), {ck['bytes'] / 1024:.0f} KiB")
        lines.append(f"  trainctl default plan: {t['trainctl_default'].get('plan')}")
    if "first_step" in results:
        f = results["first_step"]
        lines += ["", "Time to first step (median s)",
                  f"  first run (empty cache)  {_f(f['first_run']['median'])}",
                  f"  second run               {_f(f['second_run']['median'])}   ratio {_f(f['ratio'])}",
                  f"  last, smaller batch: compiling its step costs {_f(f['partial_batch_compile_s']['cold'])} s, "
                  f"{_f(f['partial_batch_compile_s']['cached'])} s from the cache"]
    if "memory" in results:
        lines += ["", "Whole recipe (2 epochs + validation)  seconds  peak RSS MiB"]
        for name, r in results["memory"].items():
            lines.append(f"  {name:<37} {_f(r['seconds']['median'])}    {_f(r['peak_rss_mib']['median'], 0)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="trainctl benchmark", formatter_class=argparse.RawTextHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="fewer repeats (about a minute)")
    mode.add_argument("--dry-run", action="store_true", help="tiny sizes, one repeat (checks the harness)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections: {', '.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    name = "dry-run" if args.dry_run else "quick" if args.quick else "full"
    size = SIZES[name]
    results: dict = {"mode": name, "machine": machine()}
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trainctl-bench-") as tmp:
        work = Path(tmp)
        if "cli" in sections:
            results["cli"] = bench_cli(size["cli"])
        if "train" in sections:
            results["train"] = bench_train(size["rounds"], size["epochs"], size["samples"], work)
        if "first_step" in sections:
            results["first_step"] = bench_first_step(size["first_step"], work, size["samples"])
        if "memory" in sections and size["memory"]:
            results["memory"] = bench_memory(size["memory"], work, size["samples"])
    results["seconds"] = time.monotonic() - started
    results["load_average_end"] = os.getloadavg()
    print(table(results))
    print(json.dumps(results, indent=2, default=str))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


if __name__ == "__main__":
    main()
