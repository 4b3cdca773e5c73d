"""`source: csv` with `stream: true`: the same arrays as reading the file whole, a chunk at a time."""

from __future__ import annotations

import numpy as np

from trainctl.data.parquet import CsvChunks
from trainctl.data.streamed import StreamedDataset


def test_streamed_csv_rows_equal_the_whole_file_in_the_order_of_the_epoch(tmp_path):
    rng = np.random.default_rng(0)
    table = np.column_stack([rng.random((250, 3)).round(4), rng.integers(0, 5, 250)])
    path = tmp_path / "big.csv"
    np.savetxt(path, table, delimiter=",", header="a,b,c,label", comments="", fmt=["%.4f"] * 3 + ["%d"])
    chunks = CsvChunks(path, {"x": ["a", "b", "c"], "y": "label"}, "float32", ",", chunk_rows=40)
    assert chunks.chunk_rows == [40] * 6 + [10]
    dataset = StreamedDataset(chunks, batch_size=32, shuffle=True, seed=2, to_batch=lambda a: (a["x"], a["y"]))
    seen = []
    for index in range(dataset.num_batches):
        x, y = dataset.batch(3, index)
        seen.append(np.column_stack([x, y]))
    seen = np.concatenate(seen)
    order = np.concatenate([c_rows + sum(chunks.chunk_rows[:c]) for c, c_rows in dataset.row_ids(0, 250, epoch=3)])
    assert sorted(order) == list(range(250))  # every row once
    assert np.array_equal(seen, table[order].astype("float32"))


def test_a_recipe_with_stream_true_reads_the_csv_in_chunks(tmp_path):
    from trainctl.data.sources import SourceContext, load_source
    from trainctl.recipe import load_recipe_text

    (tmp_path / "d.csv").write_text("a,label\n" + "".join(f"{i},{i % 2}\n" for i in range(10)))
    text = ("name: t\ndata:\n  train: {source: csv, path: d.csv, columns: {x: [a], y: label}, stream: true}\n"
            "model:\n  inputs: {x: {shape: [1]}}\n  outputs: {y: {Dense: {units: 1}}}\ncompile: {loss: mse}\n")
    loaded = load_recipe_text(text, str(tmp_path / "r.yaml"), str(tmp_path), [])
    ctx = SourceContext(loaded=loaded, path=("data", "train"), seed=0, shapes={}, resolve=None)
    reader = load_source(loaded.spec.data.train, ctx)
    assert isinstance(reader, CsvChunks) and reader.chunk_rows == [10]
    assert np.array_equal(reader.read(0, np.arange(3, 6))["x"], [[3.0], [4.0], [5.0]])
