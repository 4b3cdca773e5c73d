""".npy files and uncompressed .npz members are memory-mapped: the arrays are not read into memory up front."""

from __future__ import annotations

import numpy as np

from trainctl.data.sources import _npz_member_memmap


def test_stored_npz_members_map_and_compressed_ones_do_not(tmp_path):
    import zipfile

    x = np.arange(60, dtype="float32").reshape(20, 3)
    np.savez(tmp_path / "plain.npz", x=x, y=np.arange(20))
    np.savez_compressed(tmp_path / "packed.npz", x=x)
    with zipfile.ZipFile(tmp_path / "plain.npz") as z:
        mapped = _npz_member_memmap(tmp_path / "plain.npz", z.getinfo("x.npy"))
    assert isinstance(mapped, np.memmap) and np.array_equal(mapped, x) and not mapped.flags.writeable
    with zipfile.ZipFile(tmp_path / "packed.npz") as z:
        assert _npz_member_memmap(tmp_path / "packed.npz", z.getinfo("x.npy")) is None


def test_npy_and_npz_recipes_load_memory_maps(tmp_path):
    from trainctl.data.sources import SourceContext, load_source
    from trainctl.recipe import load_recipe_text

    np.save(tmp_path / "x.npy", np.ones((10, 4), "float32"))
    np.save(tmp_path / "y.npy", np.ones(10, "float32"))
    np.savez(tmp_path / "d.npz", x=np.ones((10, 4), "float32"), y=np.ones(10, "float32"))
    text = ("name: t\ndata:\n  train: {source: npy, arrays: {x: x.npy, y: y.npy}}\n"
            "  validation: {source: npz, path: d.npz}\n"
            "model:\n  inputs: {x: {shape: [4]}}\n  outputs: {y: {Dense: {units: 1}}}\ncompile: {loss: mse}\n")
    loaded = load_recipe_text(text, str(tmp_path / "r.yaml"), str(tmp_path), [])
    for split in ("train", "validation"):
        ctx = SourceContext(loaded=loaded, path=("data", split), seed=0, shapes={}, resolve=None)
        arrays = load_source(getattr(loaded.spec.data, split), ctx)
        assert isinstance(arrays["x"], np.memmap) and arrays["x"].shape == (10, 4)
