"""Several processes: each reads only its rows of every global batch, and the run equals one process's."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import RECIPES, run_cli
from tests.distribution.helpers import device_env, explain, max_difference, run_processes
from trainctl.data.parquet import ParquetReader, parquet_files
from trainctl.data.streamed import StreamedDataset

PARQUET = RECIPES / "mnist_parquet.yaml"
ARGS = ["train.epochs=2", "logs.plot=false", "distribution={data_parallel: {devices: auto}}"]


def test_a_process_reads_only_its_rows_of_each_global_batch():
    reader = ParquetReader(parquet_files(str(RECIPES / "data/mnist_parquet/train.parquet"), RECIPES),
                           {"x": "pixels", "y": "label"}, "float32")
    whole = StreamedDataset(reader, batch_size=64, shuffle=True, seed=5, to_batch=lambda a: (a["x"], a["y"]))
    part = StreamedDataset(reader, batch_size=64, shuffle=True, seed=5, to_batch=lambda a: (a["x"], a["y"]))
    part.local_rows = lambda n: slice(n // 2, n)  # process 1 of 2
    for index in (0, 7, whole.num_batches - 1):  # the last batch is smaller (1,000 rows)
        x, y = whole.batch(1, index)
        px, py = part.batch(1, index)
        assert len(px) == len(x) // 2 and np.array_equal(px, x[len(x) // 2:]) and np.array_equal(py, y[len(y) // 2:])


@pytest.mark.slow
def test_two_processes_on_parquet_equal_one_process(tmp_path):
    cache = tmp_path / "cache"
    single = tmp_path / "single"
    run_cli("run", PARQUET, "-o", single, "train.epochs=2", "logs.plot=false", "train.batch_size=40",
            env=device_env(1, cache), check=True)
    two = tmp_path / "two"
    results = run_processes(["run", PARQUET, "-o", two, *ARGS, "train.batch_size=40"], 2, cache, timeout=600)
    assert [r.returncode for r in results] == [0, 0], explain(results)
    assert max_difference(single, two) <= 1e-6
