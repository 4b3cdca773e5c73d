"""Helpers for distribution tests: simulated CPU devices, local processes on loopback, run comparison.

Simulated devices need XLA_FLAGS before jax is imported, so every run is a `trainctl`
subprocess. Runs share a JAX compilation cache (per test session) to keep the tests fast;
it only skips recompiling identical programs.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import numpy as np

from tests.conftest import RECIPES, cli_env, trainctl_cmd

MLP = RECIPES / "mnist_mlp.yaml"
MLP_DP = RECIPES / "mnist_mlp_data_parallel.yaml"

# 3 epochs of 8 steps of 64, shuffled; validated on 256 images.
SMALL = ["data.train.slice=[0,512]", "data.validation.slice=[-256,null]", "train.epochs=3", "logs.plot=false",
         "logs.tensorboard=false"]

MODEL_PARALLEL_2x2 = (
    "distribution={model_parallel: {mesh: {shape: [2, 2], axis_names: [batch, model]}, layout: "
    "{'dense_.*/kernel': [null, model], 'dense_.*/bias': [model], 'predictions/kernel': [model, null]}}}"
)


def device_env(devices: int, cache: Path, **extra: str) -> dict:
    return cli_env(
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_COMPILATION_CACHE_DIR=str(cache),
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        **extra,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_processes(args: list, n: int, cache: Path, devices_per_process: int = 2, extra_env: dict | None = None,
                  timeout: float = 180, grace: float = 30) -> list[subprocess.CompletedProcess]:
    """Run `trainctl *args` as `n` processes of one run on loopback; kill them all on timeout.

    Once one process fails, the others get `grace` seconds to fail too (a peer left
    alone may wait on a collective) before they are killed.
    """
    port = free_port()
    procs = []
    try:
        for i in range(n):
            env = device_env(devices_per_process, cache, **(extra_env or {}).get(i, {}))
            cmd = [*trainctl_cmd(), *map(str, args), "--coordinator", f"127.0.0.1:{port}",
                   "--num-processes", str(n), "--process-id", str(i)]
            procs.append(subprocess.Popen(cmd, env=env, text=True, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE))
        deadline = time.monotonic() + timeout
        while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
            if any(p.poll() not in (None, 0) for p in procs):
                deadline = min(deadline, time.monotonic() + grace)
            time.sleep(0.1)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    return [subprocess.CompletedProcess(p.args, p.wait(), *p.communicate()) for p in procs]


def weights(run_dir: Path) -> tuple[list, list]:
    import keras

    model = keras.saving.load_model(run_dir / "model.keras")
    return ([np.asarray(v.numpy(), np.float64) for v in model.weights],
            [np.asarray(v.numpy(), np.float64) for v in model.optimizer.variables])


def max_difference(a: Path, b: Path) -> float:
    """Largest absolute difference of weights, optimizer state and per-epoch metrics of two runs."""
    (wa, oa), (wb, ob) = weights(a), weights(b)
    assert [w.shape for w in wa] == [w.shape for w in wb] and len(oa) == len(ob)
    ha, hb = (json.loads((d / "history.json").read_text()) for d in (a, b))
    assert ha.keys() == hb.keys()
    diffs = [np.abs(x - y).max() for x, y in zip(wa + oa, wb + ob)]
    diffs += [abs(x - y) for key in ha for x, y in zip(ha[key], hb[key], strict=True)]
    return float(max(diffs))


def explain(results) -> str:
    return "\n".join(f"--- process {i} exited {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-6000:]}"
                     for i, r in enumerate(results))
